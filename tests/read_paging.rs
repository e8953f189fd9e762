//! `io.fs.read_file` byte-range paging, `tail_lines`, the next offsets, and memory: a
//! 50 MiB file is paged by default and never read into memory whole.

mod support;

use airun::ErrorKind;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Mutex;
use support::pipeline::Fixture;

/// The memory test measures the process's peak RSS: the other tests wait for it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
        .to_string()
}

fn i(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("`{key}` is not an integer in {v}"))
}

fn b(v: &Value, key: &str) -> bool {
    v[key]
        .as_bool()
        .unwrap_or_else(|| panic!("`{key}` is not a boolean in {v}"))
}

fn absent(v: &Value, key: &str) -> bool {
    v.get(key).is_none_or(Value::is_null)
}

fn read(f: &Fixture, args: Value) -> Value {
    f.ok("io.fs.read_file", args)
}

/// Follows `next_offset_bytes` from `start` and returns the pages.
fn pages_by_bytes(f: &Fixture, path: &str, limit: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = read(
            f,
            json!({"path": path, "offset_bytes": offset, "limit_bytes": limit}),
        );
        let more = b(&r, "truncated");
        let next = r.get("next_offset_bytes").and_then(Value::as_i64);
        out.push(r);
        if !more {
            assert!(next.is_none(), "a last page has no next offset");
            break;
        }
        let next = next.expect("a truncated page gives next_offset_bytes");
        assert!(next > offset, "paging does not progress at {offset}");
        offset = next;
        assert!(out.len() < 10_000, "too many pages");
    }
    out
}

#[test]
fn byte_pages_end_at_line_boundaries_and_put_together_give_the_file() {
    let _g = serial();
    let f = Fixture::new();
    let text: String = (0..300)
        .map(|n| format!("line {n:03} {}\n", "ab".repeat(n % 17)))
        .collect();
    f.write("t.txt", &text);
    let pages = pages_by_bytes(&f, "t.txt", 100);
    assert!(pages.len() > 30, "{} pages", pages.len());
    let mut all = String::new();
    let mut line_total = 0;
    for p in &pages {
        let c = s(p, "content");
        assert!(c.len() <= 100, "page of {} bytes", c.len());
        assert!(c.ends_with('\n'), "a page ends at a line boundary: {c:?}");
        line_total += c.lines().count() as i64;
        if b(p, "truncated") {
            assert_eq!(
                i(p, "next_offset_line"),
                line_total,
                "next_offset_line matches the lines so far"
            );
            assert_eq!(i(p, "next_offset_bytes") as usize, all.len() + c.len());
        }
        assert_eq!(i(p, "total_lines"), 300);
        assert_eq!(i(p, "size_bytes"), text.len() as i64);
        all.push_str(&c);
    }
    assert_eq!(all, text);
}

#[test]
fn line_paging_also_gives_the_byte_offset_and_both_continue_alike() {
    let _g = serial();
    let f = Fixture::new();
    let text: String = (0..10).map(|n| format!("line {n}\n")).collect();
    f.write("ten.txt", &text);
    let r = read(
        &f,
        json!({"path": "ten.txt", "offset_line": 2, "limit_lines": 3}),
    );
    assert_eq!(s(&r, "content"), "line 2\nline 3\nline 4\n");
    assert_eq!(i(&r, "next_offset_line"), 5);
    assert_eq!(i(&r, "next_offset_bytes"), 35, "5 lines of 7 bytes");
    let by_bytes = read(
        &f,
        json!({"path": "ten.txt", "offset_bytes": 35, "limit_lines": 2}),
    );
    let by_line = read(
        &f,
        json!({"path": "ten.txt", "offset_line": 5, "limit_lines": 2}),
    );
    assert_eq!(s(&by_bytes, "content"), "line 5\nline 6\n");
    assert_eq!(by_bytes, by_line);
}

#[test]
fn a_byte_offset_inside_a_character_moves_to_the_next_character() {
    let _g = serial();
    let f = Fixture::new();
    f.write("u.txt", "héllo ✓ wörld\n");
    // Byte 2 is the second byte of `é`.
    let r = read(&f, json!({"path": "u.txt", "offset_bytes": 2}));
    assert_eq!(s(&r, "content"), "llo ✓ wörld\n");
    // Byte 8 and 9 are inside `✓` (bytes 7..10).
    let r = read(&f, json!({"path": "u.txt", "offset_bytes": 9}));
    assert_eq!(s(&r, "content"), " wörld\n");
    assert!(!b(&r, "truncated"));
}

#[test]
fn a_line_longer_than_the_page_is_cut_at_a_character_boundary_and_continues() {
    let _g = serial();
    let f = Fixture::new();
    let line = "αβγδ".repeat(100); // 800 bytes, 2 bytes per character, no newline
    let text = format!("{line}\nshort\n");
    f.write("long.txt", &text);
    let first = read(&f, json!({"path": "long.txt", "limit_bytes": 101}));
    let c = s(&first, "content");
    assert_eq!(c.len(), 100, "cut before the character that does not fit");
    assert!(b(&first, "truncated"));
    assert_eq!(i(&first, "next_offset_bytes"), 100);
    assert!(
        absent(&first, "next_offset_line"),
        "the page ends inside a line: {first}"
    );
    let pages = pages_by_bytes(&f, "long.txt", 101);
    let all: String = pages.iter().map(|p| s(p, "content")).collect();
    assert_eq!(all, text);
}

#[test]
fn tail_lines_returns_the_end_of_the_file() {
    let _g = serial();
    let f = Fixture::new();
    let text: String = (0..1000).map(|n| format!("entry {n}\n")).collect();
    f.write("log.txt", &text);
    let r = read(&f, json!({"path": "log.txt", "tail_lines": 3}));
    assert_eq!(s(&r, "content"), "entry 997\nentry 998\nentry 999\n");
    assert!(!b(&r, "truncated"));
    assert_eq!(i(&r, "total_lines"), 1000);

    // Without a final newline the last line still counts as one.
    f.write("nonl.txt", "a\nb\nc");
    let r = read(&f, json!({"path": "nonl.txt", "tail_lines": 2}));
    assert_eq!(s(&r, "content"), "b\nc");
    // More lines than the file has: all of it.
    let r = read(&f, json!({"path": "nonl.txt", "tail_lines": 50}));
    assert_eq!(s(&r, "content"), "a\nb\nc");
    // An empty file.
    f.write("empty.txt", "");
    let r = read(&f, json!({"path": "empty.txt", "tail_lines": 5}));
    assert_eq!(s(&r, "content"), "");
    assert!(!b(&r, "truncated"));
}

#[test]
fn a_tail_bigger_than_the_page_is_paged_forward() {
    let _g = serial();
    let f = Fixture::new();
    // 200 000 lines: the backward scan crosses many 64 KiB blocks.
    let mut text = String::new();
    for n in 0..200_000 {
        text.push_str(&format!("{n:06}\n"));
    }
    f.write("big.log", &text);
    let r = read(
        &f,
        json!({"path": "big.log", "tail_lines": 100_000, "limit_bytes": 7000}),
    );
    assert!(
        s(&r, "content").starts_with("100000\n"),
        "the tail starts 100000 lines from the end"
    );
    assert_eq!(s(&r, "content").len(), 7000);
    assert!(b(&r, "truncated"));
    assert_eq!(i(&r, "next_offset_line"), 101_000);
    assert_eq!(i(&r, "next_offset_bytes"), 101_000 * 7);
}

#[test]
fn conflicting_or_bad_paging_inputs_are_refused() {
    let _g = serial();
    let f = Fixture::new();
    f.write("a.txt", "x\n");
    for (args, field) in [
        (
            json!({"path": "a.txt", "offset_line": 1, "offset_bytes": 1}),
            "offset_bytes",
        ),
        (
            json!({"path": "a.txt", "tail_lines": 1, "offset_line": 1}),
            "offset_line",
        ),
        (
            json!({"path": "a.txt", "tail_lines": 1, "offset_bytes": 0}),
            "offset_bytes",
        ),
        (
            json!({"path": "a.txt", "tail_lines": 1, "limit_lines": 1}),
            "limit_lines",
        ),
        (json!({"path": "a.txt", "limit_bytes": 0}), "limit_bytes"),
        (
            json!({"path": "a.txt", "limit_bytes": 67_108_865}),
            "limit_bytes",
        ),
        (json!({"path": "a.txt", "offset_bytes": -1}), "offset_bytes"),
        (json!({"path": "a.txt", "tail_lines": 0}), "tail_lines"),
    ] {
        let shown = args.to_string();
        let e = f.err_kind("io.fs.read_file", args, ErrorKind::InvalidInput);
        assert_eq!(e.field.as_deref(), Some(field), "{shown}: {e:?}");
    }
    // A page smaller than one character cannot progress.
    f.write("wide.txt", "✓✓✓\n");
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "wide.txt", "limit_bytes": 2}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("limit_bytes"));
}

#[test]
fn an_offset_past_the_end_returns_nothing_more() {
    let _g = serial();
    let f = Fixture::new();
    f.write("a.txt", "one\ntwo\n");
    let r = read(&f, json!({"path": "a.txt", "offset_bytes": 8}));
    assert_eq!(s(&r, "content"), "");
    assert!(!b(&r, "truncated"));
    let r = read(&f, json!({"path": "a.txt", "offset_bytes": 1000}));
    assert_eq!(s(&r, "content"), "");
    assert!(!b(&r, "truncated"));
    assert_eq!(i(&r, "total_lines"), 2);
}

#[test]
fn binary_content_is_refused_in_byte_pages_too() {
    let _g = serial();
    let f = Fixture::new();
    let mut data = "text\n".repeat(5000).into_bytes(); // 25 000 bytes, past the sniffed head
    data.extend_from_slice(b"bin\x00ary\n");
    f.write("late.bin", &data);
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "late.bin", "offset_bytes": 24_000}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("binary"), "{e:?}");
    // A page before the NUL is text.
    let r = read(&f, json!({"path": "late.bin", "limit_bytes": 100}));
    assert!(b(&r, "truncated"));
}

/// Peak resident memory of this process, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS");
}

#[test]
fn a_50_mib_file_is_paged_by_default_with_little_memory() {
    let _g = serial();
    let f = Fixture::new();
    let line = format!("{}\n", "0123456789abcdef".repeat(6)); // 97 bytes
    {
        let file = std::fs::File::create(f.path("big.txt")).expect("create");
        let mut w = std::io::BufWriter::new(file);
        for _ in 0..(50 * 1024 * 1024 / line.len()) {
            w.write_all(line.as_bytes()).expect("write");
        }
        w.write_all(b"THE END\n").expect("write");
    }
    let size = std::fs::metadata(f.path("big.txt")).expect("meta").len();
    assert!(size > 50 * 1000 * 1000);

    reset_peak_rss();
    let before = peak_rss_kib();
    let r = read(&f, json!({"path": "big.txt"}));
    let grew = peak_rss_kib().saturating_sub(before);
    let c = s(&r, "content");
    assert!(b(&r, "truncated"), "a 50 MiB file is paged by default");
    assert!(
        c.len() <= 256 * 1024 && c.len() > 255 * 1024,
        "{} bytes",
        c.len()
    );
    assert_eq!(i(&r, "next_offset_bytes") as usize, c.len());
    assert_eq!(i(&r, "size_bytes") as u64, size);
    assert!(
        grew < 16 * 1024,
        "the peak RSS grew by {grew} KiB for a 256 KiB page"
    );

    // The last page, found by tail_lines.
    let r = read(&f, json!({"path": "big.txt", "tail_lines": 1}));
    assert_eq!(s(&r, "content"), "THE END\n");

    // An 8 MiB page costs about two copies of the page, not the file.
    reset_peak_rss();
    let before = peak_rss_kib();
    let r = read(
        &f,
        json!({"path": "big.txt", "offset_bytes": 1_000_000, "limit_bytes": 8 * 1024 * 1024}),
    );
    let grew = peak_rss_kib().saturating_sub(before);
    assert!(s(&r, "content").len() > 8 * 1024 * 1024 - 200);
    assert!(
        grew < 3 * 8 * 1024 + 8 * 1024,
        "the peak RSS grew by {grew} KiB for an 8 MiB page"
    );
}

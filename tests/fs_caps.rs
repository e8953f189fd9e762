//! Results and error paths of the eight `io.fs.*` capabilities, driven through the pipeline.

mod support;

use airun::ErrorKind;
use serde_json::{Value, json};
use support::pipeline::Fixture;
use support::within;

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

fn no_temp_files(f: &Fixture, rel: &str) {
    let names = f.names(rel);
    assert!(
        !names
            .iter()
            .any(|n| n.contains("airun-tmp") || n.contains(".tmp")),
        "temporary files left behind in `{rel}`: {names:?}"
    );
}

// ---------------------------------------------------------------------------------------
// io.fs.read_file

#[test]
fn read_file_returns_content_size_and_line_count() {
    let f = Fixture::new();
    f.write("notes.txt", "alpha\nbeta\ngamma\n");
    let r = f.ok("io.fs.read_file", json!({"path": "notes.txt"}));
    assert_eq!(s(&r, "content"), "alpha\nbeta\ngamma\n");
    assert_eq!(i(&r, "size_bytes"), 17);
    assert_eq!(i(&r, "total_lines"), 3);
    assert!(!b(&r, "truncated"));
    assert!(absent(&r, "next_offset_line"), "{r}");
}

#[test]
fn read_file_counts_a_last_line_without_newline_and_handles_empty_files() {
    let f = Fixture::new();
    f.write("a.txt", "one\ntwo");
    f.write("empty.txt", "");
    let r = f.ok("io.fs.read_file", json!({"path": "a.txt"}));
    assert_eq!(s(&r, "content"), "one\ntwo");
    assert_eq!(i(&r, "total_lines"), 2);
    assert_eq!(i(&r, "size_bytes"), 7);
    let r = f.ok("io.fs.read_file", json!({"path": "empty.txt"}));
    assert_eq!(s(&r, "content"), "");
    assert_eq!(i(&r, "total_lines"), 0);
    assert_eq!(i(&r, "size_bytes"), 0);
    assert!(!b(&r, "truncated"));
}

#[test]
fn read_file_reads_utf8_and_through_a_symlink_inside() {
    let f = Fixture::new();
    f.write("dir/ünï.txt", "héllo wörld ✓\n");
    f.symlink("dir/ünï.txt", "link.txt");
    let r = f.ok("io.fs.read_file", json!({"path": "link.txt"}));
    assert_eq!(s(&r, "content"), "héllo wörld ✓\n");
    assert_eq!(i(&r, "size_bytes"), "héllo wörld ✓\n".len() as i64);
}

#[test]
fn read_file_pages_with_offset_and_limit() {
    let f = Fixture::new();
    let text: String = (0..10).map(|n| format!("line {n}\n")).collect();
    f.write("ten.txt", &text);

    let r = f.ok(
        "io.fs.read_file",
        json!({"path": "ten.txt", "offset_line": 2, "limit_lines": 3}),
    );
    assert_eq!(s(&r, "content"), "line 2\nline 3\nline 4\n");
    assert!(b(&r, "truncated"));
    assert_eq!(i(&r, "next_offset_line"), 5);
    assert_eq!(i(&r, "total_lines"), 10);
    assert_eq!(i(&r, "size_bytes"), text.len() as i64);

    // Only a limit: the first lines.
    let r = f.ok(
        "io.fs.read_file",
        json!({"path": "ten.txt", "limit_lines": 1}),
    );
    assert_eq!(s(&r, "content"), "line 0\n");
    assert_eq!(i(&r, "next_offset_line"), 1);

    // The last page is not truncated.
    let r = f.ok(
        "io.fs.read_file",
        json!({"path": "ten.txt", "offset_line": 8, "limit_lines": 3}),
    );
    assert_eq!(s(&r, "content"), "line 8\nline 9\n");
    assert!(!b(&r, "truncated"));
    assert!(absent(&r, "next_offset_line"), "{r}");

    // A limit that ends exactly at the end is not truncated either.
    let r = f.ok(
        "io.fs.read_file",
        json!({"path": "ten.txt", "offset_line": 7, "limit_lines": 3}),
    );
    assert_eq!(s(&r, "content"), "line 7\nline 8\nline 9\n");
    assert!(!b(&r, "truncated"));

    // Past the end: nothing, and nothing more to read.
    let r = f.ok(
        "io.fs.read_file",
        json!({"path": "ten.txt", "offset_line": 50}),
    );
    assert_eq!(s(&r, "content"), "");
    assert!(!b(&r, "truncated"));
    assert_eq!(i(&r, "total_lines"), 10);

    // Following next_offset_line page by page reads everything exactly once.
    let mut offset = 0;
    let mut all = String::new();
    let mut calls = 0;
    loop {
        let r = f.ok(
            "io.fs.read_file",
            json!({"path": "ten.txt", "offset_line": offset, "limit_lines": 4}),
        );
        all.push_str(&s(&r, "content"));
        calls += 1;
        if !b(&r, "truncated") {
            break;
        }
        offset = i(&r, "next_offset_line");
    }
    assert_eq!(all, text);
    assert_eq!(calls, 3);
}

#[test]
fn read_file_rejects_bad_paging_values() {
    let f = Fixture::new();
    f.write("a.txt", "x\n");
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "a.txt", "limit_lines": 0}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("limit_lines"));
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "a.txt", "offset_line": -1}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("offset_line"));
}

#[test]
fn read_file_caps_a_big_file_at_256_kib_and_continues_to_the_end() {
    const CAP: usize = 256 * 1024;
    let f = Fixture::new();
    // 5000 lines of 100 bytes: about 488 KiB, two pages.
    let text: String = (0..5000)
        .map(|n| format!("{n:05} {}\n", "x".repeat(93)))
        .collect();
    assert_eq!(text.len(), 500_000);
    f.write("big.txt", &text);

    let first = f.ok("io.fs.read_file", json!({"path": "big.txt"}));
    let content = s(&first, "content");
    assert!(b(&first, "truncated"), "a 488 KiB file must be truncated");
    assert!(
        content.len() <= CAP,
        "returned {} bytes, more than 256 KiB",
        content.len()
    );
    assert!(
        content.len() > CAP - 100,
        "returned only {} bytes",
        content.len()
    );
    assert!(content.ends_with('\n'), "a page ends at a line boundary");
    let next = i(&first, "next_offset_line");
    assert_eq!(next as usize, content.lines().count());
    assert_eq!(i(&first, "total_lines"), 5000);
    assert_eq!(i(&first, "size_bytes"), 500_000);

    let mut all = content;
    let mut offset = next;
    let mut pages = 1;
    loop {
        let r = f.ok(
            "io.fs.read_file",
            json!({"path": "big.txt", "offset_line": offset}),
        );
        let c = s(&r, "content");
        assert!(c.len() <= CAP);
        assert!(
            c.starts_with(&format!("{offset:05} ")),
            "page starts at line {offset}"
        );
        all.push_str(&c);
        pages += 1;
        if !b(&r, "truncated") {
            assert!(absent(&r, "next_offset_line"));
            break;
        }
        offset = i(&r, "next_offset_line");
        assert!(pages < 10, "paging does not progress");
    }
    assert_eq!(pages, 2);
    assert_eq!(all, text, "the pages put together are the whole file");
}

#[test]
fn read_file_refuses_binary_files() {
    let f = Fixture::new();
    f.write("image.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01");
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "image.bin"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("binary"), "{e:?}");
    assert!(e.hint.is_some(), "{e:?}");

    // A NUL later in the file is caught too.
    let mut text = "fine\n".repeat(100).into_bytes();
    text.extend_from_slice(b"bad\x00line\n");
    f.write("late.bin", &text);
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "late.bin"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("binary"), "{e:?}");
}

#[test]
fn read_file_refuses_invalid_utf8() {
    let f = Fixture::new();
    f.write("latin1.txt", b"caf\xe9 cr\xe8me\n");
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "latin1.txt"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("UTF-8"), "{e:?}");
}

#[test]
fn read_file_on_a_folder_is_an_error() {
    let f = Fixture::new();
    f.mkdir("docs");
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "docs"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("folder"), "{e:?}");
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "."}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("folder"), "{e:?}");
}

#[test]
fn read_file_on_a_missing_file_is_not_found() {
    let f = Fixture::new();
    let e = f.err_kind(
        "io.fs.read_file",
        json!({"path": "nope.txt"}),
        ErrorKind::NotFound,
    );
    assert!(e.message.contains("nope.txt"), "{e:?}");
    f.err_kind(
        "io.fs.read_file",
        json!({"path": "no/such/dir.txt"}),
        ErrorKind::NotFound,
    );
}

#[test]
fn read_file_on_a_fifo_fails_instead_of_hanging() {
    let r = within(20, "read_file on a FIFO", || {
        let f = Fixture::new();
        let st = std::process::Command::new("mkfifo")
            .arg(f.path("pipe"))
            .status()
            .expect("mkfifo runs");
        assert!(st.success());
        f.call("io.fs.read_file", json!({"path": "pipe"}))
            .map_err(|e| e.kind)
    });
    assert_eq!(r, Err(ErrorKind::Execution));
}

// ---------------------------------------------------------------------------------------
// io.fs.write_file

#[test]
fn write_file_creates_a_file() {
    let f = Fixture::new();
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "new.txt", "content": "héllo\n"}),
    );
    assert_eq!(s(&r, "path"), "new.txt");
    assert_eq!(i(&r, "bytes_written"), "héllo\n".len() as i64);
    assert!(b(&r, "created"));
    assert_eq!(f.read("new.txt"), "héllo\n");
    no_temp_files(&f, ".");
}

#[test]
fn write_file_overwrites_and_keeps_the_file_mode() {
    let f = Fixture::new();
    f.write("secret.env", "OLD=1\n");
    f.set_mode("secret.env", 0o600);
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "secret.env", "content": "NEW=2\n"}),
    );
    assert!(!b(&r, "created"));
    assert_eq!(f.read("secret.env"), "NEW=2\n");
    assert_eq!(
        f.mode("secret.env"),
        0o600,
        "overwrite must keep the permissions"
    );

    f.write("run.sh", "#!/bin/sh\n");
    f.set_mode("run.sh", 0o755);
    f.ok(
        "io.fs.write_file",
        json!({"path": "run.sh", "content": "#!/bin/sh\necho hi\n"}),
    );
    assert_eq!(f.mode("run.sh"), 0o755);
    // A shorter content replaces the whole file.
    f.ok(
        "io.fs.write_file",
        json!({"path": "run.sh", "content": "x"}),
    );
    assert_eq!(f.read("run.sh"), "x");
    no_temp_files(&f, ".");
}

#[test]
fn write_file_create_new_refuses_an_existing_file() {
    let f = Fixture::new();
    f.write("keep.txt", "original");
    let e = f.err_kind(
        "io.fs.write_file",
        json!({"path": "keep.txt", "content": "replacement", "mode": "create_new"}),
        ErrorKind::AlreadyExists,
    );
    assert!(e.message.contains("keep.txt"), "{e:?}");
    assert_eq!(f.read("keep.txt"), "original");

    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "fresh.txt", "content": "new", "mode": "create_new"}),
    );
    assert!(b(&r, "created"));
    assert_eq!(f.read("fresh.txt"), "new");
    assert_eq!(f.names("."), ["fresh.txt", "keep.txt"]);
}

#[test]
fn write_file_appends() {
    let f = Fixture::new();
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "log.txt", "content": "one\n", "mode": "append"}),
    );
    assert!(b(&r, "created"), "appending to a missing file creates it");
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "log.txt", "content": "two\n", "mode": "append"}),
    );
    assert!(!b(&r, "created"));
    assert_eq!(i(&r, "bytes_written"), 4);
    assert_eq!(f.read("log.txt"), "one\ntwo\n");
    assert_eq!(f.names("."), ["log.txt"]);
}

#[test]
fn write_file_without_create_dirs_needs_the_folder() {
    let f = Fixture::new();
    let e = f.err_kind(
        "io.fs.write_file",
        json!({"path": "a/b/c.txt", "content": "x"}),
        ErrorKind::NotFound,
    );
    let hint = e.hint.clone().unwrap_or_default();
    assert!(
        hint.contains("create_dirs"),
        "the hint should name create_dirs: {e:?}"
    );
    assert!(!f.present("a"), "no folder may be created");
    assert!(f.names(".").is_empty());
}

#[test]
fn write_file_with_create_dirs_creates_the_folders() {
    let f = Fixture::new();
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "a/b/c.txt", "content": "deep", "create_dirs": true}),
    );
    assert_eq!(s(&r, "path"), "a/b/c.txt");
    assert!(b(&r, "created"));
    assert_eq!(f.read("a/b/c.txt"), "deep");
    assert!(f.path("a/b").is_dir());
    no_temp_files(&f, "a/b");
}

#[test]
fn write_file_onto_a_folder_fails_and_keeps_it() {
    let f = Fixture::new();
    f.write("dir/inside.txt", "keep");
    let e = f.err_kind(
        "io.fs.write_file",
        json!({"path": "dir", "content": "x"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("folder"), "{e:?}");
    assert_eq!(f.read("dir/inside.txt"), "keep");
    f.err_kind(
        "io.fs.write_file",
        json!({"path": ".", "content": "x"}),
        ErrorKind::Execution,
    );
    assert_eq!(f.names("."), ["dir"]);
}

#[test]
fn write_file_through_a_symlink_inside_changes_the_target() {
    let f = Fixture::new();
    f.write("real/target.txt", "old");
    f.symlink("real/target.txt", "alias.txt");
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "alias.txt", "content": "new"}),
    );
    assert_eq!(
        s(&r, "path"),
        "real/target.txt",
        "the result names the resolved file"
    );
    assert!(!b(&r, "created"));
    assert_eq!(f.read("real/target.txt"), "new");
    assert!(
        f.path("alias.txt")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn write_file_leaves_no_temporary_files_after_success_or_failure() {
    let f = Fixture::new();
    f.mkdir("d/sub");
    f.write("d/existing.txt", "e");
    f.ok(
        "io.fs.write_file",
        json!({"path": "d/a.txt", "content": "1"}),
    );
    f.ok(
        "io.fs.write_file",
        json!({"path": "d/a.txt", "content": "2"}),
    );
    f.ok(
        "io.fs.write_file",
        json!({"path": "d/b.txt", "content": "3", "mode": "create_new"}),
    );
    f.ok(
        "io.fs.write_file",
        json!({"path": "d/c.txt", "content": "4", "mode": "append"}),
    );
    // Failures at different stages.
    f.err(
        "io.fs.write_file",
        json!({"path": "d/existing.txt", "content": "x", "mode": "create_new"}),
    );
    f.err("io.fs.write_file", json!({"path": "d/sub", "content": "x"}));
    f.err(
        "io.fs.write_file",
        json!({"path": "d/missing/x.txt", "content": "x"}),
    );
    std::fs::hard_link(f.path("d/existing.txt"), f.path("d/hard.txt")).unwrap();
    f.err(
        "io.fs.write_file",
        json!({"path": "d/hard.txt", "content": "x"}),
    );
    assert_eq!(
        f.names("d"),
        ["a.txt", "b.txt", "c.txt", "existing.txt", "hard.txt", "sub"]
    );
    assert!(f.names("d/sub").is_empty());
    assert_eq!(f.read("d/a.txt"), "2");
    assert_eq!(f.read("d/existing.txt"), "e");
}

#[test]
fn write_file_is_invalid_without_content() {
    let f = Fixture::new();
    let e = f.err_kind(
        "io.fs.write_file",
        json!({"path": "a.txt"}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("content"));
    let e = f.err_kind(
        "io.fs.write_file",
        json!({"path": "a.txt", "content": "x", "mode": "truncate"}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("mode"));
    assert!(!f.present("a.txt"));
}

#[test]
fn write_file_to_a_fifo_fails_instead_of_hanging() {
    let r = within(20, "write_file on a FIFO", || {
        let f = Fixture::new();
        let st = std::process::Command::new("mkfifo")
            .arg(f.path("pipe"))
            .status()
            .expect("mkfifo runs");
        assert!(st.success());
        let mut kinds = Vec::new();
        for mode in ["append", "overwrite", "create_new"] {
            let r = f.call(
                "io.fs.write_file",
                json!({"path": "pipe", "content": "x", "mode": mode}),
            );
            kinds.push(r.map(|_| ()).map_err(|e| e.kind));
        }
        (kinds, f.names("."))
    });
    assert_eq!(
        r.0,
        [
            Err(ErrorKind::Execution),
            Err(ErrorKind::Execution),
            Err(ErrorKind::Execution)
        ]
    );
    assert_eq!(r.1, ["pipe"]);
}

// ---------------------------------------------------------------------------------------
// io.fs.list_dir

fn paths(r: &Value) -> Vec<String> {
    r["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries in {r}"))
        .iter()
        .map(|e| s(e, "path"))
        .collect()
}

fn entry<'a>(r: &'a Value, path: &str) -> &'a Value {
    r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("no entry `{path}` in {r}"))
}

#[test]
fn list_dir_is_sorted_and_leaves_out_hidden_entries() {
    let f = Fixture::new();
    f.write("b.txt", "bb");
    f.write("a.txt", "a");
    f.write(".hidden", "h");
    f.write("c/inner.txt", "i");
    f.write("C.md", "upper");
    let r = f.ok("io.fs.list_dir", json!({}));
    assert_eq!(paths(&r), ["C.md", "a.txt", "b.txt", "c"]);
    assert!(!b(&r, "truncated"));
    assert_eq!(s(entry(&r, "a.txt"), "kind"), "file");
    assert_eq!(i(entry(&r, "b.txt"), "size"), 2);
    assert_eq!(s(entry(&r, "c"), "kind"), "dir");

    let r = f.ok(
        "io.fs.list_dir",
        json!({"path": ".", "include_hidden": true}),
    );
    assert_eq!(paths(&r), [".hidden", "C.md", "a.txt", "b.txt", "c"]);
}

#[test]
fn list_dir_of_a_subfolder_gives_workspace_relative_paths() {
    let f = Fixture::new();
    f.write("src/main.rs", "fn main() {}");
    f.write("src/lib.rs", "");
    let r = f.ok("io.fs.list_dir", json!({"path": "src"}));
    assert_eq!(paths(&r), ["src/lib.rs", "src/main.rs"]);
    let r = f.ok("io.fs.list_dir", json!({"path": "./src/"}));
    assert_eq!(paths(&r), ["src/lib.rs", "src/main.rs"]);
}

#[test]
fn list_dir_recursive_walks_sub_folders_but_not_hidden_ones() {
    let f = Fixture::new();
    f.write("a.txt", "");
    f.write("c/d.txt", "");
    f.write("c/e/f.txt", "");
    f.write(".h/x.txt", "");
    f.write("c/.g/y.txt", "");
    let r = f.ok("io.fs.list_dir", json!({"recursive": true}));
    assert_eq!(paths(&r), ["a.txt", "c", "c/d.txt", "c/e", "c/e/f.txt"]);
    let r = f.ok(
        "io.fs.list_dir",
        json!({"recursive": true, "include_hidden": true}),
    );
    assert_eq!(
        paths(&r),
        [
            ".h",
            ".h/x.txt",
            "a.txt",
            "c",
            "c/.g",
            "c/.g/y.txt",
            "c/d.txt",
            "c/e",
            "c/e/f.txt"
        ]
    );
    // Without recursive only the top level.
    let r = f.ok("io.fs.list_dir", json!({"recursive": false}));
    assert_eq!(paths(&r), ["a.txt", "c"]);
}

#[test]
fn list_dir_truncates_at_max_entries() {
    let f = Fixture::new();
    for n in 0..5 {
        f.write(&format!("f{n}.txt"), "");
    }
    let r = f.ok("io.fs.list_dir", json!({"max_entries": 3}));
    assert_eq!(paths(&r).len(), 3);
    assert!(b(&r, "truncated"));
    let r = f.ok("io.fs.list_dir", json!({"max_entries": 5}));
    assert_eq!(paths(&r).len(), 5);
    assert!(
        !b(&r, "truncated"),
        "exactly max_entries entries is not truncated"
    );

    f.write("sub/a.txt", "");
    f.write("sub/b.txt", "");
    let r = f.ok(
        "io.fs.list_dir",
        json!({"max_entries": 6, "recursive": true}),
    );
    assert_eq!(paths(&r).len(), 6);
    assert!(b(&r, "truncated"));

    let e = f.err_kind(
        "io.fs.list_dir",
        json!({"max_entries": 0}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("max_entries"));
}

#[test]
fn list_dir_shows_symlinks_as_symlinks_and_does_not_follow_them() {
    let f = Fixture::new();
    f.write("real/inner.txt", "x");
    f.symlink("real", "link");
    f.symlink("real/inner.txt", "file_link");
    let r = f.ok("io.fs.list_dir", json!({"recursive": true}));
    assert_eq!(paths(&r), ["file_link", "link", "real", "real/inner.txt"]);
    assert_eq!(s(entry(&r, "link"), "kind"), "symlink");
    assert_eq!(s(entry(&r, "file_link"), "kind"), "symlink");
    assert_eq!(s(entry(&r, "real"), "kind"), "dir");
    // Listing the link itself lists its target folder (a symlink inside is followed).
    let r = f.ok("io.fs.list_dir", json!({"path": "link"}));
    assert_eq!(paths(&r), ["real/inner.txt"]);
}

#[test]
fn list_dir_gives_rfc3339_modification_times() {
    let f = Fixture::new();
    f.write("a.txt", "");
    f.mkdir("d");
    let r = f.ok("io.fs.list_dir", json!({}));
    let now = jiff::Timestamp::now();
    for e in r["entries"].as_array().unwrap() {
        let m = s(e, "modified");
        let t: jiff::Timestamp = m
            .parse()
            .unwrap_or_else(|err| panic!("`{m}` is not RFC 3339: {err}"));
        let age = now.duration_since(t).as_secs().abs();
        assert!(
            age < 600,
            "`{m}` is not the time the file was written ({now})"
        );
        assert!(m.ends_with('Z'), "`{m}` should be UTC");
    }
}

#[test]
fn list_dir_errors() {
    let f = Fixture::new();
    f.write("a.txt", "");
    let e = f.err_kind(
        "io.fs.list_dir",
        json!({"path": "a.txt"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("not a folder"), "{e:?}");
    f.err_kind(
        "io.fs.list_dir",
        json!({"path": "missing"}),
        ErrorKind::NotFound,
    );
}

// ---------------------------------------------------------------------------------------
// io.fs.make_dir

#[test]
fn make_dir_creates_a_folder() {
    let f = Fixture::new();
    let r = f.ok("io.fs.make_dir", json!({"path": "new"}));
    assert_eq!(s(&r, "path"), "new");
    assert!(b(&r, "created"));
    assert!(f.path("new").is_dir());
}

#[test]
fn make_dir_with_parents_creates_the_chain() {
    let f = Fixture::new();
    let r = f.ok("io.fs.make_dir", json!({"path": "a/b/c", "parents": true}));
    assert!(b(&r, "created"));
    assert!(f.path("a/b/c").is_dir());
    // Again: nothing new, fine with exist_ok (the default).
    let r = f.ok("io.fs.make_dir", json!({"path": "a/b/c", "parents": true}));
    assert!(!b(&r, "created"));
    // One more level under an existing chain.
    let r = f.ok(
        "io.fs.make_dir",
        json!({"path": "a/b/c/d", "parents": true}),
    );
    assert!(b(&r, "created"));
}

#[test]
fn make_dir_without_parents_needs_the_parent() {
    let f = Fixture::new();
    let e = f.err_kind(
        "io.fs.make_dir",
        json!({"path": "x/y"}),
        ErrorKind::NotFound,
    );
    assert!(e.hint.unwrap_or_default().contains("parents"));
    assert!(!f.present("x"));
}

#[test]
fn make_dir_on_an_existing_folder_depends_on_exist_ok() {
    let f = Fixture::new();
    f.write("d/keep.txt", "k");
    let r = f.ok("io.fs.make_dir", json!({"path": "d"}));
    assert!(!b(&r, "created"));
    let e = f.err_kind(
        "io.fs.make_dir",
        json!({"path": "d", "exist_ok": false}),
        ErrorKind::AlreadyExists,
    );
    assert_eq!(e.field.as_deref(), Some("path"));
    let e = f.err_kind(
        "io.fs.make_dir",
        json!({"path": "d", "exist_ok": false, "parents": true}),
        ErrorKind::AlreadyExists,
    );
    assert_eq!(e.field.as_deref(), Some("path"));
    assert_eq!(f.read("d/keep.txt"), "k");
}

#[test]
fn make_dir_where_a_file_is_fails() {
    let f = Fixture::new();
    f.write("file", "content");
    f.err_kind(
        "io.fs.make_dir",
        json!({"path": "file"}),
        ErrorKind::AlreadyExists,
    );
    f.err(
        "io.fs.make_dir",
        json!({"path": "file/sub", "parents": true}),
    );
    assert_eq!(f.read("file"), "content");
}

// ---------------------------------------------------------------------------------------
// io.fs.delete

#[test]
fn delete_removes_a_file() {
    let f = Fixture::new();
    f.write("a.txt", "");
    f.write("b.txt", "");
    let r = f.ok("io.fs.delete", json!({"path": "a.txt"}));
    assert_eq!(s(&r, "path"), "a.txt");
    assert_eq!(s(&r, "kind"), "file");
    assert!(b(&r, "deleted"));
    assert_eq!(f.names("."), ["b.txt"]);
}

#[test]
fn delete_removes_an_empty_folder() {
    let f = Fixture::new();
    f.mkdir("empty");
    let r = f.ok("io.fs.delete", json!({"path": "empty"}));
    assert_eq!(s(&r, "kind"), "dir");
    assert!(!f.present("empty"));
}

#[test]
fn delete_needs_recursive_for_a_folder_with_content() {
    let f = Fixture::new();
    f.write("full/a.txt", "a");
    let e = f.err_kind(
        "io.fs.delete",
        json!({"path": "full"}),
        ErrorKind::Execution,
    );
    assert!(e.hint.unwrap_or_default().contains("recursive"));
    assert_eq!(f.read("full/a.txt"), "a");
}

#[test]
fn delete_recursive_removes_a_tree() {
    let f = Fixture::new();
    f.write("tree/a.txt", "a");
    f.write("tree/sub/b.txt", "b");
    f.write("tree/sub/deeper/.c", "c");
    f.mkdir("tree/empty");
    f.write("other.txt", "keep");
    let r = f.ok("io.fs.delete", json!({"path": "tree", "recursive": true}));
    assert_eq!(s(&r, "kind"), "dir");
    assert_eq!(f.names("."), ["other.txt"]);
}

#[test]
fn delete_of_a_symlink_removes_the_link_not_the_target() {
    let f = Fixture::new();
    f.write("target.txt", "still here");
    f.write("dir/inner.txt", "inner");
    f.symlink("target.txt", "file_link");
    f.symlink("dir", "dir_link");
    let r = f.ok("io.fs.delete", json!({"path": "file_link"}));
    assert_eq!(s(&r, "kind"), "symlink");
    let r = f.ok(
        "io.fs.delete",
        json!({"path": "dir_link", "recursive": true}),
    );
    assert_eq!(s(&r, "kind"), "symlink");
    assert_eq!(f.names("."), ["dir", "target.txt"]);
    assert_eq!(f.read("target.txt"), "still here");
    assert_eq!(f.read("dir/inner.txt"), "inner");
}

#[test]
fn delete_recursive_does_not_follow_symlinks_inside_the_tree() {
    let f = Fixture::new();
    f.write("keep/precious.txt", "p");
    f.symlink("../keep", "tree/to_keep");
    f.symlink("../keep/precious.txt", "tree/to_file");
    f.ok("io.fs.delete", json!({"path": "tree", "recursive": true}));
    assert!(!f.present("tree"));
    assert_eq!(f.read("keep/precious.txt"), "p");
}

#[test]
fn delete_of_a_missing_path_is_not_found() {
    let f = Fixture::new();
    f.err_kind(
        "io.fs.delete",
        json!({"path": "ghost"}),
        ErrorKind::NotFound,
    );
    f.err_kind(
        "io.fs.delete",
        json!({"path": "ghost/inner", "recursive": true}),
        ErrorKind::NotFound,
    );
}

#[test]
fn delete_of_the_workspace_root_is_refused() {
    let f = Fixture::new();
    f.write("a.txt", "a");
    f.denied("io.fs.delete", json!({"path": ".", "recursive": true}));
    f.denied("io.fs.delete", json!({"path": "sub/..", "recursive": true}));
    assert_eq!(f.read("a.txt"), "a");
}

// ---------------------------------------------------------------------------------------
// io.fs.exists

#[test]
fn exists_tells_what_is_there() {
    let f = Fixture::new();
    f.write("file.txt", "");
    f.mkdir("dir");
    f.symlink("file.txt", "link");
    f.symlink("nowhere.txt", "dangling");
    let kind = |p: &str| {
        let r = f.ok("io.fs.exists", json!({"path": p}));
        (b(&r, "exists"), r["kind"].as_str().map(str::to_string))
    };
    assert_eq!(kind("file.txt"), (true, Some("file".into())));
    assert_eq!(kind("dir"), (true, Some("dir".into())));
    assert_eq!(kind("."), (true, Some("dir".into())));
    assert_eq!(kind("link"), (true, Some("symlink".into())));
    assert_eq!(kind("dangling"), (true, Some("symlink".into())));
    assert_eq!(kind("missing"), (false, None));
    assert_eq!(kind("dir/missing/deeper"), (false, None));
    let r = f.ok("io.fs.exists", json!({"path": "missing"}));
    assert!(absent(&r, "kind"), "{r}");
}

// ---------------------------------------------------------------------------------------
// io.fs.move

#[test]
fn move_renames_a_file() {
    let f = Fixture::new();
    f.write("old.txt", "content");
    f.mkdir("sub");
    let r = f.ok(
        "io.fs.move",
        json!({"source": "old.txt", "destination": "sub/new.txt"}),
    );
    assert_eq!(s(&r, "source"), "old.txt");
    assert_eq!(s(&r, "destination"), "sub/new.txt");
    assert!(b(&r, "moved"));
    assert!(!f.present("old.txt"));
    assert_eq!(f.read("sub/new.txt"), "content");
}

#[test]
fn move_renames_a_folder_with_its_content() {
    let f = Fixture::new();
    f.write("a/x.txt", "x");
    f.write("a/b/y.txt", "y");
    f.ok("io.fs.move", json!({"source": "a", "destination": "z"}));
    assert_eq!(f.names("."), ["z"]);
    assert_eq!(f.read("z/b/y.txt"), "y");
}

#[test]
fn move_refuses_an_existing_destination_without_overwrite() {
    let f = Fixture::new();
    f.write("a.txt", "A");
    f.write("b.txt", "B");
    let e = f.err_kind(
        "io.fs.move",
        json!({"source": "a.txt", "destination": "b.txt"}),
        ErrorKind::AlreadyExists,
    );
    assert!(e.hint.unwrap_or_default().contains("overwrite"));
    assert_eq!(f.read("a.txt"), "A");
    assert_eq!(f.read("b.txt"), "B");
}

#[test]
fn move_with_overwrite_replaces_the_destination() {
    let f = Fixture::new();
    f.write("a.txt", "A");
    f.write("b.txt", "B");
    f.ok(
        "io.fs.move",
        json!({"source": "a.txt", "destination": "b.txt", "overwrite": true}),
    );
    assert_eq!(f.names("."), ["b.txt"]);
    assert_eq!(f.read("b.txt"), "A");
}

#[test]
fn move_never_replaces_a_folder_with_a_file_or_the_reverse() {
    let f = Fixture::new();
    f.write("file.txt", "F");
    f.write("dir/inner.txt", "I");
    f.mkdir("empty");
    let e = f.err_kind(
        "io.fs.move",
        json!({"source": "file.txt", "destination": "empty", "overwrite": true}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("cannot replace"), "{e:?}");
    f.err_kind(
        "io.fs.move",
        json!({"source": "dir", "destination": "file.txt", "overwrite": true}),
        ErrorKind::Execution,
    );
    assert_eq!(f.read("file.txt"), "F");
    assert_eq!(f.read("dir/inner.txt"), "I");
    assert!(f.path("empty").is_dir());
}

#[test]
fn move_into_itself_is_refused() {
    let f = Fixture::new();
    f.write("a/x.txt", "x");
    f.mkdir("a/b");
    let e = f.err_kind(
        "io.fs.move",
        json!({"source": "a", "destination": "a/b/a"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("into itself"), "{e:?}");
    f.err_kind(
        "io.fs.move",
        json!({"source": "a", "destination": "a/c"}),
        ErrorKind::Execution,
    );
    assert_eq!(f.names("a"), ["b", "x.txt"]);
    // A sibling whose name starts with the source's name is not "inside" it.
    f.ok("io.fs.move", json!({"source": "a", "destination": "ab"}));
    assert_eq!(f.read("ab/x.txt"), "x");
}

#[test]
fn move_of_a_symlink_moves_the_link() {
    let f = Fixture::new();
    f.write("target.txt", "t");
    f.symlink("target.txt", "link");
    f.ok(
        "io.fs.move",
        json!({"source": "link", "destination": "renamed"}),
    );
    assert_eq!(
        std::fs::read_link(f.path("renamed")).unwrap(),
        std::path::Path::new("target.txt")
    );
    assert_eq!(f.names("."), ["renamed", "target.txt"]);
    assert_eq!(f.read("target.txt"), "t");
}

#[test]
fn move_errors_for_missing_source_or_destination_folder() {
    let f = Fixture::new();
    f.write("a.txt", "A");
    f.err_kind(
        "io.fs.move",
        json!({"source": "nope", "destination": "x"}),
        ErrorKind::NotFound,
    );
    f.err_kind(
        "io.fs.move",
        json!({"source": "a.txt", "destination": "no/such/b.txt"}),
        ErrorKind::NotFound,
    );
    assert_eq!(f.names("."), ["a.txt"]);
}

// ---------------------------------------------------------------------------------------
// io.fs.copy

#[test]
fn copy_copies_a_file() {
    let f = Fixture::new();
    f.write("a.txt", "hello copy");
    let r = f.ok(
        "io.fs.copy",
        json!({"source": "a.txt", "destination": "b.txt"}),
    );
    assert_eq!(s(&r, "destination"), "b.txt");
    assert_eq!(i(&r, "files"), 1);
    assert_eq!(i(&r, "bytes"), 10);
    assert_eq!(f.read("a.txt"), "hello copy");
    assert_eq!(f.read("b.txt"), "hello copy");
    no_temp_files(&f, ".");
}

#[test]
fn copy_keeps_the_file_mode() {
    let f = Fixture::new();
    f.write("key", "k");
    f.set_mode("key", 0o600);
    f.write("tool.sh", "#!/bin/sh");
    f.set_mode("tool.sh", 0o750);
    f.ok(
        "io.fs.copy",
        json!({"source": "key", "destination": "key2"}),
    );
    f.ok(
        "io.fs.copy",
        json!({"source": "tool.sh", "destination": "tool2.sh"}),
    );
    assert_eq!(f.mode("key2"), 0o600);
    assert_eq!(f.mode("tool2.sh"), 0o750);
}

#[test]
fn copy_copies_a_tree_and_recreates_relative_symlinks() {
    let f = Fixture::new();
    f.write("src/a.txt", "aaa");
    f.write("src/sub/b.txt", "bb");
    f.set_mode("src/sub/b.txt", 0o640);
    f.set_mode("src/sub", 0o750);
    f.set_mode("src", 0o700);
    f.mkdir("src/empty");
    f.symlink("a.txt", "src/link_a");
    f.symlink("../a.txt", "src/sub/up");
    let r = f.ok("io.fs.copy", json!({"source": "src", "destination": "dst"}));
    assert_eq!(s(&r, "destination"), "dst");
    assert_eq!(i(&r, "files"), 2);
    assert_eq!(i(&r, "bytes"), 5);
    assert_eq!(f.names("dst"), ["a.txt", "empty", "link_a", "sub"]);
    assert_eq!(f.read("dst/a.txt"), "aaa");
    assert_eq!(f.read("dst/sub/b.txt"), "bb");
    assert_eq!(f.mode("dst/sub/b.txt"), 0o640);
    assert_eq!(f.mode("dst/sub"), 0o750);
    assert_eq!(
        f.mode("dst"),
        0o700,
        "the copied folder itself keeps its mode too"
    );
    for (link, target) in [("dst/link_a", "a.txt"), ("dst/sub/up", "../a.txt")] {
        let meta = f.path(link).symlink_metadata().unwrap();
        assert!(meta.file_type().is_symlink(), "{link} should be a symlink");
        assert_eq!(
            std::fs::read_link(f.path(link)).unwrap(),
            std::path::Path::new(target)
        );
    }
    // The copied links point into the copy, not back to the source.
    std::fs::write(f.path("dst/a.txt"), "changed").unwrap();
    assert_eq!(f.read("dst/sub/up"), "changed");
    assert_eq!(f.read("src/a.txt"), "aaa");
    no_temp_files(&f, "dst");
}

#[test]
fn copy_of_a_read_only_folder_copies_its_content_and_mode() {
    let f = Fixture::new();
    f.write("src/ro/inner.txt", "inner");
    f.set_mode("src/ro", 0o555);
    let r = f.ok("io.fs.copy", json!({"source": "src", "destination": "dst"}));
    assert_eq!(i(&r, "files"), 1);
    assert_eq!(f.read("dst/ro/inner.txt"), "inner");
    assert_eq!(f.mode("dst/ro"), 0o555);
    f.set_mode("src/ro", 0o755);
    f.set_mode("dst/ro", 0o755);
}

#[test]
fn copy_of_a_folder_needs_recursive() {
    let f = Fixture::new();
    f.write("src/a.txt", "a");
    let e = f.err_kind(
        "io.fs.copy",
        json!({"source": "src", "destination": "dst", "recursive": false}),
        ErrorKind::Execution,
    );
    assert_eq!(e.field.as_deref(), Some("source"));
    assert!(e.hint.unwrap_or_default().contains("recursive"));
    assert!(!f.present("dst"));
}

#[test]
fn copy_refuses_an_existing_destination_without_overwrite() {
    let f = Fixture::new();
    f.write("a.txt", "new");
    f.write("b.txt", "old");
    f.write("src/x.txt", "x");
    f.write("dst/keep.txt", "keep");
    let e = f.err_kind(
        "io.fs.copy",
        json!({"source": "a.txt", "destination": "b.txt"}),
        ErrorKind::AlreadyExists,
    );
    assert!(e.hint.unwrap_or_default().contains("overwrite"));
    assert_eq!(f.read("b.txt"), "old");
    f.err_kind(
        "io.fs.copy",
        json!({"source": "src", "destination": "dst"}),
        ErrorKind::AlreadyExists,
    );
    assert_eq!(f.names("dst"), ["keep.txt"]);

    // With overwrite.
    f.ok(
        "io.fs.copy",
        json!({"source": "a.txt", "destination": "b.txt", "overwrite": true}),
    );
    assert_eq!(f.read("b.txt"), "new");
    f.ok(
        "io.fs.copy",
        json!({"source": "src", "destination": "dst", "overwrite": true}),
    );
    assert_eq!(f.names("dst"), ["keep.txt", "x.txt"]);
}

#[test]
fn copy_into_itself_is_refused() {
    let f = Fixture::new();
    f.write("src/a.txt", "a");
    let before = f.snapshot_all();
    let e = f.err_kind(
        "io.fs.copy",
        json!({"source": "src", "destination": "src/copy"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("into itself"), "{e:?}");
    f.err(
        "io.fs.copy",
        json!({"source": "src", "destination": "src", "overwrite": true}),
    );
    before.assert_same(&f.snapshot_all(), "copy into itself");
    // A sibling whose name starts with the source's name is fine.
    f.ok(
        "io.fs.copy",
        json!({"source": "src", "destination": "src2"}),
    );
    assert_eq!(f.read("src2/a.txt"), "a");
}

#[test]
fn copy_refuses_a_tree_with_a_symlink_to_outside_before_writing_anything() {
    let f = Fixture::new();
    f.write("src/a.txt", "a");
    f.write("src/b/c.txt", "c");
    f.symlink("../../outside/secret.txt", "src/z_escape");
    let e = f.denied("io.fs.copy", json!({"source": "src", "destination": "dst"}));
    assert!(e.message.contains("z_escape"), "{e:?}");
    assert!(!f.present("dst"), "nothing may be written");

    // An absolute link to outside, deeper in the tree.
    std::fs::remove_file(f.path("src/z_escape")).unwrap();
    f.symlink(f.outside("outside"), "src/b/zz");
    f.denied("io.fs.copy", json!({"source": "src", "destination": "dst"}));
    assert!(!f.present("dst"));

    // Into an existing destination with overwrite: nothing written either.
    f.mkdir("dst");
    f.denied(
        "io.fs.copy",
        json!({"source": "src", "destination": "dst", "overwrite": true}),
    );
    assert!(f.names("dst").is_empty());
}

#[test]
fn copy_refuses_a_link_that_would_point_outside_from_its_new_place() {
    let f = Fixture::new();
    // `../../x.txt` from `deep/a/link` is `x.txt` in the workspace, but from `top/link`
    // it would be outside.
    f.write("x.txt", "x");
    f.symlink("../../x.txt", "deep/a/link");
    assert_eq!(f.read("deep/a/link"), "x");
    f.denied(
        "io.fs.copy",
        json!({"source": "deep/a", "destination": "top"}),
    );
    assert!(!f.present("top"));
    // At the same depth the link still lands inside, and is copied.
    f.mkdir("other");
    f.ok(
        "io.fs.copy",
        json!({"source": "deep/a", "destination": "other/a"}),
    );
    assert_eq!(f.read("other/a/link"), "x");
}

#[test]
fn copy_errors_for_a_missing_source() {
    let f = Fixture::new();
    let e = f.err_kind(
        "io.fs.copy",
        json!({"source": "nope", "destination": "x"}),
        ErrorKind::NotFound,
    );
    assert_eq!(e.field.as_deref(), Some("source"));
    assert!(f.names(".").is_empty());
}

#[test]
fn copy_of_a_fifo_fails_instead_of_hanging() {
    let r = within(20, "copy of a FIFO", || {
        let f = Fixture::new();
        let st = std::process::Command::new("mkfifo")
            .arg(f.path("pipe"))
            .status()
            .expect("mkfifo runs");
        assert!(st.success());
        let r = f.call(
            "io.fs.copy",
            json!({"source": "pipe", "destination": "copy"}),
        );
        (r.map_err(|e| e.kind), f.present("copy"))
    });
    assert_eq!(r, (Err(ErrorKind::Execution), false));
}

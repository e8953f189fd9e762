//! `io.fs.read_many`: results in request order, one bad file does not fail the others,
//! the per-file and total byte limits, and sandbox refusals that leave everything as it was.

mod support;

use airun::ErrorKind;
use serde_json::{Value, json};
use support::pipeline::Fixture;

fn files(r: &Value) -> &Vec<Value> {
    r["files"].as_array().expect("files is an array")
}

#[test]
fn results_come_in_request_order_with_per_file_errors() {
    let f = Fixture::new();
    f.write("b.txt", "bee\n");
    f.write("a.txt", "ay\nsecond line\n");
    f.write("bin.dat", b"\x89PNG\r\n\x1a\n\0\0\0binary");
    f.write("latin1.txt", b"caf\xe9\n");
    f.mkdir("folder");
    let r = f.ok(
        "io.fs.read_many",
        json!({"paths": ["b.txt", "missing.txt", "a.txt", "bin.dat", "latin1.txt", "folder", "b.txt"]}),
    );
    let got = files(&r);
    let paths: Vec<&str> = got.iter().map(|x| x["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "b.txt",
            "missing.txt",
            "a.txt",
            "bin.dat",
            "latin1.txt",
            "folder",
            "b.txt"
        ]
    );
    assert_eq!(got[0]["ok"], true);
    assert_eq!(got[0]["content"], "bee\n");
    assert_eq!(got[0]["truncated"], false);
    assert_eq!(got[0]["size_bytes"], 4);
    assert_eq!(got[2]["content"], "ay\nsecond line\n");
    assert_eq!(got[2]["total_lines"], 2);
    let kinds: Vec<&str> = got
        .iter()
        .map(|x| x["error_kind"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        kinds,
        [
            "-",
            "not_found",
            "-",
            "binary",
            "not_text",
            "unreadable",
            "-"
        ]
    );
    for bad in [1, 3, 4, 5] {
        assert_eq!(got[bad]["ok"], false, "{}", got[bad]);
        assert!(got[bad].get("content").is_none(), "{}", got[bad]);
        let msg = got[bad]["error_message"].as_str().unwrap();
        assert!(
            msg.contains(paths[bad]),
            "the message names the file: {msg}"
        );
    }
    assert!(
        got[5]["error_message"]
            .as_str()
            .unwrap()
            .contains("is a folder"),
        "{}",
        got[5]
    );
    assert_eq!(r["files_read"], 3);
    assert_eq!(r["total_bytes"], 4 + 15 + 4);
}

#[test]
fn a_file_over_the_per_file_limit_is_cut_at_a_line_and_continues_with_read_file() {
    let f = Fixture::new();
    let text: String = (0..100).map(|n| format!("line {n:02}\n")).collect(); // 8 bytes a line
    f.write("long.txt", &text);
    f.write("short.txt", "s\n");
    let r = f.ok(
        "io.fs.read_many",
        json!({"paths": ["long.txt", "short.txt"], "limit_bytes_per_file": 100}),
    );
    let got = files(&r);
    assert_eq!(got[0]["content"], text[..96]);
    assert_eq!(got[0]["truncated"], true);
    assert_eq!(got[0]["next_offset_line"], 12);
    assert_eq!(got[0]["next_offset_bytes"], 96);
    assert_eq!(got[0]["size_bytes"], 800);
    assert_eq!(got[0]["total_lines"], 100);
    assert_eq!(got[1]["content"], "s\n");
    // The offsets continue exactly where read_many stopped.
    let rest = f.ok(
        "io.fs.read_file",
        json!({"path": "long.txt", "offset_line": 12}),
    );
    assert_eq!(
        format!(
            "{}{}",
            got[0]["content"].as_str().unwrap(),
            rest["content"].as_str().unwrap()
        ),
        text
    );
}

#[test]
fn the_total_budget_cuts_the_last_file_and_skips_the_rest() {
    let f = Fixture::new();
    for n in 0..4 {
        f.write(&format!("f{n}.txt"), "0123456789\n".repeat(10)); // 110 bytes
    }
    let r = f.ok(
        "io.fs.read_many",
        json!({"paths": ["f0.txt", "f1.txt", "f2.txt", "f3.txt"], "max_total_bytes": 250}),
    );
    let got = files(&r);
    assert_eq!(got[0]["content"].as_str().unwrap().len(), 110);
    assert_eq!(got[1]["content"].as_str().unwrap().len(), 110);
    // 30 bytes left: two whole lines of the third file.
    assert_eq!(got[2]["content"], "0123456789\n0123456789\n");
    assert_eq!(got[2]["truncated"], true);
    assert_eq!(got[2]["next_offset_line"], 2);
    assert_eq!(got[3]["ok"], false);
    assert_eq!(got[3]["error_kind"], "over_budget");
    assert!(
        got[3]["error_message"]
            .as_str()
            .unwrap()
            .contains("max_total_bytes (250 bytes)"),
        "{}",
        got[3]
    );
    assert_eq!(r["total_bytes"], 242);
    assert_eq!(r["files_read"], 3);
    assert!(r["total_bytes"].as_i64().unwrap() <= 250);
}

#[test]
fn bounds_on_the_number_of_paths_and_the_limits_are_checked() {
    let f = Fixture::new();
    f.write("a.txt", "a");
    let many: Vec<String> = (0..101).map(|_| "a.txt".to_string()).collect();
    let e = f.err_kind(
        "io.fs.read_many",
        json!({"paths": many}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("paths"), "{e:?}");
    let hundred: Vec<String> = (0..100).map(|_| "a.txt".to_string()).collect();
    let r = f.ok("io.fs.read_many", json!({"paths": hundred}));
    assert_eq!(r["files_read"], 100);
    f.err_kind(
        "io.fs.read_many",
        json!({"paths": []}),
        ErrorKind::InvalidInput,
    );
    f.err_kind(
        "io.fs.read_many",
        json!({"paths": ["a.txt"], "max_total_bytes": 0}),
        ErrorKind::InvalidInput,
    );
    f.err_kind(
        "io.fs.read_many",
        json!({"paths": ["a.txt"], "limit_bytes_per_file": 16_777_217}),
        ErrorKind::InvalidInput,
    );
}

#[test]
fn a_path_outside_the_workspace_refuses_the_whole_call() {
    let f = Fixture::new();
    f.write("a.txt", "inside\n");
    f.symlink("../outside/secret.txt", "link_out.txt");
    f.symlink("../outside", "dir_out");
    f.symlink("a.txt", "link_in.txt");
    for bad in [
        "../outside/secret.txt",
        "link_out.txt",
        "dir_out/secret.txt",
        f.outside("outside/secret.txt").to_str().unwrap(),
    ] {
        let e = f.denied("io.fs.read_many", json!({"paths": ["a.txt", bad]}));
        assert_eq!(e.field.as_deref(), Some("paths"), "{e:?}");
    }
    // A link that stays inside is followed.
    let r = f.ok("io.fs.read_many", json!({"paths": ["link_in.txt"]}));
    assert_eq!(files(&r)[0]["content"], "inside\n");
}

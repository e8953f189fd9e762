//! `io.fs.tree`: depth, counts below each folder (also beyond max_depth), ignore rules,
//! hidden entries, the entry cap, links listed and never followed, and sandbox refusals.

mod support;

use airun::ErrorKind;
use serde_json::{Value, json};
use support::pipeline::Fixture;

fn paths(r: &Value) -> Vec<String> {
    r["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["path"].as_str().expect("path").to_string())
        .collect()
}

fn entry<'a>(r: &'a Value, path: &str) -> &'a Value {
    r["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("no entry {path} in {r}"))
}

/// src/{main.rs (10 B), lib/{a.rs (100 B), deep/{b.rs (1000 B), deeper/c.rs (5 B)}}},
/// README.md (7 B), empty/.
fn project(f: &Fixture) {
    f.write("src/main.rs", "0123456789");
    f.write("src/lib/a.rs", "a".repeat(100));
    f.write("src/lib/deep/b.rs", "b".repeat(1000));
    f.write("src/lib/deep/deeper/c.rs", "ccccc");
    f.write("README.md", "# title");
    f.mkdir("empty");
}

#[test]
fn lists_to_the_depth_in_tree_order_and_counts_everything_below() {
    let f = Fixture::new();
    project(&f);
    let r = f.ok("io.fs.tree", json!({"max_depth": 2}));
    assert_eq!(
        paths(&r),
        ["README.md", "empty", "src", "src/lib", "src/main.rs"]
    );
    assert_eq!(r["files"], 5);
    assert_eq!(r["dirs"], 5); // empty, src, src/lib, src/lib/deep, src/lib/deep/deeper
    assert_eq!(r["total_bytes"], 1122);
    assert_eq!(r["truncated"], false);
    let src = entry(&r, "src");
    assert_eq!(src["depth"], 1);
    assert_eq!(src["kind"], "dir");
    assert_eq!(
        (src["files"].as_i64(), src["dirs"].as_i64()),
        (Some(4), Some(3))
    );
    assert_eq!(src["size"], 1115);
    // Counts reach below max_depth.
    let lib = entry(&r, "src/lib");
    assert_eq!(
        (lib["files"].as_i64(), lib["dirs"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(lib["size"], 1105);
    let empty = entry(&r, "empty");
    assert_eq!(
        (empty["files"].as_i64(), empty["size"].as_i64()),
        (Some(0), Some(0))
    );
    let main = entry(&r, "src/main.rs");
    assert_eq!(main["size"], 10);
    assert!(main.get("files").is_none(), "{main}");
    let text = r["tree"].as_str().unwrap();
    assert_eq!(
        text,
        "./  (5 files, 5 folders, 1.1 KiB)\n\
         \x20 README.md  (7 B)\n\
         \x20 empty/  (0 files, 0 folders, 0 B)\n\
         \x20 src/  (4 files, 3 folders, 1.1 KiB)\n\
         \x20   lib/  (3 files, 2 folders, 1.1 KiB)\n\
         \x20   main.rs  (10 B)\n"
    );
    // Deeper, a sub-folder as the start.
    let r = f.ok("io.fs.tree", json!({"path": "src/lib", "max_depth": 5}));
    assert_eq!(r["root"], "src/lib");
    assert_eq!(
        paths(&r),
        [
            "src/lib/a.rs",
            "src/lib/deep",
            "src/lib/deep/b.rs",
            "src/lib/deep/deeper",
            "src/lib/deep/deeper/c.rs"
        ]
    );
    assert_eq!(entry(&r, "src/lib/deep/deeper/c.rs")["depth"], 3);
    assert_eq!(r["files"], 3);
    assert_eq!(r["dirs"], 2);
}

#[test]
fn ignore_rules_and_hidden_entries_are_honoured_unless_asked() {
    let f = Fixture::new();
    f.write(".gitignore", "target/\n*.log\n");
    f.write("target/debug/big.bin", "x".repeat(500));
    f.write("run.log", "log");
    f.write(".env", "SECRET=1");
    f.write(".git/HEAD", "ref: x");
    f.write("keep.txt", "k");
    let r = f.ok("io.fs.tree", json!({}));
    assert_eq!(paths(&r), ["keep.txt"]);
    assert_eq!(
        (r["files"].as_i64(), r["total_bytes"].as_i64()),
        (Some(1), Some(1))
    );
    let r = f.ok("io.fs.tree", json!({"respect_gitignore": false}));
    assert_eq!(
        paths(&r),
        [
            "keep.txt",
            "run.log",
            "target",
            "target/debug",
            "target/debug/big.bin"
        ]
    );
    let r = f.ok(
        "io.fs.tree",
        json!({"include_hidden": true, "respect_gitignore": false}),
    );
    assert!(paths(&r).contains(&".env".to_string()), "{:?}", paths(&r));
    assert!(
        !paths(&r)
            .iter()
            .any(|p| p.starts_with(".git/") || p == ".git"),
        ".git stays out: {:?}",
        paths(&r)
    );
}

#[test]
fn the_entry_cap_keeps_the_shallowest_entries_and_the_counts_stay_whole() {
    let f = Fixture::new();
    for d in ["a", "b", "c"] {
        for n in 0..5 {
            f.write(&format!("{d}/f{n}.txt"), "12");
        }
    }
    let r = f.ok("io.fs.tree", json!({"max_entries": 5}));
    assert_eq!(r["truncated"], true);
    let listed = paths(&r);
    assert_eq!(listed.len(), 5);
    // All three folders first, then the first files in path order.
    assert_eq!(listed, ["a", "a/f0.txt", "a/f1.txt", "b", "c"]);
    assert_eq!(r["files"], 15);
    assert_eq!(entry(&r, "c")["files"], 5);
    assert!(
        r["tree"]
            .as_str()
            .unwrap()
            .contains("13 more entries not listed"),
        "{}",
        r["tree"]
    );
}

#[test]
fn links_are_listed_and_never_followed() {
    let f = Fixture::new();
    f.write("real/inner.txt", "inside");
    f.symlink("../outside", "out_dir");
    f.symlink("real", "in_dir");
    f.symlink("../outside/secret.txt", "out_file");
    let r = f.ok("io.fs.tree", json!({"max_depth": 5}));
    assert_eq!(
        paths(&r),
        ["in_dir", "out_dir", "out_file", "real", "real/inner.txt"]
    );
    for l in ["in_dir", "out_dir", "out_file"] {
        assert_eq!(entry(&r, l)["kind"], "symlink");
    }
    assert_eq!(r["symlinks"], 3);
    assert_eq!(r["files"], 1, "nothing behind a link is counted");
    let text = r["tree"].as_str().unwrap();
    assert!(text.contains("out_dir@  (link, not followed)"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn refusals_and_bad_starts_change_nothing() {
    let f = Fixture::new();
    f.write("a.txt", "a");
    f.symlink("../outside", "out_dir");
    for bad in ["..", "../outside", "out_dir", "/etc"] {
        let e = f.denied("io.fs.tree", json!({"path": bad}));
        assert_eq!(e.field.as_deref(), Some("path"), "{e:?}");
    }
    let e = f.err_kind("io.fs.tree", json!({"path": "a.txt"}), ErrorKind::Execution);
    assert!(e.message.contains("is a file, not a folder"), "{e:?}");
    f.err_kind("io.fs.tree", json!({"path": "nope"}), ErrorKind::NotFound);
    for bad in [
        json!({"max_depth": 0}),
        json!({"max_entries": 0}),
        json!({"max_depth": 65}),
    ] {
        f.err_kind("io.fs.tree", bad, ErrorKind::InvalidInput);
    }
}

#[test]
fn the_command_line_prints_the_tree_text_for_people() {
    let f = Fixture::new();
    project(&f);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airun"))
        .arg("--workspace")
        .arg(&f.root)
        .args(["execute", "io.fs.tree", "--params", r#"{"max_depth":1}"#])
        .env("AIRUN_HOME", f.base.join("home"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("airun runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "./  (5 files, 5 folders, 1.1 KiB)\n  README.md  (7 B)\n  empty/  (0 files, 0 folders, 0 B)\n  src/  (4 files, 3 folders, 1.1 KiB)\n"
    );
}

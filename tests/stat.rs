//! `io.fs.stat`: what is at a path, links not followed, optional BLAKE3 hash.

mod support;

use airun::ErrorKind;
use serde_json::{Value, json};
use support::pipeline::Fixture;

fn stat(f: &Fixture, args: Value) -> Value {
    f.ok("io.fs.stat", args)
}

fn absent(v: &Value, key: &str) -> bool {
    v.get(key).is_none_or(Value::is_null)
}

#[test]
fn a_file_gives_kind_size_mode_and_time() {
    let f = Fixture::new();
    f.write("notes.txt", "hello\n");
    f.set_mode("notes.txt", 0o640);
    let r = stat(&f, json!({"path": "notes.txt"}));
    assert_eq!(r["path"], "notes.txt");
    assert_eq!(r["kind"], "file");
    assert_eq!(r["size"], 6);
    assert_eq!(r["mode"], "0640");
    assert_eq!(r["readonly"], false);
    let modified = r["modified"].as_str().expect("modified");
    assert!(
        modified.ends_with('Z') && modified.len() == 20,
        "RFC 3339 UTC: {modified}"
    );
    let year: i32 = modified[..4].parse().expect("a year");
    assert!(year >= 2024, "{modified}");
    assert!(absent(&r, "blake3"), "no hash unless asked: {r}");
    assert!(absent(&r, "link_target"));
}

#[test]
fn hash_gives_the_blake3_of_the_content() {
    let f = Fixture::new();
    let content: Vec<u8> = (0..1_000_000u32).map(|n| (n % 251) as u8).collect();
    f.write("data.bin", &content);
    let r = stat(&f, json!({"path": "data.bin", "hash": true}));
    assert_eq!(r["blake3"], blake3::hash(&content).to_hex().to_string());
    assert_eq!(r["size"], 1_000_000);
    // A folder has no hash, even when asked.
    f.mkdir("dir");
    let r = stat(&f, json!({"path": "dir", "hash": true}));
    assert_eq!(r["kind"], "dir");
    assert!(absent(&r, "blake3"));
}

#[test]
fn a_symlink_is_described_not_followed() {
    let f = Fixture::new();
    f.write("target.txt", "0123456789");
    f.symlink("target.txt", "link");
    let r = stat(&f, json!({"path": "link", "hash": true}));
    assert_eq!(r["kind"], "symlink");
    assert_eq!(r["link_target"], "target.txt");
    assert_eq!(
        r["size"],
        "target.txt".len() as i64,
        "the size of the link itself"
    );
    assert!(absent(&r, "blake3"), "a link is not hashed: {r}");
    // A dangling link inside the workspace is still described.
    f.symlink("gone.txt", "dangling");
    let r = stat(&f, json!({"path": "dangling"}));
    assert_eq!(r["link_target"], "gone.txt");
}

#[test]
fn readonly_and_special_modes() {
    let f = Fixture::new();
    f.write("ro.txt", "x");
    f.set_mode("ro.txt", 0o444);
    let r = stat(&f, json!({"path": "ro.txt"}));
    assert_eq!(r["mode"], "0444");
    assert_eq!(r["readonly"], true);
    f.write("run.sh", "#!/bin/sh\n");
    f.set_mode("run.sh", 0o4755);
    assert_eq!(stat(&f, json!({"path": "run.sh"}))["mode"], "4755");
}

#[test]
fn missing_paths_and_paths_outside_are_refused() {
    let f = Fixture::new();
    let e = f.err_kind(
        "io.fs.stat",
        json!({"path": "nope.txt"}),
        ErrorKind::NotFound,
    );
    assert!(e.message.contains("nope.txt"), "{e:?}");
    assert!(e.hint.is_some());
    f.denied("io.fs.stat", json!({"path": "../outside/secret.txt"}));
    f.denied("io.fs.stat", json!({"path": "/etc/passwd"}));
    f.symlink(f.outside("outside/secret.txt"), "escape");
    f.denied("io.fs.stat", json!({"path": "escape", "hash": true}));
}

#[test]
fn the_workspace_root_is_a_folder() {
    let f = Fixture::new();
    let r = stat(&f, json!({"path": "."}));
    assert_eq!(r["kind"], "dir");
    assert_eq!(r["path"], ".");
}

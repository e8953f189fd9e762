//! `text.diff`, driven through the pipeline on a real temporary workspace.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::{CapError, ErrorKind};
use serde_json::{Value, json};

/// A workspace holding `files`, and the pipeline over it.
struct Ws {
    dir: tempfile::TempDir,
    pipeline: Pipeline<airun::stdlib::Capabilities<airun::stdlib::Stdlib>>,
}

impl Ws {
    fn with(files: &[(&str, &[u8])]) -> Ws {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).expect("the file is writable");
        }
        let ws = Workspace::open(dir.path(), false, None).expect("the workspace opens");
        let pipeline = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
        Ws { dir, pipeline }
    }

    fn diff(&self, args: Value) -> Result<Value, CapError> {
        self.pipeline
            .execute("text.diff", args, &FlagConfirmer, CallOptions::default())
    }

    /// Every file's name and content, to show a call changed nothing.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.dir.path())
            .expect("the workspace lists")
            .map(|e| {
                let e = e.expect("an entry");
                let name = e.file_name().to_string_lossy().into_owned();
                let content = if e.path().is_file() {
                    std::fs::read(e.path()).expect("readable")
                } else {
                    Vec::new()
                };
                (name, content)
            })
            .collect();
        out.sort();
        out
    }
}

#[test]
fn two_texts_give_a_unified_diff_with_counts() {
    let ws = Ws::with(&[]);
    let out = ws
        .diff(json!({"old": "a\nb\nc\n", "new": "a\nB\nc\nd\n"}))
        .expect("the diff succeeds");
    assert_eq!(
        out["diff"],
        "--- a/old\n+++ b/new\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n"
    );
    assert_eq!(out["changed"], true);
    assert_eq!(out["added"], 2);
    assert_eq!(out["removed"], 1);
    assert_eq!(out["truncated"], false);
}

#[test]
fn equal_texts_give_an_empty_diff() {
    let ws = Ws::with(&[]);
    let out = ws
        .diff(json!({"old": "same\n", "new": "same\n"}))
        .expect("the diff succeeds");
    assert_eq!(
        out,
        json!({"diff": "", "changed": false, "added": 0, "removed": 0, "truncated": false})
    );
}

#[test]
fn two_workspace_files_are_compared_and_left_alone() {
    let ws = Ws::with(&[
        ("before.txt", b"one\ntwo\nthree\n"),
        ("after.txt", b"one\n2\nthree\n"),
    ]);
    let before = ws.snapshot();
    let out = ws
        .diff(json!({"old_path": "before.txt", "new_path": "after.txt", "context_lines": 0}))
        .expect("the diff succeeds");
    assert_eq!(
        out["diff"],
        "--- a/before.txt\n+++ b/after.txt\n@@ -2 +2 @@\n-two\n+2\n"
    );
    assert_eq!(ws.snapshot(), before);
}

#[test]
fn a_file_against_proposed_text() {
    let ws = Ws::with(&[("conf.ini", b"debug = false\n")]);
    let out = ws
        .diff(json!({"old_path": "conf.ini", "new": "debug = true\n"}))
        .expect("the diff succeeds");
    assert_eq!(
        out["diff"],
        "--- a/conf.ini\n+++ b/new\n@@ -1 +1 @@\n-debug = false\n+debug = true\n"
    );
}

#[test]
fn a_missing_last_newline_is_shown() {
    let ws = Ws::with(&[]);
    let out = ws
        .diff(json!({"old": "x\n", "new": "x"}))
        .expect("the diff succeeds");
    let diff = out["diff"].as_str().unwrap();
    assert!(diff.contains("\\ No newline at end of file"), "{diff}");
    assert_eq!(out["changed"], true);
}

#[test]
fn each_side_needs_exactly_one_source() {
    let ws = Ws::with(&[("a.txt", b"a\n")]);
    let err = ws.diff(json!({"new": "x"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("old"));
    assert!(err.message.contains("old_path"), "{}", err.message);

    let err = ws
        .diff(json!({"old": "a", "old_path": "a.txt", "new": "b"}))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("old_path"));
    assert!(err.message.contains("not both"), "{}", err.message);
}

#[test]
fn binary_and_missing_files_are_clear_errors() {
    let ws = Ws::with(&[("blob.bin", &[0xff, 0xfe, 0x00, 0x80])]);
    let err = ws
        .diff(json!({"old_path": "blob.bin", "new": "x"}))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("old_path"));
    assert!(err.message.contains("not UTF-8 text"), "{}", err.message);

    let err = ws
        .diff(json!({"old": "x", "new_path": "nope.txt"}))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[test]
fn paths_outside_the_workspace_are_refused() {
    let ws = Ws::with(&[]);
    let outside = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(outside.path(), "secret\n").unwrap();
    let err = ws
        .diff(json!({"old_path": outside.path().to_str().unwrap(), "new": "x"}))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeniedSandbox, "{err:?}");
    let err = ws
        .diff(json!({"old_path": "../escape.txt", "new": "x"}))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeniedSandbox, "{err:?}");
}

#[test]
fn a_huge_diff_is_cut_at_a_line_end() {
    let ws = Ws::with(&[]);
    let old: String = (0..60_000).map(|i| format!("old line {i}\n")).collect();
    let new: String = (0..60_000).map(|i| format!("new line {i}\n")).collect();
    let out = ws
        .diff(json!({"old": old, "new": new}))
        .expect("the diff succeeds");
    let diff = out["diff"].as_str().unwrap();
    assert_eq!(out["truncated"], true);
    assert!(diff.len() <= 1024 * 1024);
    assert!(diff.ends_with('\n'));
    assert_eq!(out["added"], 60_000);
    assert_eq!(out["removed"], 60_000);
}

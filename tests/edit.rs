//! `io.fs.edit_file`: exact replacements, all or nothing, with a unified diff; near-match
//! errors; dry runs; undo through the time machine.

mod support;

use airun::ErrorKind;
use airun::pipeline::{CallOptions, FlagConfirmer, NoConfirmer, Pipeline, Settings, UndoRequest};
use airun::sandbox::Workspace;
use airun::timemachine::{Retention, TimeMachine};
use serde_json::{Value, json};
use std::sync::Arc;
use support::pipeline::Fixture;

const SRC: &str =
    "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n\nfn helper() {\n    let x = 1;\n}\n";

fn edit(f: &Fixture, args: Value) -> Value {
    f.ok("io.fs.edit_file", args)
}

#[test]
fn one_edit_is_applied_with_a_diff() {
    let f = Fixture::new();
    f.write("main.rs", SRC);
    f.set_mode("main.rs", 0o600);
    let r = edit(
        &f,
        json!({"path": "main.rs", "edits": [{"old_text": "println!(\"{x}\");", "new_text": "println!(\"x = {x}\");"}]}),
    );
    assert_eq!(r["applied"], true);
    assert_eq!(r["replacements"], 1);
    let diff = r["diff"].as_str().expect("diff");
    assert!(
        diff.starts_with("--- a/main.rs\n+++ b/main.rs\n@@ "),
        "{diff}"
    );
    assert!(
        diff.contains("\n-    println!(\"{x}\");\n+    println!(\"x = {x}\");\n"),
        "{diff}"
    );
    assert_eq!(
        f.read("main.rs"),
        SRC.replace("println!(\"{x}\")", "println!(\"x = {x}\")")
    );
    assert_eq!(f.mode("main.rs"), 0o600, "the mode is kept");
    assert!(
        !f.names(".").iter().any(|n| n.contains("airun-tmp")),
        "no temporary file left"
    );
}

#[test]
fn an_old_text_that_matches_twice_is_refused_unless_expected() {
    let f = Fixture::new();
    f.write("main.rs", SRC);
    let before = f.snapshot_all();
    let e = f.err_kind(
        "io.fs.edit_file",
        json!({"path": "main.rs", "edits": [{"old_text": "let x = 1;", "new_text": "let x = 2;"}]}),
        ErrorKind::InvalidInput,
    );
    assert!(e.message.contains("occurs 2 times"), "{e:?}");
    assert!(
        e.message.contains("lines: 2, 7"),
        "the lines of both occurrences: {e:?}"
    );
    assert!(e.message.contains("nothing was written"));
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .contains("expected_replacements"),
        "{e:?}"
    );
    assert_eq!(e.field.as_deref(), Some("edits"));
    before.assert_same(&f.snapshot_all(), "a refused edit");

    let r = edit(
        &f,
        json!({"path": "main.rs", "edits": [{"old_text": "let x = 1;", "new_text": "let x = 2;", "expected_replacements": 2}]}),
    );
    assert_eq!(r["replacements"], 2);
    assert_eq!(f.read("main.rs"), SRC.replace("let x = 1;", "let x = 2;"));
}

#[test]
fn a_missing_old_text_writes_nothing_and_shows_the_closest_lines() {
    let f = Fixture::new();
    f.write("main.rs", SRC);
    let before = f.snapshot_all();
    // The first edit would match; the second does not: nothing at all is written.
    let e = f.err_kind(
        "io.fs.edit_file",
        json!({"path": "main.rs", "edits": [
            {"old_text": "fn helper()", "new_text": "fn helper2()"},
            {"old_text": "println!(\"{y}\");", "new_text": "x"}
        ]}),
        ErrorKind::InvalidInput,
    );
    assert!(
        e.message.contains("edits[1].old_text was not found"),
        "{e:?}"
    );
    assert!(
        e.message
            .contains("closest lines:\n  3:     println!(\"{x}\");"),
        "{e:?}"
    );
    before.assert_same(&f.snapshot_all(), "a failed multi-edit");
}

#[test]
fn a_whitespace_only_difference_is_pointed_out() {
    let f = Fixture::new();
    f.write("main.rs", SRC);
    let e = f.err_kind(
        "io.fs.edit_file",
        json!({"path": "main.rs", "edits": [{"old_text": "fn helper() {\n  let x = 1;\n}", "new_text": ""}]}),
        ErrorKind::InvalidInput,
    );
    assert!(
        e.message
            .contains("6: fn helper() {  (same text, different whitespace)"),
        "{e:?}"
    );
}

#[test]
fn edits_apply_in_order_and_a_dry_run_changes_nothing() {
    let f = Fixture::new();
    f.write("a.txt", "one\ntwo\nthree\n");
    let args = json!({"path": "a.txt", "dry_run": true, "edits": [
        {"old_text": "one", "new_text": "uno"},
        {"old_text": "uno\ntwo", "new_text": "uno\ndos"}
    ]});
    let r = edit(&f, args);
    assert_eq!(r["applied"], false);
    assert_eq!(r["replacements"], 2);
    assert!(
        r["diff"].as_str().expect("diff").contains("+uno\n+dos\n"),
        "{r}"
    );
    assert_eq!(
        f.read("a.txt"),
        "one\ntwo\nthree\n",
        "a dry run writes nothing"
    );
    let r = edit(
        &f,
        json!({"path": "a.txt", "edits": [{"old_text": "one", "new_text": "uno"}, {"old_text": "uno\ntwo", "new_text": "uno\ndos"}]}),
    );
    assert_eq!(r["applied"], true);
    assert_eq!(f.read("a.txt"), "uno\ndos\nthree\n");
    // An edit that changes nothing writes nothing and has an empty diff.
    let r = edit(
        &f,
        json!({"path": "a.txt", "edits": [{"old_text": "dos", "new_text": "dos"}]}),
    );
    assert_eq!(r["applied"], false);
    assert_eq!(r["diff"], "");
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let f = Fixture::new();
    f.write("win.txt", "a\r\nb\r\nc\r\n");
    edit(
        &f,
        json!({"path": "win.txt", "edits": [{"old_text": "a\nb", "new_text": "A\nB"}]}),
    );
    assert_eq!(f.read("win.txt"), "A\r\nB\r\nc\r\n");
}

#[test]
fn refusals_binary_missing_outside_and_confirmation() {
    let f = Fixture::new();
    f.write("bin.dat", b"abc\x00def");
    let e = f.err_kind(
        "io.fs.edit_file",
        json!({"path": "bin.dat", "edits": [{"old_text": "abc", "new_text": "x"}]}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("binary"), "{e:?}");
    f.err_kind(
        "io.fs.edit_file",
        json!({"path": "nope.txt", "edits": [{"old_text": "a", "new_text": "b"}]}),
        ErrorKind::NotFound,
    );
    f.denied(
        "io.fs.edit_file",
        json!({"path": "../outside/secret.txt", "edits": [{"old_text": "TOP", "new_text": "x"}]}),
    );
    f.err_kind(
        "io.fs.edit_file",
        json!({"path": "a.txt", "edits": []}),
        ErrorKind::InvalidInput,
    );
    f.err_kind(
        "io.fs.edit_file",
        json!({"path": "a.txt", "edits": [{"old_text": "", "new_text": "x"}]}),
        ErrorKind::InvalidInput,
    );
    // A real edit needs a person's yes.
    f.write("a.txt", "a\n");
    let e = f
        .call_with(
            "io.fs.edit_file",
            json!({"path": "a.txt", "edits": [{"old_text": "a", "new_text": "b"}]}),
            &NoConfirmer,
        )
        .expect_err("declined");
    assert_eq!(e.kind, ErrorKind::Declined);
    assert_eq!(f.read("a.txt"), "a\n");
}

#[test]
fn an_edit_is_undone_exactly_by_the_time_machine() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ws = tmp.path().join("ws");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::write(ws.join("main.rs"), SRC).expect("seed");
    let workspace = Workspace::open(&ws, false, Some(&home)).expect("workspace");
    let tm =
        Arc::new(TimeMachine::open(&home, &workspace, Retention::default()).expect("time machine"));
    let k = Pipeline::new(
        airun::stdlib::capabilities(),
        workspace,
        Settings::default(),
    )
    .with_journal(Box::new(tm.clone()))
    .with_audit(Box::new(tm.clone()));
    let r = k
        .execute(
            "io.fs.edit_file",
            json!({"path": "main.rs", "edits": [{"old_text": "fn helper()", "new_text": "fn renamed()"}]}),
            &FlagConfirmer,
            CallOptions::default(),
        )
        .expect("edit");
    assert_eq!(r["applied"], true);
    assert!(
        std::fs::read_to_string(ws.join("main.rs"))
            .expect("read")
            .contains("fn renamed()")
    );
    let undone = k
        .journal()
        .undo(
            k.workspace(),
            UndoRequest {
                steps: 1,
                to: None,
                force: false,
                session: None,
                principal: None,
            },
        )
        .expect("undo");
    assert_eq!(undone.len(), 1);
    assert_eq!(undone[0].capability, "io.fs.edit_file");
    assert_eq!(
        std::fs::read_to_string(ws.join("main.rs")).expect("read"),
        SRC
    );
    // A refused edit leaves no operation to undo.
    let e = k
        .execute(
            "io.fs.edit_file",
            json!({"path": "main.rs", "edits": [{"old_text": "absent", "new_text": "x"}]}),
            &FlagConfirmer,
            CallOptions::default(),
        )
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let history = k.journal().history(10).expect("history");
    assert_eq!(history.len(), 1, "only the undone edit: {history:?}");
    assert_eq!(history[0].state, "undone");
}

#[test]
fn a_dry_run_needs_no_confirmation_and_leaves_no_undo_point() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ws = tmp.path().join("ws");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::write(ws.join("a.txt"), "a\n").expect("seed");
    let workspace = Workspace::open(&ws, false, Some(&home)).expect("workspace");
    let tm =
        Arc::new(TimeMachine::open(&home, &workspace, Retention::default()).expect("time machine"));
    let k = Pipeline::new(
        airun::stdlib::capabilities(),
        workspace,
        Settings::default(),
    )
    .with_journal(Box::new(tm.clone()))
    .with_audit(Box::new(tm.clone()));
    let args =
        json!({"path": "a.txt", "dry_run": true, "edits": [{"old_text": "a", "new_text": "b"}]});
    let r = k
        .execute(
            "io.fs.edit_file",
            args,
            &NoConfirmer,
            CallOptions::default(),
        )
        .expect("a dry run runs without anyone to ask");
    assert_eq!(r["applied"], false);
    assert_eq!(r["replacements"], 1);
    assert!(
        k.journal().history(10).expect("history").is_empty(),
        "no undo point for a dry run"
    );
    let audit = tm.audit_records(None).expect("audit");
    assert_eq!(audit.len(), 1, "but it is audited");
    assert_eq!(audit[0].decision, "allowed");
    // The same edit for real still needs a person's yes.
    let args =
        json!({"path": "a.txt", "dry_run": false, "edits": [{"old_text": "a", "new_text": "b"}]});
    let e = k
        .execute(
            "io.fs.edit_file",
            args,
            &NoConfirmer,
            CallOptions::default(),
        )
        .expect_err("declined");
    assert_eq!(e.kind, ErrorKind::Declined);
    assert_eq!(
        std::fs::read_to_string(ws.join("a.txt")).expect("read"),
        "a\n"
    );
}

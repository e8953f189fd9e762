//! Every operation and audit record names its principal. Records are made through the
//! library (`CallOptions::principal`, as the team server's adapters pass the caller's user
//! name) in a workspace two users share, then read through the real `airun` binary:
//! `history --user` / `--by-user`, `audit --user` (listing and export), `undo` / `redo
//! --user` with their exact messages and the drift guard between users; a user removed
//! with `airun user remove` keeps their records and `audit verify` still passes.

mod support;

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::timemachine::{Retention, TimeMachine};
use serde_json::{Value, json};
use std::process::Output;
use std::sync::Arc;
use support::mcp::Dirs;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; its stdout.
fn ok(dirs: &Dirs, args: &[&str]) -> String {
    let o = dirs.cli(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn ok_json(dirs: &Dirs, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dirs, args)).expect("JSON on stdout")
}

/// A command that must fail with `code`; its stderr.
fn fails(dirs: &Dirs, args: &[&str], code: i32) -> String {
    let o = dirs.cli(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    stderr(&o)
}

/// The pipeline the team server runs for this workspace: same state folder as the CLI.
fn pipeline(dirs: &Dirs) -> Pipeline<airun::stdlib::Capabilities<airun::stdlib::Stdlib>> {
    let ws = Workspace::open(&dirs.ws, false, Some(&dirs.home)).unwrap();
    let tm = Arc::new(TimeMachine::open(&dirs.home, &ws, Retention::default()).unwrap());
    Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default())
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm))
}

/// One call made by `who` (`None`: the operator).
fn call(
    k: &Pipeline<airun::stdlib::Capabilities<airun::stdlib::Stdlib>>,
    who: Option<&str>,
    id: &str,
    args: Value,
) {
    let options = CallOptions {
        principal: who,
        ..CallOptions::default()
    };
    k.execute(id, args, &FlagConfirmer, options)
        .unwrap_or_else(|e| panic!("{id} by {who:?}: {e:?}"));
    k.flush_audit();
}

fn write(
    k: &Pipeline<airun::stdlib::Capabilities<airun::stdlib::Stdlib>>,
    who: Option<&str>,
    path: &str,
    content: &str,
) {
    call(
        k,
        who,
        "io.fs.write_file",
        json!({"path": path, "content": content}),
    );
}

fn read(dirs: &Dirs, rel: &str) -> Option<String> {
    std::fs::read_to_string(dirs.ws.join(rel)).ok()
}

/// The cells of a table's lines (the header first), trimmed.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| {
            l.trim_matches('│')
                .split('┆')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `op` numbers of a JSON list of operations or records.
fn ops(list: &Value) -> Vec<Option<i64>> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_i64())
        .collect()
}

#[test]
fn a_removed_user_keeps_their_records_and_the_audit_still_verifies() {
    let dirs = Dirs::new();
    for name in ["alice", "bob"] {
        ok(&dirs, &["user", "add", name, "--role", "agent"]);
    }
    {
        let k = pipeline(&dirs);
        write(&k, Some("alice"), "a.txt", "by alice"); // op 1
        write(&k, Some("bob"), "b.txt", "by bob"); // op 2
        write(&k, Some("alice"), "notes.txt", "alice again"); // op 3
        call(
            &k,
            Some("alice"),
            "io.fs.read_file",
            json!({"path": "b.txt"}),
        );
    }
    let removed = ok(&dirs, &["user", "remove", "alice"]);
    assert!(removed.contains("alice"), "{removed}");
    let users = ok_json(&dirs, &["user", "list", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 1);

    // Her audit records: the listing, as JSON and as a table, and the export.
    let records = ok_json(&dirs, &["audit", "--user", "alice", "--json"]);
    assert_eq!(ops(&records), [Some(1), Some(3), None]);
    assert!(
        records
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["principal"] == "alice"),
        "{records}"
    );
    let table = rows(&ok(&dirs, &["audit", "--user", "alice"]));
    assert_eq!(
        table[0],
        [
            "seq",
            "time",
            "user",
            "capability",
            "decision",
            "outcome",
            "ms",
            "op"
        ]
    );
    let shown: Vec<[&str; 4]> = table[1..]
        .iter()
        .map(|r| [&*r[0], &*r[2], &*r[3], &*r[7]])
        .collect();
    assert_eq!(
        shown,
        [
            ["1", "alice", "io.fs.write_file", "1"],
            ["3", "alice", "io.fs.write_file", "3"],
            ["4", "alice", "io.fs.read_file", ""],
        ]
    );
    let export = ok(&dirs, &["audit", "export", "--user", "alice"]);
    let exported: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), 3);
    assert!(exported.iter().all(|r| r["principal"] == "alice"));
    // Everyone's export names each record's principal.
    let all: Vec<String> = ok(&dirs, &["audit", "export", "--jsonl"])
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["principal"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(all, ["alice", "bob", "alice", "alice"]);

    // Her operations.
    let history = ok_json(&dirs, &["history", "--user", "alice", "--json"]);
    assert_eq!(ops(&history), [Some(3), Some(1)]);
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["principal"] == "alice")
    );
    let table = rows(&ok(&dirs, &["history", "--user", "alice"]));
    assert_eq!(
        table[0],
        [
            "op",
            "time",
            "user",
            "session",
            "capability",
            "summary",
            "state"
        ]
    );
    let shown: Vec<[&str; 3]> = table[1..]
        .iter()
        .map(|r| [&*r[0], &*r[2], &*r[5]])
        .collect();
    assert_eq!(
        shown,
        [
            ["3", "alice", "write notes.txt (+11 B)"],
            ["1", "alice", "write a.txt (+8 B)"]
        ]
    );
    // Everyone's history shows who made each operation.
    let everyone = rows(&ok(&dirs, &["history"]));
    let who: Vec<&str> = everyone[1..].iter().map(|r| &*r[2]).collect();
    assert_eq!(who, ["alice", "bob", "alice"]);

    assert_eq!(
        ok(&dirs, &["audit", "verify"]),
        "audit log intact: 4 records\n"
    );

    // Nobody by that name: clear answers, not errors; a bad name is an error.
    assert_eq!(
        ok(&dirs, &["audit", "--user", "carol"]),
        "no audit records of carol\n"
    );
    assert_eq!(
        ok(&dirs, &["history", "--user", "carol"]),
        "no operations of carol in this workspace\n"
    );
    // Her calls here came with no agent session.
    assert_eq!(
        ok(&dirs, &["history", "--sessions", "--user", "alice"]),
        "no agent sessions of alice have recorded operations in this workspace\n"
    );
    let err = fails(&dirs, &["history", "--user", "Not A Name"], 2);
    assert!(
        err.starts_with("error: --user: `Not A Name` is not a valid user name\n"),
        "{err}"
    );
    let err = fails(&dirs, &["audit", "verify", "--user", "alice"], 2);
    assert!(
        err.starts_with("error: `audit verify` checks the whole chain, every user's records together; --user does not apply to it\n"),
        "{err}"
    );
}

#[test]
fn undo_and_redo_of_one_user_and_history_by_user() {
    let dirs = Dirs::new();
    let k = pipeline(&dirs);
    write(&k, Some("alice"), "a1.txt", "a"); // op 1
    write(&k, Some("bob"), "b1.txt", "b"); // op 2
    write(&k, Some("alice"), "notes.txt", "by alice\n"); // op 3
    write(&k, None, "o1.txt", "o"); // op 4: the operator
    write(&k, Some("bob"), "notes.txt", "by bob\n"); // op 5: over alice's change

    // A section per user, by name, with their counts.
    let by = ok_json(&dirs, &["history", "--by-user", "--json"]);
    let summary: Vec<(String, i64, i64, Vec<Option<i64>>)> = by
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["principal"].as_str().unwrap().to_string(),
                s["ops"].as_i64().unwrap(),
                s["undoable"].as_i64().unwrap(),
                ops(&s["operations"]),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alice".into(), 2, 2, vec![Some(3), Some(1)]),
            ("bob".into(), 2, 2, vec![Some(5), Some(2)]),
            ("operator".into(), 1, 1, vec![Some(4)]),
        ]
    );
    let text = ok(&dirs, &["history", "--by-user", "--limit", "1"]);
    let heading = |s: &Value| {
        format!(
            "{}: {} operation(s), {} undoable, {} to {}",
            s["principal"].as_str().unwrap(),
            s["ops"],
            s["undoable"],
            s["first"].as_str().unwrap(),
            s["last"].as_str().unwrap()
        )
    };
    let sections: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(sections.len(), 3, "{text}");
    for (section, s) in sections.iter().zip(by.as_array().unwrap()) {
        assert_eq!(section.lines().next().unwrap(), heading(s), "{text}");
        let newest = s["operations"][0]["op"].to_string();
        let table = rows(section);
        assert_eq!(table.len(), 2, "the header and --limit 1 row: {text}");
        assert_eq!(
            (&*table[1][0], &*table[1][2]),
            (&*newest, s["principal"].as_str().unwrap())
        );
    }
    assert!(
        sections[0].ends_with(
            "(1 older operation(s) of alice: `airun history --user alice --limit 2` shows them)"
        ),
        "{text}"
    );
    assert!(!sections[2].contains("older operation"), "{text}");

    // Alice's undo meets bob's later edit of the file her operation 3 wrote: refused,
    // nothing changes.
    let err = fails(&dirs, &["undo", "--user", "alice"], 1);
    assert_eq!(
        err,
        "error: `notes.txt` changed after operation 3 (by operation 5 of bob); undoing it would overwrite that change\n\
         hint: look at the file, then run `airun undo --user alice --force` to restore it anyway\n"
    );
    assert_eq!(read(&dirs, "notes.txt").as_deref(), Some("by bob\n"));
    // Bob takes his edit back; then alice's undo goes through.
    let summary_of = |op: i64| {
        let all = ok_json(&dirs, &["history", "--json"]);
        let o = all
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["op"] == op)
            .unwrap()
            .clone();
        format!(
            "op {op} {} ({})",
            o["summary"].as_str().unwrap(),
            o["capability"].as_str().unwrap()
        )
    };
    let line = format!("undone: {}\n", summary_of(5));
    assert_eq!(ok(&dirs, &["undo", "--user", "bob"]), line);
    assert_eq!(read(&dirs, "notes.txt").as_deref(), Some("by alice\n"));
    let line = format!("undone: {}\n", summary_of(3));
    assert_eq!(ok(&dirs, &["undo", "--user", "alice"]), line);
    assert_eq!(read(&dirs, "notes.txt"), None);
    // More steps than she has left: her last one, and a note of the rest.
    let o = dirs.cli(&["undo", "--user", "alice", "--steps", "5"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), format!("undone: {}\n", summary_of(1)));
    assert_eq!(
        stderr(&o),
        "not undone: 4 more step(s) asked for, but no other done operation of alice is left to undo\n"
    );
    assert_eq!(
        ok(&dirs, &["undo", "--user", "alice"]),
        "nothing to undo: no done operation of alice is left in this workspace\n"
    );
    // Bob's operation 2 and the operator's 4 stay.
    assert_eq!(read(&dirs, "b1.txt").as_deref(), Some("b"));
    assert_eq!(read(&dirs, "o1.txt").as_deref(), Some("o"));
    // An operation of someone else is not hers to undo.
    let err = fails(&dirs, &["undo", "--user", "bob", "--to", "1"], 2);
    assert_eq!(
        err,
        "error: operation 1 was made by alice, not by bob\n\
         hint: `airun history --user bob` lists the operations of bob\n"
    );

    // Her redo, oldest first, is not ended by the others' operations.
    assert_eq!(
        ok(&dirs, &["redo", "--user", "alice"]),
        format!("redone: {}\n", summary_of(1))
    );
    assert_eq!(read(&dirs, "a1.txt").as_deref(), Some("a"));
    assert_eq!(
        ok(&dirs, &["redo", "--user", "carol"]),
        "nothing to redo: no undone operation of carol is left in this workspace\n"
    );

    // The command line is the operator: its undo records name it, and whose operations
    // it asked for.
    let records = ok_json(&dirs, &["audit", "--json", "--limit", "100"]);
    let undos: Vec<&Value> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["capability"] == "sys.undo" && r["outcome"] == "ok")
        .collect();
    assert_eq!(undos.len(), 4);
    assert!(undos.iter().all(|r| r["principal"] == "operator"));
    assert_eq!(undos[0]["params"]["user"], "bob");
    assert_eq!(undos[1]["params"]["user"], "alice");
    assert!(ok(&dirs, &["audit", "verify"]).starts_with("audit log intact: "));
}

#[test]
fn a_users_records_are_found_in_their_own_workspace() {
    let dirs = Dirs::new();
    // carol gets a workspace of her own (under $AIRUN_HOME/users/carol); her agent's
    // records are there, not in the workspace the command line uses by default.
    let o = std::process::Command::new(support::mcp::AIRUN)
        .args(["user", "add", "carol", "--role", "agent", "--json"])
        .env("AIRUN_HOME", &dirs.home)
        .env_remove("AIRUN_WORKSPACE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let added: Value = serde_json::from_slice(&o.stdout).unwrap();
    let own = std::path::PathBuf::from(added["user"]["workspace"].as_str().unwrap());
    {
        let ws = Workspace::open(&own, false, Some(&dirs.home)).unwrap();
        let tm = Arc::new(TimeMachine::open(&dirs.home, &ws, Retention::default()).unwrap());
        let k = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default())
            .with_journal(Box::new(tm.clone()))
            .with_audit(Box::new(tm));
        write(&k, Some("carol"), "c.txt", "by carol");
    }
    // No --workspace: `--user carol` reads and acts in her workspace.
    let cli = |args: &[&str]| {
        std::process::Command::new(support::mcp::AIRUN)
            .args(args)
            .env("AIRUN_HOME", &dirs.home)
            .env("NO_COLOR", "1")
            .env_remove("AIRUN_WORKSPACE")
            .output()
            .unwrap()
    };
    let o = cli(&["audit", "--user", "carol", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let records: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ops(&records), [Some(1)], "{records}");
    let o = cli(&["history", "--user", "carol", "--json"]);
    let history: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    let o = cli(&["undo", "--user", "carol"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!own.join("c.txt").exists());
    // A workspace given on the command line is used as given: nothing of carol's there.
    let o = dirs.cli(&["audit", "--user", "carol", "--json"]);
    let records: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(records.as_array().map(Vec::len), Some(0), "{records}");
}

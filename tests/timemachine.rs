//! Undo and redo are exact for every mutating capability; the drift guard; the audit
//! chain catches tampering; the blob store deduplicates; retention.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings, UndoRequest};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use serde_json::{Value, json};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod support;
use support::snapshot::tree;

struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
    k: Pipeline<Capabilities<Stdlib>>,
    tm: Arc<TimeMachine>,
}

fn env_with(retention: Retention) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&ws).unwrap();
    seed(&ws);
    let workspace = Workspace::open(&ws, false, Some(&home)).unwrap();
    let tm = Arc::new(TimeMachine::open(&home, &workspace, retention).unwrap());
    let k = Pipeline::new(
        airun::stdlib::capabilities(),
        workspace,
        Settings::default(),
    )
    .with_journal(Box::new(tm.clone()))
    .with_audit(Box::new(tm.clone()));
    Env {
        _tmp: tmp,
        ws,
        home,
        k,
        tm,
    }
}

fn env() -> Env {
    env_with(Retention::default())
}

/// A tree with modes, nesting and links, to make every undo prove something.
fn seed(ws: &Path) {
    std::fs::create_dir_all(ws.join("src/deep/er")).unwrap();
    std::fs::write(ws.join("notes.txt"), "first line\nsecond line\n").unwrap();
    std::fs::write(ws.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(ws.join("src/deep/secret.key"), "k3y").unwrap();
    std::fs::set_permissions(
        ws.join("src/deep/secret.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(ws.join("src/deep/er/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        ws.join("src/deep/er/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        ws.join("src/deep/er"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    symlink("../main.rs", ws.join("src/deep/main-link")).unwrap();
    std::fs::create_dir_all(ws.join("target")).unwrap();
    std::fs::write(ws.join("target/old.txt"), "old contents").unwrap();
}

impl Env {
    fn call(&self, id: &str, args: Value) -> Result<Value, airun::CapError> {
        self.k
            .execute(id, args, &FlagConfirmer, CallOptions::default())
    }

    fn undo(&self, steps: usize) -> Result<Vec<airun::pipeline::OpInfo>, airun::CapError> {
        self.k.journal().undo(
            self.k.workspace(),
            UndoRequest {
                steps,
                to: None,
                force: false,
                session: None,
                principal: None,
            },
        )
    }

    fn redo(&self, steps: usize) -> Vec<airun::pipeline::OpInfo> {
        self.k.journal().redo(self.k.workspace(), steps).unwrap()
    }
}

/// Runs an op, then checks undo gives back the exact before-tree and redo the after-tree.
fn round_trip(id: &str, args: Value) {
    let e = env();
    let before = tree(&e.ws);
    e.call(id, args.clone())
        .unwrap_or_else(|err| panic!("{id} {args}: {err:?}"));
    let after = tree(&e.ws);
    assert_ne!(before, after, "{id} {args} changed nothing");
    let undone = e.undo(1).unwrap();
    assert_eq!(undone.len(), 1);
    assert_eq!(undone[0].capability, id);
    assert_eq!(tree(&e.ws), before, "undo of {id} {args} is not exact");
    let redone = e.redo(1);
    assert_eq!(redone.len(), 1);
    assert_eq!(tree(&e.ws), after, "redo of {id} {args} is not exact");
    assert_eq!(e.undo(1).unwrap().len(), 1);
    assert_eq!(
        tree(&e.ws),
        before,
        "second undo of {id} {args} is not exact"
    );
}

#[test]
fn write_file_overwrite_is_undone_exactly() {
    round_trip(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "replaced"}),
    );
}

#[test]
fn write_file_overwrite_of_a_private_file_keeps_its_mode_through_undo() {
    round_trip(
        "io.fs.write_file",
        json!({"path": "src/deep/secret.key", "content": "new key"}),
    );
}

#[test]
fn write_file_append_is_undone_exactly() {
    round_trip(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "third\n", "mode": "append"}),
    );
}

#[test]
fn write_file_create_new_is_undone_exactly() {
    round_trip(
        "io.fs.write_file",
        json!({"path": "fresh.txt", "content": "new", "mode": "create_new"}),
    );
}

#[test]
fn write_file_with_created_folders_removes_the_folders_on_undo() {
    round_trip(
        "io.fs.write_file",
        json!({"path": "a/b/c/new.txt", "content": "x", "create_dirs": true}),
    );
}

#[test]
fn make_dir_with_parents_removes_every_created_parent_on_undo() {
    round_trip("io.fs.make_dir", json!({"path": "x/y/z", "parents": true}));
}

#[test]
fn delete_of_a_file_is_undone_exactly() {
    round_trip("io.fs.delete", json!({"path": "src/deep/secret.key"}));
}

#[test]
fn delete_of_a_tree_restores_bytes_modes_and_links() {
    round_trip("io.fs.delete", json!({"path": "src", "recursive": true}));
}

#[test]
fn delete_of_a_symlink_restores_the_link() {
    round_trip("io.fs.delete", json!({"path": "src/deep/main-link"}));
}

#[test]
fn move_is_undone_exactly() {
    round_trip(
        "io.fs.move",
        json!({"source": "src/deep", "destination": "moved"}),
    );
}

#[test]
fn move_over_an_existing_file_restores_the_overwritten_destination() {
    round_trip(
        "io.fs.move",
        json!({"source": "notes.txt", "destination": "src/main.rs", "overwrite": true}),
    );
}

#[test]
fn copy_of_a_tree_is_removed_on_undo() {
    round_trip(
        "io.fs.copy",
        json!({"source": "src", "destination": "copy-of-src"}),
    );
}

#[test]
fn copy_over_an_existing_tree_restores_the_overwritten_destination() {
    round_trip(
        "io.fs.copy",
        json!({"source": "src", "destination": "target", "overwrite": true}),
    );
}

#[test]
fn read_only_calls_write_no_journal() {
    let e = env();
    e.call("io.fs.read_file", json!({"path": "notes.txt"}))
        .unwrap();
    e.call("io.fs.list_dir", json!({})).unwrap();
    assert!(e.k.journal().history(10).unwrap().is_empty());
    assert_eq!(
        e.tm.audit_records(None).unwrap().len(),
        2,
        "but every call is audited"
    );
}

#[test]
fn a_failed_call_leaves_no_operation_and_changes_nothing() {
    let e = env();
    let before = tree(&e.ws);
    let err = e
        .call(
            "io.fs.write_file",
            json!({"path": "notes.txt", "content": "x", "mode": "create_new"}),
        )
        .unwrap_err();
    assert_eq!(err.kind, airun::ErrorKind::AlreadyExists);
    assert_eq!(tree(&e.ws), before);
    assert!(e.k.journal().history(10).unwrap().is_empty());
    let audit = e.tm.audit_records(None).unwrap();
    assert_eq!(audit.last().unwrap().outcome, "already_exists");
}

#[test]
fn drift_guard_refuses_to_clobber_a_later_edit_and_force_overrides() {
    let e = env();
    e.call(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "by the model"}),
    )
    .unwrap();
    std::fs::write(e.ws.join("notes.txt"), "edited by a person").unwrap();
    let err = e.undo(1).unwrap_err();
    assert_eq!(
        err.message,
        "`notes.txt` changed after operation 1; undoing it would overwrite that change",
        "a person's edit, not an operation's"
    );
    assert!(err.hint.unwrap().contains("--force"));
    assert_eq!(
        std::fs::read_to_string(e.ws.join("notes.txt")).unwrap(),
        "edited by a person"
    );
    let forced =
        e.k.journal()
            .undo(
                e.k.workspace(),
                UndoRequest {
                    steps: 1,
                    to: None,
                    force: true,
                    session: None,
                    principal: None,
                },
            )
            .unwrap();
    assert_eq!(forced.len(), 1);
    assert_eq!(
        std::fs::read_to_string(e.ws.join("notes.txt")).unwrap(),
        "first line\nsecond line\n"
    );
}

#[test]
fn history_lists_ops_with_summaries_and_states_and_survives_reopening() {
    let e = env();
    e.call(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "0123456789"}),
    )
    .unwrap();
    e.call("io.fs.make_dir", json!({"path": "newdir"})).unwrap();
    e.undo(1).unwrap();
    let h = e.k.journal().history(10).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].capability, "io.fs.make_dir");
    assert_eq!(h[0].state, "undone");
    assert_eq!(h[1].state, "done");
    assert_eq!(h[1].summary, "write notes.txt (-13 B)");
    // A second time machine on the same state (another process, a restart) sees it.
    let ws2 = Workspace::open(&e.ws, false, Some(&e.home)).unwrap();
    let tm2 = TimeMachine::open(&e.home, &ws2, Retention::default()).unwrap();
    use airun::pipeline::Journal;
    assert_eq!(tm2.history(10).unwrap(), h);
}

#[test]
fn undo_to_an_op_undoes_everything_after_it() {
    let e = env();
    let before = tree(&e.ws);
    for i in 0..3 {
        e.call(
            "io.fs.write_file",
            json!({"path": format!("f{i}.txt"), "content": "x"}),
        )
        .unwrap();
    }
    let first = e.k.journal().history(10).unwrap().last().unwrap().op;
    let undone =
        e.k.journal()
            .undo(
                e.k.workspace(),
                UndoRequest {
                    steps: 1,
                    to: Some(first),
                    force: false,
                    session: None,
                    principal: None,
                },
            )
            .unwrap();
    assert_eq!(undone.len(), 3);
    assert_eq!(tree(&e.ws), before);
}

/// Through the library API: calls carry their session, `sessions()` sums them up, and an
/// undo of one session takes back only its operations, newest first, even interleaved
/// with another session's.
#[test]
fn undo_of_a_session_takes_back_only_its_interleaved_operations() {
    use airun::hooks::{Session, Transport};
    let e = env();
    let mut a = Session::new(Transport::Http);
    a.client_name = Some("editor".into());
    a.client_version = Some("2.1".into());
    let b = Session::new(Transport::Stdio);
    assert_ne!(a.id, b.id);
    let call = |s: &Session, args: Value| {
        let options = CallOptions {
            session: Some(s),
            ..CallOptions::default()
        };
        e.k.execute("io.fs.write_file", args, &FlagConfirmer, options)
            .unwrap();
    };
    let before = tree(&e.ws);
    call(&a, json!({"path": "a1.txt", "content": "a"}));
    call(&b, json!({"path": "b1.txt", "content": "b"}));
    call(&a, json!({"path": "notes.txt", "content": "by a\n"}));
    let after_b = {
        call(&b, json!({"path": "b2.txt", "content": "b"}));
        tree(&e.ws)
    };
    // A read records no operation, so no session either.
    let options = CallOptions {
        session: Some(&b),
        ..CallOptions::default()
    };
    e.k.execute(
        "io.fs.read_file",
        json!({"path": "b1.txt"}),
        &FlagConfirmer,
        options,
    )
    .unwrap();

    let sessions = e.k.journal().sessions().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].session, b.id, "most recently active first");
    assert_eq!(sessions[1].session, a.id);
    assert_eq!(sessions[1].transport, Transport::Http);
    assert_eq!(sessions[1].client_name.as_deref(), Some("editor"));
    assert_eq!(sessions[1].client_version.as_deref(), Some("2.1"));
    assert_eq!((sessions[1].ops, sessions[1].undoable), (2, 2));
    let of_a: Vec<i64> =
        e.k.journal()
            .session_history(&a.id, 10)
            .unwrap()
            .iter()
            .map(|o| o.op)
            .collect();
    assert_eq!(of_a, vec![3, 1]);
    // The model sees the sessions too.
    let h = e.call("sys.history", json!({"limit": 10})).unwrap();
    let seen: Vec<&str> = h["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["session"].as_str().unwrap())
        .collect();
    assert_eq!(seen, [&b.id, &a.id, &b.id, &a.id]);

    let undone =
        e.k.journal()
            .undo(
                e.k.workspace(),
                UndoRequest {
                    session: Some(a.id.clone()),
                    ..UndoRequest::default()
                },
            )
            .unwrap();
    let ids: Vec<i64> = undone.iter().map(|o| o.op).collect();
    assert_eq!(ids, vec![3, 1], "newest first");
    assert!(undone.iter().all(|o| o.session.as_deref() == Some(&a.id)));
    // Exactly the tree before A, plus what B wrote.
    let mut expected = before.clone();
    for f in ["b1.txt", "b2.txt"] {
        let p = PathBuf::from(f);
        expected.0.insert(p.clone(), after_b.0[&p].clone());
    }
    support::snapshot::assert_snap(&tree(&e.ws), &expected, "after undoing session a");
    let sessions = e.k.journal().sessions().unwrap();
    assert_eq!((sessions[1].ops, sessions[1].undoable), (2, 0));
    assert_eq!((sessions[0].ops, sessions[0].undoable), (2, 2));
}

/// Two principals and the operator sharing one workspace, through the library API:
/// every operation and audit record names who made it, history and counts by principal,
/// an undo of one principal takes back only theirs (newest first among theirs), and the
/// drift guard refuses to overwrite a file another principal changed after it, unless
/// forced.
#[test]
fn undo_of_one_principal_leaves_the_others_and_the_drift_guard_protects_their_edit() {
    use airun::pipeline::OpInfo;
    let e = env();
    let call = |who: Option<&str>, path: &str, content: &str| {
        let options = CallOptions {
            principal: who,
            ..CallOptions::default()
        };
        e.k.execute(
            "io.fs.write_file",
            json!({"path": path, "content": content}),
            &FlagConfirmer,
            options,
        )
        .unwrap();
    };
    let ids = |ops: &[OpInfo]| ops.iter().map(|o| o.op).collect::<Vec<_>>();
    let undo = |who: &str, force: bool| {
        e.k.journal().undo(
            e.k.workspace(),
            UndoRequest {
                steps: 1,
                force,
                principal: Some(who.to_string()),
                ..UndoRequest::default()
            },
        )
    };
    let read = |p: &str| std::fs::read_to_string(e.ws.join(p)).unwrap();
    call(Some("alice"), "a1.txt", "a"); // op 1
    call(Some("bob"), "b1.txt", "b"); // op 2
    call(Some("alice"), "notes.txt", "by alice\n"); // op 3
    call(None, "o1.txt", "o"); // op 4: the operator

    let j = e.k.journal();
    let all = j.history(10).unwrap();
    let who: Vec<&str> = all.iter().map(|o| o.principal.as_str()).collect();
    assert_eq!(who, ["operator", "alice", "bob", "alice"]);
    assert_eq!(ids(&j.history_of(Some("alice"), 10).unwrap()), [3, 1]);
    assert_eq!(ids(&j.history_of(Some("bob"), 10).unwrap()), [2]);
    assert_eq!(ids(&j.history_of(Some("operator"), 10).unwrap()), [4]);
    assert!(j.history_of(Some("carol"), 10).unwrap().is_empty());
    let counts: Vec<(String, usize, usize)> = j
        .principals()
        .unwrap()
        .into_iter()
        .map(|p| (p.principal, p.ops, p.undoable))
        .collect();
    assert_eq!(
        counts,
        [
            ("alice".into(), 2, 2),
            ("bob".into(), 1, 1),
            ("operator".into(), 1, 1)
        ]
    );
    // Every audit record names its principal, and the chain covers it.
    let audit = e.tm.audit_records(None).unwrap();
    let who: Vec<&str> = audit.iter().map(|r| r.principal.as_str()).collect();
    assert_eq!(who, ["alice", "bob", "alice", "operator"]);
    let of_alice = e.tm.audit_records_of(Some("alice"), None).unwrap();
    assert_eq!(
        of_alice.iter().map(|r| r.op.unwrap()).collect::<Vec<_>>(),
        [1, 3]
    );
    let page =
        e.tm.audit_page(&airun::timemachine::audit::AuditQuery {
            limit: 10,
            principal: Some("bob".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].op, Some(2));
    assert_eq!(e.tm.audit_verify().unwrap(), Ok(4));

    // Alice's undo takes back her newest operation; bob's and the operator's later ones
    // stay.
    assert_eq!(ids(&undo("alice", false).unwrap()), [3]);
    assert_eq!(read("notes.txt"), "first line\nsecond line\n");
    assert_eq!((read("b1.txt"), read("o1.txt")), ("b".into(), "o".into()));
    // Her redo is not ended by the others' later operations.
    assert!(j.redo(e.k.workspace(), 1).unwrap().is_empty());
    assert_eq!(
        ids(&j.redo_of(e.k.workspace(), 1, Some("alice")).unwrap()),
        [3]
    );
    assert_eq!(read("notes.txt"), "by alice\n");

    // Bob edits the file alice's operation 3 wrote: her undo is refused, naming the file,
    // and changes nothing.
    call(Some("bob"), "notes.txt", "by bob\n"); // op 5
    let before = tree(&e.ws);
    let err = undo("alice", false).unwrap_err();
    assert_eq!(
        err.message,
        "`notes.txt` changed after operation 3 (by operation 5 of bob); undoing it would overwrite that change"
    );
    assert_eq!(
        err.hint.as_deref(),
        Some("look at the file, then run `airun undo --user alice --force` to restore it anyway")
    );
    assert_eq!(tree(&e.ws), before);
    assert_eq!(j.history_of(Some("alice"), 1).unwrap()[0].state, "done");
    // Forced, it restores the file as it was before operation 3 (bob's edit is lost, as
    // --force says); bob's operations stay done.
    assert_eq!(ids(&undo("alice", true).unwrap()), [3]);
    assert_eq!(read("notes.txt"), "first line\nsecond line\n");
    let bobs = j.history_of(Some("bob"), 10).unwrap();
    assert!(bobs.iter().all(|o| o.state == "done"), "{bobs:?}");
    // Alice's next undo takes her operation 1, past bob's and the operator's.
    assert_eq!(ids(&undo("alice", false).unwrap()), [1]);
    assert!(!e.ws.join("a1.txt").exists());
    assert!(undo("alice", false).unwrap().is_empty());
    assert!(e.ws.join("b1.txt").exists() && e.ws.join("o1.txt").exists());
    assert_eq!(e.tm.audit_verify().unwrap(), Ok(5));
}

#[test]
fn a_new_change_after_undo_ends_the_redo_chain() {
    let e = env();
    e.call("io.fs.write_file", json!({"path": "a.txt", "content": "1"}))
        .unwrap();
    e.undo(1).unwrap();
    e.call("io.fs.write_file", json!({"path": "b.txt", "content": "2"}))
        .unwrap();
    assert!(
        e.redo(1).is_empty(),
        "redo after a new change must not re-apply the old op"
    );
    assert!(!e.ws.join("a.txt").exists());
}

#[test]
fn sys_undo_and_sys_history_let_the_model_take_back_its_change() {
    let e = env();
    let before = tree(&e.ws);
    e.call("io.fs.delete", json!({"path": "src", "recursive": true}))
        .unwrap();
    let h = e.call("sys_history", json!({"limit": 5})).unwrap();
    assert_eq!(h["ops"][0]["capability"], "io.fs.delete");
    assert_eq!(h["ops"][0]["state"], "done");
    let u = e.call("sys.undo", json!({})).unwrap();
    assert_eq!(u["undone"][0]["capability"], "io.fs.delete");
    assert_eq!(u["remaining"], 0);
    assert_eq!(tree(&e.ws), before);
    // sys.undo is a move through the journal, not an operation of its own.
    assert_eq!(e.k.journal().history(10).unwrap().len(), 1);
}

/// Called by a user, the model's `sys.history` and `sys.undo` see only that user's
/// operations (the operator's see everyone's), and the journal lists each user's sessions.
#[test]
fn sys_history_and_sys_undo_act_on_the_callers_own_operations() {
    use airun::hooks::{Session, Transport};
    let e = env();
    let sa = Session::new(Transport::Http);
    let sb = Session::new(Transport::Http);
    let call = |who: Option<&str>, session: Option<&Session>, id: &str, args: Value| {
        let options = CallOptions {
            principal: who,
            session,
            ..CallOptions::default()
        };
        e.k.execute(id, args, &FlagConfirmer, options).unwrap()
    };
    let write = |who, session, path: &str| {
        call(
            who,
            session,
            "io.fs.write_file",
            json!({"path": path, "content": path}),
        )
    };
    write(Some("alice"), Some(&sa), "a1.txt"); // op 1
    write(Some("bob"), Some(&sb), "b1.txt"); // op 2
    write(Some("alice"), Some(&sa), "a2.txt"); // op 3
    write(None, None, "o1.txt"); // op 4
    let seen = |who| -> Vec<i64> {
        let h = call(who, None, "sys.history", json!({"limit": 10}));
        h["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["op"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(seen(Some("alice")), [3, 1]);
    assert_eq!(seen(Some("bob")), [2]);
    assert_eq!(seen(None), [4, 3, 2, 1]);
    assert_eq!(seen(Some("operator")), [4, 3, 2, 1], "the operator by name");
    // Each operation names who made it.
    let h = call(None, None, "sys.history", json!({"limit": 10}));
    let by: Vec<&str> = h["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["principal"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["operator", "alice", "bob", "alice"]);

    let sessions = e.k.journal().sessions_of(Some("alice")).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].session.as_str(), sessions[0].ops),
        (&*sa.id, 2)
    );
    assert_eq!(sessions[0].principal, "alice");
    let all = e.k.journal().sessions_of(None).unwrap();
    let who: Vec<&str> = all.iter().map(|s| s.principal.as_str()).collect();
    assert_eq!(who, ["alice", "bob"]);

    // Alice's model undoes as many steps as it asks for, of hers only.
    let u = call(Some("alice"), None, "sys.undo", json!({"steps": 5}));
    let undone: Vec<i64> = u["undone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_i64().unwrap())
        .collect();
    assert_eq!(undone, [3, 1]);
    assert_eq!(u["remaining"], 0, "none of hers is left");
    assert!(!e.ws.join("a1.txt").exists() && !e.ws.join("a2.txt").exists());
    assert!(e.ws.join("b1.txt").exists() && e.ws.join("o1.txt").exists());
    let u = call(Some("bob"), None, "sys.undo", json!({}));
    assert_eq!(u["undone"][0]["op"], 2);
    assert_eq!(u["remaining"], 0);
    assert!(e.ws.join("o1.txt").exists());
    // Every record of the calls names its caller.
    let who: Vec<String> =
        e.tm.audit_records(None)
            .unwrap()
            .into_iter()
            .filter(|r| r.capability == "sys.undo")
            .map(|r| r.principal)
            .collect();
    assert_eq!(who, ["alice", "bob"]);
}

/// The servers' journal (the time machine opened off the start-up path) answers by
/// principal too.
#[test]
fn the_deferred_journal_answers_by_principal() {
    use airun::timemachine::Deferred;
    let tmp = tempfile::tempdir().unwrap();
    let (ws, home) = (tmp.path().join("ws"), tmp.path().join("home"));
    std::fs::create_dir_all(&ws).unwrap();
    let workspace = Workspace::open(&ws, false, Some(&home)).unwrap();
    let tm = Arc::new(Deferred::new(home, &workspace, Retention::default()).unwrap());
    let k = Pipeline::new(
        airun::stdlib::capabilities(),
        workspace,
        Settings::default(),
    )
    .with_journal(Box::new(tm.clone()))
    .with_audit(Box::new(tm));
    for who in ["alice", "bob", "alice"] {
        let options = CallOptions {
            principal: Some(who),
            ..CallOptions::default()
        };
        let args = json!({"path": format!("{who}.txt"), "content": who});
        k.execute("io.fs.write_file", args, &FlagConfirmer, options)
            .unwrap();
    }
    let j = k.journal();
    let ids: Vec<i64> = j
        .history_of(Some("alice"), 10)
        .unwrap()
        .iter()
        .map(|o| o.op)
        .collect();
    assert_eq!(ids, [3, 1]);
    let counts: Vec<(String, usize)> = j
        .principals()
        .unwrap()
        .into_iter()
        .map(|p| (p.principal, p.ops))
        .collect();
    assert_eq!(counts, [("alice".into(), 2), ("bob".into(), 1)]);
    let undone = j
        .undo(
            k.workspace(),
            UndoRequest {
                steps: 1,
                principal: Some("bob".into()),
                ..UndoRequest::default()
            },
        )
        .unwrap();
    assert_eq!(undone[0].op, 2);
    let redone = j.redo_of(k.workspace(), 1, Some("bob")).unwrap();
    assert_eq!(redone[0].op, 2);
}

/// A change a crash interrupted (its journal left between intent and commit, as a kill
/// leaves it) is rolled back at the next start, and that record is in the name of the
/// principal whose call it was.
#[test]
fn an_interrupted_change_is_recovered_in_its_principals_name() {
    let e = env();
    let before = tree(&e.ws);
    let options = CallOptions {
        principal: Some("alice"),
        ..CallOptions::default()
    };
    e.k.execute(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "half done"}),
        &FlagConfirmer,
        options,
    )
    .unwrap();
    e.tm.raw_sql("UPDATE ops SET state = 'running' WHERE id = 1")
        .unwrap();
    let ws = Workspace::open(&e.ws, false, Some(&e.home)).unwrap();
    let tm = TimeMachine::open(&e.home, &ws, Retention::default()).unwrap();
    assert_eq!(tree(&e.ws), before, "rolled back");
    let last = tm.audit_records(Some(1)).unwrap().pop().unwrap();
    assert_eq!(
        (last.decision.as_str(), last.op, last.principal.as_str()),
        ("recovered", Some(1), "alice")
    );
    assert_eq!(tm.audit_verify().unwrap(), Ok(2));
}

#[test]
fn sys_undo_is_refused_in_read_only_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&tmp.path().join("ws"), true, None).unwrap();
    let settings = Settings {
        read_only: true,
        ..Settings::default()
    };
    let k = Pipeline::new(airun::stdlib::capabilities(), ws, settings);
    let err = k
        .execute(
            "sys.undo",
            json!({}),
            &FlagConfirmer,
            CallOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind, airun::ErrorKind::DeniedPolicy);
}

#[test]
fn same_content_twice_costs_one_blob() {
    let e = env();
    let base = e.tm.blobs().list().unwrap().len();
    let big = "same content ".repeat(1000);
    e.call(
        "io.fs.write_file",
        json!({"path": "one.txt", "content": big}),
    )
    .unwrap();
    let after_one = e.tm.blobs().list().unwrap().len();
    assert_eq!(after_one, base + 1, "the new content is one blob");
    e.call(
        "io.fs.write_file",
        json!({"path": "two.txt", "content": big}),
    )
    .unwrap();
    assert_eq!(
        e.tm.blobs().list().unwrap().len(),
        after_one,
        "the same content again costs no blob"
    );
}

#[test]
fn retention_expires_the_oldest_undo_points_and_gc_removes_their_blobs() {
    let e = env_with(Retention {
        max_ops: 2,
        max_bytes: u64::MAX,
    });
    for i in 0..4 {
        e.call(
            "io.fs.write_file",
            json!({"path": "notes.txt", "content": format!("version {i}")}),
        )
        .unwrap();
    }
    let h = e.k.journal().history(10).unwrap();
    let states: Vec<&str> = h.iter().map(|o| o.state.as_str()).collect();
    assert_eq!(states, ["done", "done", "expired", "expired"]);
    assert_eq!(
        e.undo(10).unwrap().len(),
        2,
        "only the kept undo points can be undone"
    );
    assert_eq!(
        std::fs::read_to_string(e.ws.join("notes.txt")).unwrap(),
        "version 1"
    );
    let report = e.tm.gc().unwrap();
    assert_eq!(report.expired_ops, 0);
    assert_eq!(
        e.tm.audit_records(None).unwrap().len(),
        4,
        "gc never trims the audit log"
    );
}

fn audited_env() -> Env {
    let e = env();
    e.call(
        "io.fs.write_file",
        json!({"path": "a.txt", "content": "secret text"}),
    )
    .unwrap();
    e.call("io.fs.read_file", json!({"path": "a.txt"})).unwrap();
    e.call("io.fs.read_file", json!({"path": "/etc/passwd"}))
        .unwrap_err();
    e.call("io.fs.exists", json!({"path": "a.txt"})).unwrap();
    assert_eq!(e.tm.audit_verify().unwrap(), Ok(4));
    e
}

#[test]
fn audit_records_every_decision_and_redacts_sensitive_inputs() {
    let e = audited_env();
    let r = e.tm.audit_records(None).unwrap();
    assert_eq!(r[0].decision, "approved_by_flag");
    assert_eq!(r[0].params["content"], "<redacted>");
    assert!(r[0].op.is_some());
    assert_eq!(r[1].decision, "allowed");
    assert_eq!(r[2].decision, "denied_sandbox");
    assert_eq!(r[2].outcome, "denied_sandbox");
    assert!(
        r.iter()
            .all(|x| !x.user.is_empty() || std::env::var("USER").is_err())
    );
    assert_eq!(r[1].prev_hash, r[0].hash);
}

#[test]
fn audit_verify_catches_an_edited_record() {
    let e = audited_env();
    e.tm.raw_sql("UPDATE audit SET decision = 'allowed' WHERE seq = 3")
        .unwrap();
    let bad = e.tm.audit_verify().unwrap().unwrap_err();
    assert!(bad.contains("record 3"), "{bad}");
}

#[test]
fn audit_verify_catches_a_deleted_record() {
    let e = audited_env();
    e.tm.raw_sql("DELETE FROM audit WHERE seq = 2").unwrap();
    let bad = e.tm.audit_verify().unwrap().unwrap_err();
    assert!(bad.contains("record 2"), "{bad}");
}

#[test]
fn audit_verify_catches_a_deleted_last_record() {
    let e = audited_env();
    e.tm.raw_sql("DELETE FROM audit WHERE seq = 4").unwrap();
    let bad = e.tm.audit_verify().unwrap().unwrap_err();
    assert!(bad.contains("removed"), "{bad}");
}

#[test]
fn audit_verify_catches_reordered_records() {
    let e = audited_env();
    // Swap records 2 and 3 wholesale, keeping their own hashes.
    e.tm.raw_sql(
        "UPDATE audit SET seq = -2 WHERE seq = 2;
         UPDATE audit SET seq = 2 WHERE seq = 3;
         UPDATE audit SET seq = 3 WHERE seq = -2;",
    )
    .unwrap();
    let bad = e.tm.audit_verify().unwrap().unwrap_err();
    assert!(bad.contains("record 2"), "{bad}");
}

#[test]
fn state_lives_outside_the_workspace_and_is_refused_when_inside() {
    let e = env();
    assert!(!e.tm.dir().starts_with(&e.ws));
    // A workspace that contains airun's home: the home is off limits.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join(".ai-first");
    std::fs::create_dir_all(home.join("state")).unwrap();
    std::fs::write(home.join("policy.toml"), "read_only = false\n").unwrap();
    let ws = Workspace::open(tmp.path(), false, Some(&home)).unwrap();
    let k = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    let call = |id: &str, args: Value| k.execute(id, args, &FlagConfirmer, CallOptions::default());
    for (id, args) in [
        ("io.fs.read_file", json!({"path": ".ai-first/policy.toml"})),
        (
            "io.fs.write_file",
            json!({"path": ".ai-first/policy.toml", "content": "read_only = true"}),
        ),
        (
            "io.fs.delete",
            json!({"path": ".ai-first", "recursive": true}),
        ),
        ("io.fs.list_dir", json!({"path": ".ai-first/state"})),
    ] {
        let err = call(id, args).unwrap_err();
        assert_eq!(err.kind, airun::ErrorKind::DeniedSandbox, "{id}");
    }
    assert_eq!(
        std::fs::read_to_string(home.join("policy.toml")).unwrap(),
        "read_only = false\n"
    );
    let listing = call("io.fs.list_dir", json!({"include_hidden": true})).unwrap();
    assert!(
        !listing.to_string().contains(".ai-first"),
        "the state folder is hidden: {listing}"
    );
}

/// Concurrent changes share durable audit batches (group commit), yet the record of each
/// is in the database (read through a connection of its own) before its call answers,
/// and the chain holds.
#[test]
fn concurrent_changes_are_each_on_record_before_their_answer() {
    let e = env();
    let db = e.tm.dir().join("airun.db");
    std::thread::scope(|s| {
        for t in 0..8 {
            let (e, db) = (&e, &db);
            s.spawn(move || {
                let conn = rusqlite::Connection::open(db).unwrap();
                for i in 0..5 {
                    let path = format!("c/{t}-{i}.txt");
                    e.call(
                        "io.fs.write_file",
                        json!({"path": path, "content": format!("{t} {i}"), "create_dirs": true}),
                    )
                    .unwrap();
                    let on_record: i64 = conn
                        .query_row(
                            "SELECT COUNT(*) FROM audit WHERE json_extract(params, '$.path') = ?1 AND op IS NOT NULL AND outcome = 'ok'",
                            [&path],
                            |r| r.get(0),
                        )
                        .unwrap();
                    assert_eq!(on_record, 1, "{path} answered before its audit record");
                }
            });
        }
    });
    assert_eq!(e.tm.audit_verify().unwrap(), Ok(40));
    assert_eq!(e.k.journal().history(100).unwrap().len(), 40);
}

/// A read never waits for the workspace's operation lock: with the lock held by another
/// process (here, the test holding the lock file), a read answers while a change waits,
/// and the change goes through once the lock is let go.
#[test]
fn a_read_answers_while_the_operation_lock_is_held_and_a_change_waits() {
    use std::sync::mpsc;
    use std::time::Duration;
    let e = env();
    let lock = std::fs::File::options()
        .write(true)
        .open(e.tm.dir().join("lock"))
        .unwrap();
    lock.lock().unwrap();
    std::thread::scope(|s| {
        let (read_tx, read_rx) = mpsc::channel();
        let (write_tx, write_rx) = mpsc::channel();
        let e = &e;
        s.spawn(move || {
            let r = e.call("io.fs.read_file", json!({"path": "notes.txt"}));
            read_tx.send(r.is_ok()).unwrap();
        });
        s.spawn(move || {
            let r = e.call(
                "io.fs.write_file",
                json!({"path": "notes.txt", "content": "changed\n"}),
            );
            write_tx.send(r.is_ok()).unwrap();
        });
        // Generous bounds: this checks that the read is not held up, not how fast it is.
        assert_eq!(read_rx.recv_timeout(Duration::from_secs(60)), Ok(true));
        assert_eq!(
            write_rx.recv_timeout(Duration::from_millis(300)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "a change went through while another process held the operation lock"
        );
        assert_eq!(
            std::fs::read_to_string(e.ws.join("notes.txt")).unwrap(),
            "first line\nsecond line\n"
        );
        lock.unlock().unwrap();
        assert_eq!(write_rx.recv_timeout(Duration::from_secs(60)), Ok(true));
    });
    assert_eq!(
        std::fs::read_to_string(e.ws.join("notes.txt")).unwrap(),
        "changed\n"
    );
}

/// Changes to files apart run at once; whatever interleaving they ran in, undoing all of
/// them, newest first, gives back the workspace as it was, byte for byte: each one's
/// images are its own. Some threads share files and folders (created on the way), which
/// their claims order.
#[test]
fn concurrent_changes_to_files_apart_and_alike_all_undo_to_the_start() {
    let e = env();
    let before = tree(&e.ws);
    std::thread::scope(|s| {
        for t in 0..6 {
            let e = &e;
            s.spawn(move || {
                for i in 0..12 {
                    // A file of its own written again and again (each before-image is
                    // the content before, stored by another of its changes), a file
                    // every thread writes, and a folder two threads create files in.
                    let path = match i % 3 {
                        0 => format!("own/{t}.txt"),
                        1 => "notes.txt".to_string(),
                        _ => format!("pair{}/{t}-{i}.txt", t / 2),
                    };
                    e.call(
                        "io.fs.write_file",
                        json!({"path": path, "content": format!("{t} {i}\n"), "create_dirs": true}),
                    )
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(e.k.journal().history(100).unwrap().len(), 72);
    assert_eq!(e.tm.audit_verify().unwrap(), Ok(72));
    let undone = e.undo(72).unwrap();
    assert_eq!(undone.len(), 72);
    assert_eq!(
        tree(&e.ws),
        before,
        "undoing every change did not give the start back"
    );
}

/// A change whose thread unwinds between its intent and its commit (its journal op is
/// dropped unfinished, the file already changed) is rolled back before the next change
/// runs, even while another change keeps this process's hold on the lock.
#[test]
fn a_change_dropped_unfinished_is_rolled_back_before_the_next_one() {
    use airun::Access;
    use airun::hooks::{CallIntent, Journal};
    let e = env();
    let cap = e.k.find("io.fs.write_file").unwrap();
    let ws = e.k.workspace();
    let begin = |path: &str| {
        let target = ws
            .resolve(&airun::WsPath::from_spec(path), Access::Write)
            .unwrap();
        let params = json!({"path": path});
        let intent = CallIntent {
            capability: cap,
            params: &params,
            undo_targets: vec![("path", target)],
            session: None,
            principal: "operator",
        };
        e.tm.begin(ws, &intent).unwrap().unwrap()
    };
    let held = begin("held.txt");
    let op = begin("notes.txt");
    std::fs::write(e.ws.join("notes.txt"), "half written").unwrap();
    drop(op);
    std::thread::scope(|s| {
        let next = s.spawn(|| {
            e.call(
                "io.fs.write_file",
                json!({"path": "other.txt", "content": "next\n"}),
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!next.is_finished(), "a change ran before the rollback");
        held.finish(ws, Ok(&json!({}))).unwrap();
        next.join().unwrap().unwrap();
    });
    assert_eq!(
        std::fs::read_to_string(e.ws.join("notes.txt")).unwrap(),
        "first line\nsecond line\n",
        "the unfinished change was not rolled back"
    );
}

/// Undo points expired by retention leave blobs no image refers to; they are removed
/// without `gc`, a few expiries later, when the lock is next taken with no change under
/// way: the store stays near what the kept undo points need.
#[test]
fn the_blobs_of_expired_undo_points_are_removed_without_gc() {
    let e = env_with(Retention {
        max_ops: 4,
        max_bytes: u64::MAX,
    });
    // Contents over 64 KiB are blob files, each one new.
    let big = |i: usize| format!("{i:08}\n").repeat(10_000);
    for i in 0..40 {
        e.call(
            "io.fs.write_file",
            json!({"path": "notes.txt", "content": big(i)}),
        )
        .unwrap();
    }
    let kept =
        e.k.journal()
            .history(100)
            .unwrap()
            .iter()
            .filter(|o| o.state.as_str() == "done")
            .count();
    assert!(kept <= 4, "{kept} undo points kept");
    let files = e.tm.blobs().list().unwrap().len();
    // Each kept write refers to two contents; a sweep is due every few expiries.
    assert!(
        files <= 2 * kept + 8,
        "{files} blobs stored for {kept} undo points: expired ones were not removed"
    );
    assert_eq!(e.tm.gc().unwrap().expired_ops, 0);
    assert_eq!(e.undo(10).unwrap().len(), kept);
}

/// A change's files are synced once changes pause: the list of changes whose files may
/// not be on disk yet empties on its own, with no later call.
#[test]
fn the_list_of_unsynced_changes_empties_once_changes_pause() {
    let e = env();
    e.call(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "new\n"}),
    )
    .unwrap();
    let db = rusqlite::Connection::open(e.tm.dir().join("airun.db")).unwrap();
    let listed = || -> i64 {
        db.query_row("SELECT COUNT(*) FROM unsynced_changes", [], |r| r.get(0))
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while listed() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the change is still listed as unsynced 30 s after it"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(std::fs::read(e.ws.join("notes.txt")).unwrap(), b"new\n");
}

/// Under steady changes a server's write-ahead log is written again from its start after
/// each checkpoint round, so the file stops growing: a log that only grows makes every
/// commit allocate blocks and write the file's size to disk as well.
#[test]
fn a_servers_log_is_written_again_from_its_start_under_steady_changes() {
    let e = env();
    e.tm.checkpoint_in_background().unwrap();
    let wal = e.tm.dir().join("airun.db-wal");
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let write = |i: usize| {
        e.call(
            "io.fs.write_file",
            json!({"path": format!("w{i}.txt"), "content": format!("change {i}\n")}),
        )
        .unwrap();
    };
    let first = 16;
    for i in 0..first {
        write(i);
    }
    let per_change = size() / first as u64;
    assert!(per_change > 0, "the changes wrote nothing to the log");
    let changes = 640;
    for i in first..changes {
        write(i);
    }
    assert!(
        size() < 320 * per_change,
        "after {changes} changes the log holds {} bytes, {} changes' worth: it was never written again from its start",
        size(),
        size() / per_change
    );
}

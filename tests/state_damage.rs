//! Damage to airun's own state folder, on the real `airun` binary: a deleted, truncated
//! or replaced database, a lost or torn write-ahead log, lost and damaged blobs, a full
//! disk. Each must be refused with a clear message (never a silent new journal), must
//! not lock the state up, and must not roll back a change that was answered.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_airun");

struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("temp dir");
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Env {
            _tmp: tmp,
            ws,
            home,
        }
    }

    fn with_home(home: PathBuf) -> Env {
        let e = Env::new();
        Env { home, ..e }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--workspace")
            .arg(&self.ws)
            .args(args)
            .env("AIRUN_HOME", &self.home)
            .env_remove("AIRUN_WORKSPACE")
            .env_remove("FAILPOINTS")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run airun")
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = support::succeeds(&mut self.cmd(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The command fails; its stderr.
    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "`airun {}` should fail:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn write(&self, path: &str, content: &str) -> Output {
        let params = json!({"path": path, "content": content}).to_string();
        self.run(&["execute", "io.fs.write_file", "--params", &params, "--yes"])
    }

    #[track_caller]
    fn write_ok(&self, path: &str, content: &str) {
        let out = self.write(path, content);
        assert!(
            out.status.success(),
            "write {path} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    fn history(&self) -> Vec<Value> {
        self.json(&["history", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn audit(&self) -> Vec<Value> {
        self.ok(&["audit", "export", "--jsonl"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON record"))
            .collect()
    }

    fn state(&self) -> PathBuf {
        std::fs::read_dir(self.home.join("state"))
            .expect("state folder")
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .expect("a workspace state folder")
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.ws.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Every command that opens the state stops with the damaged-state message.
    #[track_caller]
    fn assert_refused_everywhere(&self) {
        for args in [
            &["history"][..],
            &["undo"],
            &["undo", "--force"],
            &["redo"],
            &["gc"],
            &["audit", "verify"],
            &["audit"],
            &[
                "execute",
                "io.fs.write_file",
                "--params",
                r#"{"path": "x.txt", "content": "x"}"#,
                "--yes",
            ],
        ] {
            let err = self.fails(args);
            assert!(
                err.contains("damaged or reset") && err.contains("airun state reset"),
                "`airun {}`: {err}",
                args.join(" ")
            );
        }
        assert!(!self.ws.join("x.txt").exists());
    }

    /// `airun state reset` starts over, naming what was lost in the new log.
    #[track_caller]
    fn reset_and_check(&self, lost_records: i64) {
        let report: Value = self.json(&["state", "reset", "--json"]);
        assert_eq!(
            report["lost_head"]["audit_records"], lost_records,
            "{report}"
        );
        assert!(
            Path::new(report["kept_in"].as_str().unwrap()).is_dir(),
            "{report}"
        );
        let audit = self.audit();
        assert_eq!(audit.len(), 1, "{audit:#?}");
        assert_eq!(audit[0]["capability"], "state.reset");
        assert_eq!(
            audit[0]["params"]["lost_head"]["audit_records"],
            lost_records
        );
        self.ok(&["audit", "verify"]);
        self.write_ok("after-reset.txt", "works again\n");
        assert_eq!(self.history().len(), 1);
    }
}

/// Three answered writes, then a checkpoint (the database file holds everything).
fn three_writes(e: &Env) {
    e.write_ok("a.txt", "one\n");
    e.write_ok("b.txt", "two\n");
    e.write_ok("c.txt", "three\n");
    assert_eq!(e.history().len(), 3);
}

fn checkpoint(e: &Env) {
    let conn = rusqlite::Connection::open(e.state().join("airun.db")).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

#[test]
fn a_deleted_database_is_refused_until_reset() {
    let e = Env::new();
    three_writes(&e);
    let records = e.audit().len() as i64;
    for f in ["airun.db", "airun.db-wal", "airun.db-shm"] {
        let _ = std::fs::remove_file(e.state().join(f));
    }
    e.assert_refused_everywhere();
    e.reset_and_check(records);
}

#[test]
fn a_database_truncated_after_a_checkpoint_is_refused() {
    let e = Env::new();
    three_writes(&e);
    checkpoint(&e);
    let records = e.audit().len() as i64;
    std::fs::File::create(e.state().join("airun.db")).unwrap();
    let _ = std::fs::remove_file(e.state().join("airun.db-shm"));
    e.assert_refused_everywhere();
    e.reset_and_check(records);
}

#[test]
fn a_deleted_write_ahead_log_is_refused() {
    let e = Env::new();
    three_writes(&e);
    std::fs::remove_file(e.state().join("airun.db-wal")).unwrap();
    let _ = std::fs::remove_file(e.state().join("airun.db-shm"));
    e.assert_refused_everywhere();
}

#[test]
fn a_write_ahead_log_of_garbage_is_refused() {
    let e = Env::new();
    three_writes(&e);
    let wal = e.state().join("airun.db-wal");
    let len = std::fs::metadata(&wal).unwrap().len() as usize;
    std::fs::write(&wal, vec![0x5au8; len]).unwrap();
    let _ = std::fs::remove_file(e.state().join("airun.db-shm"));
    e.assert_refused_everywhere();
}

/// A torn log (the end of it lost) must not make recovery roll back an answered write:
/// the state is refused before recovery runs, and every written file stays.
#[test]
fn a_torn_write_ahead_log_never_rolls_back_an_answered_write() {
    let e = Env::new();
    three_writes(&e);
    let wal = e.state().join("airun.db-wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let _ = std::fs::remove_file(e.state().join("airun.db-shm"));
    e.assert_refused_everywhere();
    assert_eq!(e.read("a.txt"), "one\n");
    assert_eq!(e.read("b.txt"), "two\n");
    assert_eq!(e.read("c.txt"), "three\n");
}

/// Deleting the audit log (its records) is detected like editing it.
#[test]
fn a_deleted_audit_log_is_detected() {
    let e = Env::new();
    three_writes(&e);
    let conn = rusqlite::Connection::open(e.state().join("airun.db")).unwrap();
    conn.execute("DELETE FROM audit", []).unwrap();
    drop(conn);
    let err = e.fails(&["audit", "verify"]);
    assert!(err.contains("damaged or reset"), "{err}");
    e.assert_refused_everywhere();
}

/// A replaced database (another, valid one) is detected by the newest record's hash.
#[test]
fn a_replaced_database_is_detected() {
    let e = Env::new();
    let other = Env::new();
    three_writes(&e);
    three_writes(&other);
    // The other workspace's database, with as many records, copied over this one.
    checkpoint(&e);
    checkpoint(&other);
    std::fs::copy(other.state().join("airun.db"), e.state().join("airun.db")).unwrap();
    let _ = std::fs::remove_file(e.state().join("airun.db-shm"));
    let err = e.fails(&["history"]);
    assert!(err.contains("damaged or reset"), "{err}");
}

/// The full round trip still works: the head moves on with every change, undo and redo;
/// an intact state is reset only with --force.
#[test]
fn an_intact_state_opens_through_changes_undos_and_redos() {
    let e = Env::new();
    three_writes(&e);
    let err = e.fails(&["state", "reset"]);
    assert!(err.contains("intact") && err.contains("--force"), "{err}");
    assert_eq!(e.history().len(), 3);
    e.ok(&["undo", "--steps", "2"]);
    e.ok(&["redo"]);
    e.ok(&["gc"]);
    e.ok(&["audit", "verify"]);
    assert_eq!(e.read("b.txt"), "two\n");
    assert!(!e.ws.join("c.txt").exists());
}

/// Contents up to this size are kept as rows of the state database, larger ones as files
/// (`airun::timemachine::INLINE_MAX`).
const INLINE_MAX: usize = 64 * 1024;

/// An original content of each size: small (a row of the state database) and large (a
/// file under `blobs/`).
fn originals() -> [String; 2] {
    let line = "the original\n";
    [line.to_string(), line.repeat(INLINE_MAX / line.len() + 1)]
}

/// The file the blob holding `content` would be in, under the state folder.
fn blob_file(e: &Env, content: &str) -> PathBuf {
    let hash = blake3::hash(content.as_bytes()).to_hex().to_string();
    e.state().join("blobs").join(&hash[..2]).join(&hash[2..])
}

/// The state database, opened beside airun (no airun process runs meanwhile).
fn state_db(e: &Env) -> rusqlite::Connection {
    rusqlite::Connection::open(e.state().join("airun.db")).unwrap()
}

/// Where the blob holding `content` is: a row for a small content, a file for a large one
/// (checked here, so each test damages the place it means to).
#[track_caller]
fn assert_stored_where_expected(e: &Env, content: &str) {
    let hash = blake3::hash(content.as_bytes()).to_hex().to_string();
    let rows: i64 = state_db(e)
        .query_row(
            "SELECT COUNT(*) FROM blob_data WHERE hash = ?1",
            [&hash],
            |r| r.get(0),
        )
        .unwrap();
    let file = blob_file(e, content).exists();
    if content.len() <= INLINE_MAX {
        assert_eq!((rows, file), (1, false), "a small content is one row");
    } else {
        assert_eq!((rows, file), (0, true), "a large content is one file");
    }
}

/// Deletes the blob holding `content`, wherever it is stored.
#[track_caller]
fn lose_blob(e: &Env, content: &str) {
    assert_stored_where_expected(e, content);
    let file = blob_file(e, content);
    if file.exists() {
        std::fs::remove_file(file).unwrap();
    } else {
        let hash = blake3::hash(content.as_bytes()).to_hex().to_string();
        let n = state_db(e)
            .execute("DELETE FROM blob_data WHERE hash = ?1", [&hash])
            .unwrap();
        assert_eq!(n, 1);
    }
}

/// Replaces what the blob holding `content` holds by `damage`, wherever it is stored.
#[track_caller]
fn damage_blob(e: &Env, content: &str, damage: &[u8]) {
    assert_stored_where_expected(e, content);
    let file = blob_file(e, content);
    if file.exists() {
        std::fs::write(file, damage).unwrap();
    } else {
        let hash = blake3::hash(content.as_bytes()).to_hex().to_string();
        let n = state_db(e)
            .execute(
                "UPDATE blob_data SET data = ?2 WHERE hash = ?1",
                rusqlite::params![hash, damage],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}

/// A lost saved copy, a row of the state database or a file, refuses the undo clearly.
#[test]
fn a_missing_blob_refuses_undo_clearly_and_locks_nothing_up() {
    for original in originals() {
        a_missing_blob_refuses_undo(&original);
    }
}

fn a_missing_blob_refuses_undo(original: &str) {
    let e = Env::new();
    std::fs::write(e.ws.join("f.txt"), original).unwrap();
    e.write_ok("f.txt", "the change\n");
    lose_blob(&e, original);
    let err = e.fails(&["undo"]);
    assert!(
        err.contains("`f.txt`") && err.contains("missing") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!err.contains("No such file or directory"), "{err}");
    assert_eq!(e.read("f.txt"), "the change\n");
    // Nothing is wedged: every other command works.
    assert_eq!(e.history()[0]["state"], "done");
    e.ok(&[
        "execute",
        "io.fs.read_file",
        "--params",
        r#"{"path": "f.txt"}"#,
    ]);
    e.write_ok("g.txt", "another\n");
    e.ok(&["undo"]);
    e.ok(&["gc"]);
    e.ok(&["audit", "verify"]);
    // --force gives the op a terminal state and says what was not restored.
    e.ok(&["undo", "--force"]);
    let hist = e.history();
    let op = hist.iter().find(|h| h["op"] == 1).unwrap();
    assert_eq!(op["state"], "damaged", "{hist:#?}");
    assert!(op["summary"].as_str().unwrap().contains("f.txt"), "{op}");
    assert_eq!(e.read("f.txt"), "the change\n");
    // Models see it as damaged too, not as done.
    let seen: Value =
        serde_json::from_str(&e.ok(&["execute", "sys.history", "--params", "{}", "--json"]))
            .unwrap();
    let op = seen["result"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == 1)
        .unwrap();
    assert_eq!(op["state"], "damaged", "{seen}");
    e.ok(&["history"]);
    e.ok(&["audit", "verify"]);
}

/// Undoing a tree delete with one blob lost: refused whole without --force (nothing
/// restored), and with it every other entry comes back.
#[test]
fn a_tree_delete_with_one_lost_blob_restores_the_rest_with_force() {
    let e = Env::new();
    for i in 0..30 {
        std::fs::create_dir_all(e.ws.join("tree/sub")).unwrap();
        std::fs::write(
            e.ws.join(format!("tree/sub/f{i:02}.txt")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
    e.ok(&[
        "execute",
        "io.fs.delete",
        "--params",
        r#"{"path": "tree", "recursive": true}"#,
        "--yes",
    ]);
    lose_blob(&e, "file 7\n");
    let err = e.fails(&["undo"]);
    assert!(err.contains("tree/sub/f07.txt"), "{err}");
    assert!(
        !e.ws.join("tree").exists(),
        "a refused undo restored something"
    );
    e.ok(&["history"]);
    e.ok(&["undo", "--force"]);
    for i in 0..30 {
        let p = e.ws.join(format!("tree/sub/f{i:02}.txt"));
        if i == 7 {
            assert!(!p.exists());
        } else {
            assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("file {i}\n"));
        }
    }
    assert_eq!(e.history()[0]["state"], "damaged");
    e.write_ok("later.txt", "later\n");
    e.ok(&["audit", "verify"]);
}

/// A blob changed or cut short in the store, a row of the state database or a file, is
/// never restored as-is.
#[test]
fn a_modified_or_truncated_blob_is_not_restored() {
    for original in originals() {
        for (what, damage) in [
            ("modified", original.to_uppercase().into_bytes()),
            ("truncated", original.as_bytes()[..8].to_vec()),
        ] {
            a_damaged_blob_is_not_restored(&original, what, &damage);
        }
    }
}

fn a_damaged_blob_is_not_restored(original: &str, what: &str, damage: &[u8]) {
    {
        let e = Env::new();
        std::fs::write(e.ws.join("f.txt"), original).unwrap();
        e.write_ok("f.txt", "the change\n");
        damage_blob(&e, original, damage);
        let err = e.fails(&["undo"]);
        assert!(err.contains("damaged"), "{what}: {err}");
        assert_eq!(e.read("f.txt"), "the change\n", "{what}");
        e.ok(&["undo", "--force"]);
        assert_eq!(e.read("f.txt"), "the change\n", "{what}");
        assert_eq!(e.history()[0]["state"], "damaged", "{what}");
        e.ok(&["history"]);
    }
}

/// A crash during an undo whose blob is lost: the next start cannot finish the undo; it
/// restores the rest and the op ends `damaged` instead of failing every later command.
#[test]
fn an_interrupted_undo_with_a_lost_blob_does_not_wedge_the_state() {
    let e = Env::new();
    std::fs::create_dir_all(e.ws.join("d")).unwrap();
    std::fs::write(e.ws.join("d/f.txt"), "the original\n").unwrap();
    std::fs::write(e.ws.join("d/g.txt"), "the other\n").unwrap();
    e.ok(&[
        "execute",
        "io.fs.delete",
        "--params",
        r#"{"path": "d", "recursive": true}"#,
        "--yes",
    ]);
    let out = e
        .cmd(&["undo"])
        .env("FAILPOINTS", "tm_undo_before_restore=return")
        .output()
        .unwrap();
    assert!(!out.status.success());
    lose_blob(&e, "the original\n");
    let out = support::succeeds(&mut e.cmd(&["history", "--json"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged"),
        "the operator is told: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.history()[0]["state"], "damaged");
    assert_eq!(
        e.read("d/g.txt"),
        "the other\n",
        "the rest was not restored"
    );
    assert!(!e.ws.join("d/f.txt").exists());
    e.write_ok("g.txt", "works\n");
    e.ok(&["gc"]);
    e.ok(&["audit", "verify"]);
    let audit = e.audit();
    assert!(
        audit.iter().any(|r| r["outcome"] == "damaged"),
        "{audit:#?}"
    );
}

/// A partly written blob a killed process left (here planted) is removed by `airun gc`
/// (by its start-up recovery, under the operation lock, or by the sweep of gc itself).
#[test]
fn gc_removes_partly_written_blobs() {
    let e = Env::new();
    e.write_ok("a.txt", "one\n");
    let tmp = e.state().join("blobs/tmp");
    std::fs::write(tmp.join("999999-0"), vec![7u8; 100_000]).unwrap();
    let report = e.json(&["gc", "--json"]);
    assert_eq!(report["expired_ops"], 0, "{report}");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    e.ok(&["undo"]);
    assert!(!e.ws.join("a.txt").exists());
}

/// `airun undo`, `redo` and `undo --force` leave audit records like any other change.
#[test]
fn cli_undo_and_redo_are_audited() {
    let e = Env::new();
    e.write_ok("a.txt", "one\n");
    e.ok(&["undo"]);
    e.ok(&["redo"]);
    e.ok(&["undo", "--force"]);
    e.ok(&["redo", "--steps", "1"]);
    let audit = e.audit();
    let journal: Vec<(&str, &Value)> = audit
        .iter()
        .filter(|r| r["params"]["via"] == "cli")
        .map(|r| (r["capability"].as_str().unwrap(), &r["params"]))
        .collect();
    assert_eq!(journal.len(), 4, "{audit:#?}");
    assert_eq!(journal[0].0, "sys.undo");
    assert_eq!(journal[0].1["ops"], json!([1]));
    assert_eq!(journal[1].0, "sys.redo");
    assert_eq!(journal[2].0, "sys.undo");
    assert_eq!(journal[2].1["force"], true);
    assert_eq!(journal[3].0, "sys.redo");
    e.ok(&["audit", "verify"]);
}

// ---------------------------------------------------------------------------------------
// A full disk: $AIRUN_HOME on a 2 MiB tmpfs.

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a small tmpfs, or says why it cannot (a failure under CI).
fn small_tmpfs(at: &Path) -> Option<Mount> {
    std::fs::create_dir_all(at).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(at)
        .stderr(Stdio::null())
        .status();
    if status.is_ok_and(|s| s.success()) {
        return Some(Mount(at.to_path_buf()));
    }
    support::ci::require(
        "a tmpfs mount for the disk-full test (root or CAP_SYS_ADMIN)",
        false,
    );
    None
}

#[test]
fn a_full_disk_refuses_the_call_keeps_its_audit_record_and_recovers() {
    let outer = tempfile::tempdir().unwrap();
    let home = outer.path().join("home");
    let Some(_mount) = small_tmpfs(&home) else {
        return;
    };
    let e = Env::with_home(home.clone());
    e.write_ok("small.txt", "small\n");
    // A workspace file too big for the before-image to fit.
    let big: String = "x".repeat(3 << 20);
    std::fs::write(e.ws.join("big.txt"), &big).unwrap();
    let out = e.write("big.txt", "replaced\n");
    assert!(!out.status.success(), "the call was not refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No space left") || err.contains("full"),
        "{err}"
    );
    assert!(!err.contains("could not write the audit record"), "{err}");
    assert_eq!(e.read("big.txt"), big, "a refused call changed the file");
    let tmp = e.state().join("blobs/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "a partial blob was left"
    );
    // A new file too big for its after-image: the change is rolled back.
    let params = json!({"path": "gen.txt", "content": "z".repeat(3 << 20)}).to_string();
    let mut child = e
        .cmd(&["execute", "io.fs.write_file", "--params", "-", "--yes"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), params.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the call was not refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        !e.ws.join("gen.txt").exists(),
        "a failed call left its file"
    );
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    // Fill what is left, so the database itself cannot grow: the refusal is still audited.
    let filler = home.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![1u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let out = e.write("small.txt", "changed\n");
    assert!(!out.status.success(), "a call succeeded on a full disk");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("could not write the audit record"), "{err}");
    assert_eq!(e.read("small.txt"), "small\n");
    // Space back: everything works again, and the refusals are on record.
    std::fs::remove_file(&filler).unwrap();
    e.write_ok("small.txt", "changed\n");
    e.ok(&["undo"]);
    assert_eq!(e.read("small.txt"), "small\n");
    e.ok(&["audit", "verify"]);
    let audit = e.audit();
    let refused = audit
        .iter()
        .filter(|r| r["capability"] == "io.fs.write_file" && r["outcome"] != "ok")
        .count();
    assert_eq!(refused, 3, "{audit:#?}");
}

/// A program's temp folder left by a killed `sys.exec.run` is removed by `airun gc` once
/// its process is gone; one of a live process stays.
#[test]
fn gc_removes_program_temp_folders_of_dead_processes() {
    let e = Env::new();
    let tmpdir = tempfile::tempdir().unwrap();
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let stale = tmpdir.path().join(format!("airun-exec-{dead_pid}-00ff"));
    let live = tmpdir
        .path()
        .join(format!("airun-exec-{}-00ff", std::process::id()));
    for d in [&stale, &live] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), "x").unwrap();
    }
    let out = support::succeeds(e.cmd(&["gc", "--json"]).env("TMPDIR", tmpdir.path()));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["removed_exec_temps"], 1, "{report}");
    assert!(!stale.exists());
    assert!(live.exists());
}

/// The same with a real kill: `airun` killed while its program runs leaves the program's
/// temp folder, and `airun gc` removes it. (Only the Landlock-only fallback makes a temp
/// folder on the host; under bubblewrap the program's `/tmp` lives and dies with its
/// mount namespace.)
#[test]
fn a_killed_program_run_leaves_a_temp_folder_that_gc_removes() {
    let e = Env::new();
    std::fs::write(
        e.home.join("policy.toml"),
        "[exec]\nallow = [\"sleep\"]\nfallback = \"landlock_only\"\n",
    )
    .unwrap();
    let tmpdir = tempfile::tempdir().unwrap();
    let exec_temps = || -> Vec<PathBuf> {
        std::fs::read_dir(tmpdir.path())
            .unwrap()
            .map(|d| d.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("airun-exec-"))
            })
            .collect()
    };
    let mut child = e
        .cmd(&[
            "execute",
            "sys.exec.run",
            "--params",
            r#"{"command": "sleep", "args": ["2"]}"#,
            "--yes",
        ])
        .env("TMPDIR", tmpdir.path())
        .env("AIRUN_BWRAP", "/nonexistent/bwrap")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while exec_temps().is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the program's temp folder never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(exec_temps().len(), 1, "the killed run left no temp folder");
    let out = support::succeeds(e.cmd(&["gc", "--json"]).env("TMPDIR", tmpdir.path()));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["removed_exec_temps"], 1, "{report}");
    assert!(exec_temps().is_empty());
}

/// A change whose commit fails (as on a full disk) is rolled back before the error is
/// answered: the workspace is as it was and history has nothing to undo.
#[test]
fn a_failed_commit_rolls_the_change_back() {
    let e = Env::new();
    std::fs::write(e.ws.join("f.txt"), "the original\n").unwrap();
    let out = e
        .cmd(&[
            "execute",
            "io.fs.write_file",
            "--params",
            r#"{"path": "f.txt", "content": "the change\n"}"#,
            "--yes",
        ])
        .env("FAILPOINTS", "tm_commit_fails=return")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("disk is full") && err.contains("rolled back"),
        "{err}"
    );
    assert_eq!(e.read("f.txt"), "the original\n");
    assert!(e.history().is_empty());
    let audit = e.audit();
    assert_eq!(audit.last().unwrap()["outcome"], "execution", "{audit:#?}");
    e.ok(&["audit", "verify"]);
}

//! Kill tests for the time machine, on the real `airun` binary.
//!
//! The process is SIGKILLed at every step of a journaled call (the `fail` crate's
//! failpoints, compiled into the binary that `cargo test` builds and armed with
//! `FAILPOINTS=<name>=return`) and at random moments (a randomized stress test). The next
//! start of `airun` must leave the workspace exactly as it was before the call or exactly
//! as it is after it (compared on full snapshots: kind, mode, bytes, link targets, with
//! nothing excluded), history must tell which, and `airun undo` must get back to before.
//!
//! SIGKILL loses no page cache, so the tests run on tmpfs (`/dev/shm`) when there is one:
//! the same crash semantics, without an fsync per file.

use serde_json::{Value, json};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_airun");

// ---------------------------------------------------------------------------------------
// Snapshots (kind, mode, bytes, link targets; the workspace folder itself included)

mod support;
use support::snapshot::{Node, Snapshot, assert_snap};

// ---------------------------------------------------------------------------------------
// Running airun

/// A scratch folder with a workspace `ws/` and an `$AIRUN_HOME` `home/` next to it.
struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(t) = tempfile::Builder::new()
            .prefix("airun-crash-")
            .tempdir_in(shm)
    {
        return t;
    }
    tempfile::Builder::new()
        .prefix("airun-crash-")
        .tempdir()
        .expect("temp dir")
}

impl Env {
    fn new() -> Env {
        let tmp = scratch();
        let base = tmp.path().canonicalize().expect("canonical temp dir");
        let ws = base.join("ws");
        let home = base.join("home");
        std::fs::create_dir(&ws).expect("workspace");
        std::fs::set_permissions(&ws, std::fs::Permissions::from_mode(0o755)).expect("chmod ws");
        std::fs::create_dir(&home).expect("home");
        Env {
            _tmp: tmp,
            ws,
            home,
        }
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

    fn execute_cmd(&self, op: &OpCase) -> Command {
        let params = (op.params)().to_string();
        self.cmd(&["execute", op.cap, "--params", &params, "--yes", "--json"])
    }

    #[track_caller]
    fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run airun");
        assert!(
            out.status.success(),
            "`airun {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `airun history --json`: opening the state runs crash recovery.
    #[track_caller]
    fn history(&self) -> Vec<Value> {
        let out = self.run_ok(&["history", "--json", "--limit", "5"]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("history --json is JSON");
        v.as_array().expect("history is an array").clone()
    }

    /// `airun undo --json`: the operations it undid.
    #[track_caller]
    fn undo(&self) -> Vec<Value> {
        let out = self.run_ok(&["undo", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("undo --json is JSON");
        v.as_array().expect("undo prints an array").clone()
    }

    #[track_caller]
    fn redo(&self) -> Vec<Value> {
        let out = self.run_ok(&["redo", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("redo --json is JSON");
        v.as_array().expect("redo prints an array").clone()
    }

    fn snap(&self) -> Snapshot {
        Snapshot::of(&self.ws)
    }
}

#[track_caller]
fn assert_killed(out: &Output, what: &str) {
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{what}: expected the process to die by SIGKILL at the failpoint, got {}; is the failpoint compiled in?\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: expected success, got {}:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn state_of(op: &Value) -> &str {
    op["state"].as_str().unwrap_or("?")
}

// ---------------------------------------------------------------------------------------
// Workspaces and operations

fn write(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, content).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A small tree: files with several modes, a binary file, symlinks (to a file, up a
/// level, dangling inside), an empty folder with its own mode.
fn small_tree(root: &Path, at: &str) {
    let t = root.join(at);
    write(&t, "a.txt", b"alpha\n", 0o644);
    write(&t, "secret.key", b"-----BEGIN KEY-----\nxyz\n", 0o600);
    write(&t, "run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    write(&t, "sub/b.txt", b"bravo bravo\n", 0o640);
    write(&t, "sub/c.bin", &[0u8, 1, 2, 255, 254, 0, 10, 13], 0o644);
    write(&t, "sub/deeper/d.txt", b"delta\n", 0o444);
    symlink("a.txt", t.join("link")).expect("symlink");
    symlink("../a.txt", t.join("sub/up")).expect("symlink");
    symlink("nowhere.txt", t.join("sub/dangling")).expect("symlink");
    std::fs::create_dir(t.join("empty")).expect("mkdir");
    std::fs::set_permissions(t.join("empty"), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    std::fs::set_permissions(t.join("sub"), std::fs::Permissions::from_mode(0o750)).expect("chmod");
}

/// A mutating call to crash, with the workspace it starts from.
struct OpCase {
    name: &'static str,
    cap: &'static str,
    setup: fn(&Path),
    params: fn() -> Value,
    /// The operation-specific failpoints its handler passes.
    fires: &'static [&'static str],
}

const OPS: &[OpCase] = &[
    OpCase {
        name: "write_file overwrite",
        cap: "io.fs.write_file",
        setup: |ws| {
            write(ws, "notes.txt", b"the old notes\nline two\n", 0o640);
            write(ws, "other.txt", b"untouched\n", 0o644);
        },
        params: || json!({"path": "notes.txt", "content": "completely new notes\n"}),
        fires: &["fs_before_rename"],
    },
    OpCase {
        name: "write_file new with create_dirs",
        cap: "io.fs.write_file",
        setup: |ws| write(ws, "keep.txt", b"keep me\n", 0o644),
        params: || json!({"path": "new/deep/file.txt", "content": "fresh\n", "create_dirs": true}),
        fires: &["fs_before_rename"],
    },
    OpCase {
        name: "delete recursive",
        cap: "io.fs.delete",
        setup: |ws| {
            small_tree(ws, "tree");
            write(ws, "beside.txt", b"not in the tree\n", 0o644);
        },
        params: || json!({"path": "tree", "recursive": true}),
        fires: &["fs_delete_midway"],
    },
    OpCase {
        name: "move with overwrite",
        cap: "io.fs.move",
        setup: |ws| {
            write(ws, "src.txt", b"the moved content\n", 0o600);
            write(
                ws,
                "dst.txt",
                b"the destination that gets replaced\n",
                0o644,
            );
        },
        params: || json!({"source": "src.txt", "destination": "dst.txt", "overwrite": true}),
        fires: &[],
    },
    OpCase {
        name: "copy of a tree",
        cap: "io.fs.copy",
        setup: |ws| small_tree(ws, "tree"),
        params: || json!({"source": "tree", "destination": "tree-copy"}),
        fires: &[],
    },
];

/// Failpoints every journaled call passes.
const COMMON: &[&str] = &[
    "tm_after_intent",
    "tm_after_before_images",
    "tm_before_after_images",
    "tm_after_after_images",
    "tm_after_commit",
];

/// The workspace after the operation ran without a crash, in a fresh workspace prepared
/// the same way.
fn after_of(op: &OpCase) -> Snapshot {
    let env = Env::new();
    (op.setup)(&env.ws);
    let before = env.snap();
    let out = env.execute_cmd(op).output().expect("run airun");
    assert_success(&out, op.name);
    let after = env.snap();
    assert_ne!(before, after, "{}: the operation changed nothing", op.name);
    after
}

// ---------------------------------------------------------------------------------------
// A kill at each step of the transaction

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Killed before the before-images were durable: the intent is dropped, history is empty.
    Discarded,
    /// Killed between the before-images and the commit: rolled back, `interrupted`.
    RolledBack,
    /// Killed after the commit: the operation stands, `done`.
    Committed,
}

fn kill_at(failpoint: &str, expect: Expect) {
    for op in OPS {
        let fires = COMMON.contains(&failpoint) || op.fires.contains(&failpoint);
        let what = format!("{} killed at {failpoint}", op.name);
        let after = after_of(op);
        let env = Env::new();
        (op.setup)(&env.ws);
        let before = env.snap();

        let out = env
            .execute_cmd(op)
            .env("FAILPOINTS", format!("{failpoint}=return"))
            .output()
            .expect("run airun");
        let expect = if fires {
            assert_killed(&out, &what);
            expect
        } else {
            // A failpoint the handler never passes must not fire.
            assert_success(&out, &what);
            Expect::Committed
        };

        // The next start recovers.
        let hist = env.history();
        let now = env.snap();
        match expect {
            Expect::Discarded => {
                assert_snap(&now, &before, &format!("{what}, after recovery"));
                assert!(
                    hist.is_empty(),
                    "{what}: history should be empty, got {hist:#?}"
                );
            }
            Expect::RolledBack => {
                assert_snap(&now, &before, &format!("{what}, after recovery"));
                assert_eq!(hist.len(), 1, "{what}: {hist:#?}");
                assert_eq!(state_of(&hist[0]), "interrupted", "{what}: {hist:#?}");
                assert_eq!(hist[0]["capability"], op.cap, "{what}");
            }
            Expect::Committed => {
                assert_snap(&now, &after, &format!("{what}, after recovery"));
                assert_eq!(hist.len(), 1, "{what}: {hist:#?}");
                assert_eq!(state_of(&hist[0]), "done", "{what}: {hist:#?}");
            }
        }

        // Recovery is done once: a second start changes nothing.
        assert_eq!(
            env.history(),
            hist,
            "{what}: a second start changed history"
        );
        assert_snap(&env.snap(), &now, &format!("{what}, after a second start"));

        // Undo gets back to before (and has nothing to do when recovery already did it).
        let undone = env.undo();
        assert_snap(&env.snap(), &before, &format!("{what}, after undo"));
        if expect == Expect::Committed {
            assert_eq!(undone.len(), 1, "{what}: undo undid {undone:#?}");
            assert_eq!(state_of(&env.history()[0]), "undone", "{what}");
            // And redo re-applies it.
            assert_eq!(env.redo().len(), 1, "{what}: redo");
            assert_snap(&env.snap(), &after, &format!("{what}, after redo"));
            env.undo();
            assert_snap(
                &env.snap(),
                &before,
                &format!("{what}, after the second undo"),
            );
        } else {
            assert!(
                undone.is_empty(),
                "{what}: nothing should be left to undo, undid {undone:#?}"
            );
        }

        // The audit chain survives the crash, and no partly written blob is left.
        env.run_ok(&["audit", "verify"]);
        assert_no_blob_temps(&env, &what);
    }
}

/// The state folder of the scratch workspace (there is one).
fn state_dir(env: &Env) -> PathBuf {
    std::fs::read_dir(env.home.join("state"))
        .expect("state folder")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir())
        .expect("a workspace state folder")
}

/// Partly written blobs left by a killed call are gone once airun started again.
#[track_caller]
fn assert_no_blob_temps(env: &Env, what: &str) {
    let tmp = state_dir(env).join("blobs/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.map(|e| e.expect("entry").file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{what}: blob temps left: {left:?}");
}

/// A call killed while it writes a blob (its temp file is whole but not yet renamed)
/// leaves a temp that the next start removes; the call is discarded.
#[test]
fn kill_while_writing_a_blob_leaves_no_temp_after_recovery() {
    let env = Env::new();
    write(&env.ws, "notes.txt", &vec![b'n'; 300_000], 0o644);
    let before = env.snap();
    let out = env
        .cmd(&[
            "execute",
            "io.fs.write_file",
            "--params",
            r#"{"path": "notes.txt", "content": "new\n"}"#,
            "--yes",
        ])
        .env("FAILPOINTS", "blob_before_publish=return")
        .output()
        .expect("run airun");
    assert_killed(
        &out,
        "write_file killed while writing its before-image blob",
    );
    let tmp = state_dir(&env).join("blobs/tmp");
    let left = std::fs::read_dir(&tmp).expect("blob temps").count();
    assert_eq!(left, 1, "the killed call left its temp blob");
    assert!(env.history().is_empty());
    assert_no_blob_temps(&env, "after the next start");
    assert_snap(&env.snap(), &before, "after the next start");
    env.run_ok(&["audit", "verify"]);
}

#[test]
fn kill_after_intent() {
    kill_at("tm_after_intent", Expect::Discarded);
}

#[test]
fn kill_after_before_images() {
    kill_at("tm_after_before_images", Expect::RolledBack);
}

#[test]
fn kill_before_rename_in_write_file() {
    kill_at("fs_before_rename", Expect::RolledBack);
}

/// A write killed after its (small) before-image was recorded as a row of the state
/// database, with no blob file anywhere, is rolled back from that row on the next start.
#[test]
fn a_killed_write_is_rolled_back_from_a_before_image_kept_as_a_row() {
    let env = Env::new();
    write(&env.ws, "notes.txt", b"the old notes\n", 0o640);
    let before = env.snap();
    let out = env
        .cmd(&[
            "execute",
            "io.fs.write_file",
            "--params",
            r#"{"path": "notes.txt", "content": "new notes\n"}"#,
            "--yes",
        ])
        .env("FAILPOINTS", "fs_before_rename=return")
        .output()
        .expect("run airun");
    assert_killed(&out, "write_file killed before its rename");
    let state = state_dir(&env);
    let files: Vec<_> = std::fs::read_dir(state.join("blobs"))
        .expect("blobs folder")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n != "tmp")
        .collect();
    assert!(files.is_empty(), "no blob is a file: {files:?}");
    let db = rusqlite::Connection::open_with_flags(
        state.join("airun.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("state database");
    let hash = blake3::hash(b"the old notes\n").to_hex().to_string();
    let rows: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM blob_data WHERE hash = ?1",
            [&hash],
            |r| r.get(0),
        )
        .expect("blob rows");
    assert_eq!(rows, 1, "the before-image is a row");
    drop(db);
    let hist = env.history();
    assert_eq!(state_of(&hist[0]), "interrupted", "{hist:#?}");
    assert_snap(&env.snap(), &before, "after the next start");
    env.run_ok(&["audit", "verify"]);
}

#[test]
fn kill_midway_through_recursive_delete() {
    kill_at("fs_delete_midway", Expect::RolledBack);
}

#[test]
fn kill_before_after_images() {
    kill_at("tm_before_after_images", Expect::RolledBack);
}

#[test]
fn kill_after_after_images() {
    kill_at("tm_after_after_images", Expect::RolledBack);
}

#[test]
fn kill_after_commit() {
    kill_at("tm_after_commit", Expect::Committed);
}

#[test]
fn kill_during_undo_is_finished_on_next_start() {
    for op in OPS {
        let what = format!("{} undo killed at tm_undo_before_restore", op.name);
        let env = Env::new();
        (op.setup)(&env.ws);
        let before = env.snap();
        let out = env.execute_cmd(op).output().expect("run airun");
        assert_success(&out, op.name);
        let after = env.snap();
        assert_ne!(before, after, "{}: the operation changed nothing", op.name);

        let out = env
            .cmd(&["undo", "--json"])
            .env("FAILPOINTS", "tm_undo_before_restore=return")
            .output()
            .expect("run airun undo");
        assert_killed(&out, &what);
        assert_snap(&env.snap(), &after, &format!("{what}, before recovery"));

        // The next start finishes the undo.
        let hist = env.history();
        assert_snap(&env.snap(), &before, &format!("{what}, after recovery"));
        assert_eq!(hist.len(), 1, "{what}: {hist:#?}");
        assert_eq!(state_of(&hist[0]), "undone", "{what}: {hist:#?}");
        assert!(
            env.undo().is_empty(),
            "{what}: nothing should be left to undo"
        );
        assert_snap(&env.snap(), &before, &format!("{what}, after undo"));

        // It can be redone like any undo.
        assert_eq!(env.redo().len(), 1, "{what}: redo");
        assert_snap(&env.snap(), &after, &format!("{what}, after redo"));
        assert_eq!(state_of(&env.history()[0]), "done", "{what}");
        env.run_ok(&["audit", "verify"]);
    }
}

/// One JSON-RPC exchange with `airun serve --mcp` over its stdio.
struct Served {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Served {
    fn start(env: &Env) -> Served {
        let mut child = env
            .cmd(&["serve", "--mcp", "--yes"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn airun serve");
        let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut served = Served { child, out };
        // Only `initialize`: nothing that would start opening the state in the background.
        let init = served.request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "crash-test", "version": "1"}}),
        );
        assert!(init["result"]["protocolVersion"].is_string(), "{init}");
        served
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        use std::io::{BufRead, Write};
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("send");
        stdin.flush().expect("flush");
        let mut reply = String::new();
        self.out.read_line(&mut reply).expect("reply");
        serde_json::from_str(&reply).expect("a JSON-RPC reply")
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait for airun serve");
        assert!(status.success(), "airun serve exited with {status}");
    }
}

/// `airun execute io.fs.write_file` on `notes.txt`, killed after its handler wrote and
/// before its commit.
fn kill_a_write_midway(env: &Env) {
    let params = r#"{"path": "notes.txt", "content": "half-written\n"}"#;
    let out = write_with_failpoints(env, params, "tm_before_after_images=return");
    assert_killed(&out, "write_file killed before its after-images");
}

/// Runs `airun execute io.fs.write_file` with `params` and the failpoints `failpoints`.
fn write_with_failpoints(env: &Env, params: &str, failpoints: &str) -> Output {
    env.cmd(&["execute", "io.fs.write_file", "--params", params, "--yes"])
        .env("FAILPOINTS", failpoints)
        .output()
        .expect("run airun")
}

/// A server answers `initialize` before it opens its state, but no call runs before the
/// calls a crash interrupted are rolled back: the first call sees the workspace as it was.
#[test]
fn a_server_rolls_back_interrupted_calls_before_its_first_call() {
    let env = Env::new();
    write(&env.ws, "notes.txt", b"the old notes\n", 0o644);
    let before = env.snap();
    kill_a_write_midway(&env);
    assert_ne!(env.snap(), before, "the killed call changed nothing");

    // Only `initialize` and a call: nothing starts the background opening, so the
    // call itself must wait for recovery.
    let mut server = Served::start(&env);
    let read = server.request(
        2,
        "tools/call",
        json!({"name": "io_fs_read_file", "arguments": {"path": "notes.txt"}}),
    );
    assert_eq!(
        read["result"]["structuredContent"]["content"], "the old notes\n",
        "the first call saw the half-done change: {read}"
    );
    server.stop();
    assert_snap(&env.snap(), &before, "after the server's recovery");
    let hist = env.history();
    assert_eq!(hist.len(), 1, "{hist:#?}");
    assert_eq!(state_of(&hist[0]), "interrupted", "{hist:#?}");
    env.run_ok(&["audit", "verify"]);
}

/// A call killed beside a running server is rolled back before the server's next change,
/// without waiting for a restart: the server opened its state before the crash.
#[test]
fn a_running_server_rolls_back_a_crash_beside_it_before_its_next_change() {
    let env = Env::new();
    write(&env.ws, "notes.txt", b"the old notes\n", 0o644);
    let mut server = Served::start(&env);
    // A first call opens the server's state (and recovers what there was to recover).
    let read = server.request(
        2,
        "tools/call",
        json!({"name": "io_fs_read_file", "arguments": {"path": "notes.txt"}}),
    );
    assert_eq!(read["result"]["isError"], false, "{read}");

    kill_a_write_midway(&env);
    assert_eq!(
        std::fs::read_to_string(env.ws.join("notes.txt")).unwrap(),
        "half-written\n"
    );

    let wrote = server.request(
        3,
        "tools/call",
        json!({"name": "io_fs_write_file", "arguments": {"path": "other.txt", "content": "x\n"}}),
    );
    assert_eq!(wrote["result"]["isError"], false, "{wrote}");
    // No other process has opened the state since the crash: the server rolled it back.
    assert_eq!(
        std::fs::read_to_string(env.ws.join("notes.txt")).unwrap(),
        "the old notes\n",
        "the server changed the workspace on top of a half-done call"
    );
    let hist = server.request(
        4,
        "tools/call",
        json!({"name": "sys_history", "arguments": {}}),
    );
    let ops = &hist["result"]["structuredContent"]["ops"];
    assert_eq!(ops[0]["state"], "done", "{ops:#}");
    assert_eq!(ops[1]["state"], "interrupted", "{ops:#}");
    server.stop();
    env.run_ok(&["audit", "verify"]);
}

// ---------------------------------------------------------------------------------------
// Random kills

/// xorshift64*: enough randomness for kill delays, reproducible from the iteration.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// About 200 files in nested folders, with varied sizes and modes and a few symlinks.
fn big_tree(root: &Path) {
    let mut rng = Rng::new(42);
    let modes = [0o644, 0o600, 0o755, 0o640, 0o444];
    for i in 0..200u64 {
        let dir = match i % 12 {
            11 => format!("tree/d{}/deeper", i % 5),
            n => format!("tree/d{}", n % 8),
        };
        let len = rng.below(3000) as usize;
        let content: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        write(
            root,
            &format!("{dir}/f{i:03}.dat"),
            &content,
            modes[(i % 5) as usize],
        );
    }
    let t = root.join("tree");
    symlink("d0/f000.dat", t.join("first")).expect("symlink");
    symlink("../d1/f001.dat", t.join("d2/sibling")).expect("symlink");
    symlink("missing", t.join("d3/dangling")).expect("symlink");
    std::fs::set_permissions(t.join("d4"), std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

fn stress_copy() -> Value {
    json!({"source": "tree", "destination": "copy"})
}

fn stress_delete() -> Value {
    json!({"path": "tree", "recursive": true})
}

const STRESS: [OpCase; 2] = [
    OpCase {
        name: "copy of 200 files",
        cap: "io.fs.copy",
        setup: big_tree,
        params: stress_copy,
        fires: &[],
    },
    OpCase {
        name: "recursive delete of 200 files",
        cap: "io.fs.delete",
        setup: big_tree,
        params: stress_delete,
        fires: &[],
    },
];

/// Spawns a command, SIGKILLs it after `delay` (when it still runs); true when killed.
fn run_and_kill(mut cmd: Command, delay: Duration, what: &str) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn airun");
    let deadline = Instant::now() + delay;
    // Poll rather than sleep the whole delay, so a call that finishes early costs nothing.
    while child.try_wait().expect("try_wait").is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(1)));
    }
    let out = child.wait_with_output().expect("wait");
    match out.status.signal() {
        Some(9) => true,
        _ => {
            assert_success(&out, what);
            false
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    /// Killed before the intent was durable (or with only the intent): nothing recorded.
    before_intent: usize,
    /// Killed between the intent and the commit (rolled back, `interrupted`) with the
    /// workspace still as before: during the before-images or early in the handler.
    interrupted_clean: usize,
    /// Killed mid-handler: the workspace was half changed (neither before nor after).
    interrupted_torn: usize,
    /// Killed after the handler, before the commit: the workspace was as after.
    interrupted_after_handler: usize,
    /// Killed after the commit, before the process exited (`done`).
    after_commit: usize,
    /// Finished before the kill.
    finished: usize,
    /// Undos killed before they restored anything (the op stays `done`).
    undo_killed_early: usize,
    /// Undos killed once started (finished by recovery); of those, with a half-restored
    /// workspace at the kill.
    undo_killed_mid: usize,
    undo_torn: usize,
    /// Undos that finished before the kill.
    undo_finished: usize,
    /// Recoveries (the first start after a killed call) killed too.
    recovery_killed: usize,
}

impl Counts {
    fn interrupted(&self) -> usize {
        self.interrupted_clean + self.interrupted_torn + self.interrupted_after_handler
    }
}

/// Milliseconds `cmd` takes uninterrupted.
fn timed(mut cmd: Command, what: &str) -> u64 {
    let t = Instant::now();
    let out = cmd.output().expect("run airun");
    assert_success(&out, what);
    t.elapsed().as_millis() as u64
}

#[test]
fn random_kills_lose_nothing() {
    let iterations: u64 = std::env::var("AIRUN_KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let started = Instant::now();
    let afters: Vec<Snapshot> = STRESS.iter().map(after_of).collect();

    // One workspace for every iteration: each one ends exactly where it started.
    let env = Env::new();
    big_tree(&env.ws);
    let before = env.snap();
    let files = before
        .values()
        .filter(|n| matches!(n, Node::File { .. }))
        .count();
    assert!(files >= 200, "the stress tree has {files} files");

    // How long each operation and its undo take uninterrupted here (blobs already stored,
    // as in every later iteration), and how long airun takes to start and open its state.
    // Kills land uniformly between the start-up time and 1.25x the run time (about
    // 5..40 ms on an idle machine): mostly mid-operation, some before the intent or after
    // the commit, and a slow or loaded machine still gets kills inside the operation.
    let startup = (0..3)
        .map(|_| timed(env.cmd(&["history"]), "history"))
        .min()
        .unwrap_or(0);
    let mut window = Vec::new();
    for op in &STRESS {
        let run = timed(env.execute_cmd(op), op.name);
        let undo = timed(env.cmd(&["undo"]), "undo");
        assert_snap(
            &env.snap(),
            &before,
            &format!("{}: after the calibration undo", op.name),
        );
        let range = |t: u64| (startup, (t * 5 / 4).max(startup + 5));
        window.push((range(run), range(undo)));
    }
    let pick = |rng: &mut Rng, (lo, hi): (u64, u64)| lo + rng.below(hi - lo + 1);
    let mut last_op = env
        .history()
        .first()
        .and_then(|h| h["op"].as_i64())
        .unwrap_or(0);
    let mut counts = Counts::default();

    for i in 0..iterations {
        let k = (i % 2) as usize;
        let (op, after) = (&STRESS[k], &afters[k]);
        let mut rng = Rng::new(i + 1);
        let delay = pick(&mut rng, window[k].0);
        let what = format!("iteration {i}: {} killed after {delay} ms", op.name);

        let killed = run_and_kill(env.execute_cmd(op), Duration::from_millis(delay), &what);
        let at_kill = env.snap();
        if killed {
            // Recovery must survive a kill too: the first start after the crash is killed
            // at a random moment (while it puts the before-images back), the next finishes.
            let delay = pick(&mut rng, window[k].1);
            let recovery_killed =
                run_and_kill(env.cmd(&["history"]), Duration::from_millis(delay), &what);
            counts.recovery_killed += usize::from(recovery_killed);
        }
        let hist = env.history();
        let now = env.snap();
        let newest = hist
            .first()
            .filter(|h| h["op"].as_i64().unwrap_or(0) > last_op);
        match newest.map(state_of) {
            None => {
                assert!(
                    killed,
                    "{what}: the call finished but history has no new op: {hist:#?}"
                );
                assert_snap(
                    &at_kill,
                    &before,
                    &format!("{what}: changed before its intent was recorded"),
                );
                assert_snap(&now, &before, &format!("{what}: nothing recorded"));
                counts.before_intent += 1;
            }
            Some("interrupted") => {
                assert!(killed, "{what}: interrupted but the process was not killed");
                assert_snap(&now, &before, &format!("{what}: interrupted"));
                if at_kill == before {
                    counts.interrupted_clean += 1;
                } else if at_kill == *after {
                    counts.interrupted_after_handler += 1;
                } else {
                    counts.interrupted_torn += 1;
                }
            }
            Some("done") => {
                assert_snap(&now, after, &format!("{what}: done"));
                if killed {
                    counts.after_commit += 1;
                } else {
                    counts.finished += 1;
                }
            }
            Some(s) => panic!("{what}: unexpected state {s}: {hist:#?}"),
        }
        if let Some(h) = newest {
            last_op = h["op"].as_i64().unwrap_or(last_op);
        }

        if newest.map(state_of) == Some("done") {
            // Undo it, and kill the undo at a random moment too.
            let delay = pick(&mut rng, window[k].1);
            let what = format!("{what}; its undo killed after {delay} ms");
            let killed = run_and_kill(env.cmd(&["undo"]), Duration::from_millis(delay), &what);
            let at_kill = env.snap();
            let hist = env.history();
            let now = env.snap();
            match state_of(&hist[0]) {
                "undone" if killed => {
                    assert_snap(&now, &before, &format!("{what}: undone by recovery"));
                    counts.undo_killed_mid += 1;
                    counts.undo_torn += usize::from(at_kill != before && at_kill != *after);
                }
                "undone" => {
                    assert_snap(&now, &before, &format!("{what}: undone"));
                    counts.undo_finished += 1;
                }
                "done" => {
                    assert!(killed, "{what}: undo finished but the op is still done");
                    assert_snap(&now, after, &format!("{what}: still done"));
                    counts.undo_killed_early += 1;
                    assert_eq!(env.undo().len(), 1, "{what}: the second undo");
                }
                s => panic!("{what}: unexpected state {s} after the undo: {hist:#?}"),
            }
        }
        assert_snap(&env.snap(), &before, &format!("iteration {i}: at its end"));
    }

    env.run_ok(&["audit", "verify"]);
    assert_no_blob_temps(&env, "after the random kills");
    let elapsed = started.elapsed();
    eprintln!(
        "random kills: {iterations} iterations in {:.1} s ({:.0} ms each; kills after copy {:?} ms, delete {:?} ms, \
         undos {:?} / {:?} ms)\n  ops: killed before the intent {}, between intent and commit {} (workspace untouched {}, \
         half-changed {}, fully changed {}), after the commit {}, finished before the kill {}; recoveries killed {}\n  \
         undos: killed before restoring {}, killed while restoring {} (half-restored {}), finished {}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / iterations.max(1) as f64,
        window[0].0,
        window[1].0,
        window[0].1,
        window[1].1,
        counts.before_intent,
        counts.interrupted(),
        counts.interrupted_clean,
        counts.interrupted_torn,
        counts.interrupted_after_handler,
        counts.after_commit,
        counts.finished,
        counts.recovery_killed,
        counts.undo_killed_early,
        counts.undo_killed_mid,
        counts.undo_torn,
        counts.undo_finished,
    );
    if iterations >= 20 {
        assert!(
            counts.interrupted_torn > 0,
            "no kill landed in the middle of an operation: {counts:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Power cuts: what is on disk before the answer
//
// A power cut loses what was not synced, which a kill cannot show. What can be shown is
// that the syncs happen, in order, on the real binary: `strace` records the process's
// renames, removals, syncs and writes to stdout. The undo point is synced before a change
// shows, the change's commit (its after-image) before its answer, and the written files
// once changes pause; an undo's folders before its answer. What a start after a power
// cut does with a change whose files missed the disk is shown further down.

/// Runs `airun <args>` under `strace`, `input` on its stdin; returns the trace's lines.
fn traced(env: &Env, args: &[&str], input: &str) -> Vec<String> {
    traced_with(env, args, input, "")
}

/// [`traced_with`] of `airun execute io.fs.write_file` with `params` (JSON text).
fn traced_write(env: &Env, params: &str, extra: &str) -> Vec<String> {
    let args = [
        "execute",
        "io.fs.write_file",
        "--params",
        params,
        "--yes",
        "--json",
    ];
    traced_with(env, &args, "", extra)
}

/// [`traced`], with the failpoints `extra` (`name=action;...`) on as well.
fn traced_with(env: &Env, args: &[&str], input: &str, extra: &str) -> Vec<String> {
    let log = env.home.join("trace.log");
    let airun = env.cmd(args);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-y", "-s", "64", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=rename,renameat,renameat2,unlink,unlinkat,fsync,fdatasync,syncfs,write,writev,pwrite64",
        ])
        .arg(airun.get_program())
        .args(airun.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in airun.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    // The folder syncs take their time, so an answer that did not wait for them would
    // show in the trace ahead of them.
    let failpoints = match extra {
        "" => "tm_folder_sync=sleep(200)".to_string(),
        more => format!("tm_folder_sync=sleep(200);{more}"),
    };
    cmd.env("FAILPOINTS", failpoints);
    let mut child = cmd.spawn().expect("strace runs");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("input written");
    drop(stdin);
    let out = child.wait_with_output().expect("strace ends");
    assert!(
        out.status.success(),
        "traced `airun {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log)
        .expect("the trace")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The index of the first line from `from` on that `pred` accepts.
fn find(lines: &[String], from: usize, pred: impl Fn(&str) -> bool, what: &str) -> usize {
    (from..lines.len())
        .find(|&i| pred(&lines[i]))
        .unwrap_or_else(|| {
            panic!(
                "no {what} in the trace after line {from}:\n{}",
                lines.join("\n")
            )
        })
}

/// The line where the first `call` (`rename`, `unlink`) of a file `name` began.
fn began(lines: &[String], call: &str, name: &str) -> usize {
    let quoted = format!("{name}\"");
    find(
        lines,
        0,
        |l| l.contains(call) && l.contains(&quoted),
        &format!("{call} of {name}"),
    )
}

/// The line where the first `call` (`rename`, `unlink`) of a file `name` ended, a success.
fn changed(lines: &[String], call: &str, name: &str) -> usize {
    done_ok(lines, began(lines, call, name))
}

/// The line where the system call begun on line `at` ended, which must be a success.
fn done_ok(lines: &[String], at: usize) -> usize {
    let call = lines[at]
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.split('(').next())
        .unwrap_or_default();
    let done = end_of(lines, at, call);
    assert!(lines[done].ends_with("= 0"), "failed: {}", lines[done]);
    done
}

/// The line where the system call `call` begun on line `at` ends: the same line, or a
/// later one when another thread's call came between.
fn end_of(lines: &[String], at: usize, call: &str) -> usize {
    if !lines[at].contains("<unfinished ...>") {
        return at;
    }
    let pid = lines[at].split_whitespace().next().unwrap_or_default();
    let resumed = format!("<... {call} resumed>");
    find(
        lines,
        at,
        |l| l.starts_with(pid) && l.contains(&resumed),
        &format!("end of the {call}"),
    )
}

/// The command line's answer: its write to stdout.
fn printed(line: &str) -> bool {
    line.contains("write(1<")
}

/// A server's answer to the request with id 2 (written through a handle of its own).
fn answered_2(line: &str) -> bool {
    line.contains("write") && line.contains("\\\"id\\\":2,")
}

/// Checks that `folder` (an absolute path) was synced after the line `after` and before
/// the process wrote the answer `answer` accepts.
fn synced_before_answer(
    lines: &[String],
    after: usize,
    folder: &Path,
    answer: impl Fn(&str) -> bool,
) {
    let fd = format!("<{}>", folder.display());
    let sync = find(
        lines,
        after,
        |l| l.contains("fsync(") && l.contains(&fd),
        &format!("fsync of {}", folder.display()),
    );
    let done = done_ok(lines, sync);
    let answer = find(lines, after, answer, "answer");
    assert!(
        done < answer,
        "the answer (line {answer}) went out before {} was synced (line {done}):\n{}",
        folder.display(),
        lines.join("\n")
    );
}

#[test]
fn a_written_file_is_in_the_synced_log_before_the_answer_and_on_disk_before_the_exit() {
    if !support::ci::require("strace", Command::new("strace").arg("-V").output().is_ok()) {
        return;
    }
    let env = Env::new();
    std::fs::create_dir(env.ws.join("sub")).unwrap();
    let params = json!({"path": "sub/new.txt", "content": "kept\n"}).to_string();
    let lines = traced_write(&env, &params, "");
    let renamed = changed(&lines, "rename", "new.txt");
    committed_before_answer(&lines, renamed, printed);
    file_system_synced_after(&lines, renamed, &env.ws);
    intent_synced_before_rename(&lines, "new.txt");
    // Undo removes it, and syncs the folder again before saying so.
    let lines = traced(&env, &["undo", "--json"], "");
    assert!(!env.ws.join("sub/new.txt").exists());
    let removed = changed(&lines, "unlink", "new.txt");
    synced_before_answer(&lines, removed, &env.ws.join("sub"), printed);
    // A server answers over MCP only once the change's commit is synced, and syncs the
    // file it wrote before it exits.
    let input = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "trace", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "io_fs_write_file",
            "arguments": {"path": "sub/served.txt", "content": "kept\n"}}}),
    ]
    .map(|m| format!("{m}\n"))
    .concat();
    let lines = traced(&env, &["serve", "--mcp", "--yes"], &input);
    assert!(env.ws.join("sub/served.txt").is_file());
    let renamed = changed(&lines, "rename", "served.txt");
    committed_before_answer(&lines, renamed, answered_2);
    file_system_synced_after(&lines, renamed, &env.ws);
    intent_synced_before_rename(&lines, "served.txt");
}

/// Checks that the commit written to the log after the line `after` (the change's
/// after-image and its audit record: the last frames written before the answer, or
/// before the written files are synced when that comes first, as it does on the command
/// line, whose clearing of the list of unsynced changes needs no sync) was synced before
/// the process wrote the answer `answer` accepts.
fn committed_before_answer(lines: &[String], after: usize, answer: impl Fn(&str) -> bool) {
    let answer = find(lines, after, answer, "answer");
    let settled = (after..answer)
        .find(|&i| lines[i].contains("syncfs("))
        .unwrap_or(answer);
    let log = |l: &str| l.contains("airun.db-wal>");
    let record = (after..settled)
        .rev()
        .find(|&i| lines[i].contains("pwrite64(") && log(&lines[i]))
        .expect("the commit written to the log before the answer");
    assert!(
        (record..answer).any(|i| log(&lines[i]) && sync_ends(lines, i) < answer),
        "the log was not synced between the commit (line {record}) and the answer \
         (line {answer}):\n{}",
        lines.join("\n")
    );
}

/// Checks that the file system holding the workspace `root` was synced, with success,
/// after the line `after` (the written file's folder or the whole file system).
fn file_system_synced_after(lines: &[String], after: usize, root: &Path) {
    let root = format!("<{}>", root.display());
    let sync = find(
        lines,
        after,
        |l| l.contains("syncfs(") && l.contains(&root),
        "sync of the workspace's file system",
    );
    done_ok(lines, sync);
}

/// Without the handle the log's syncs go through (a process out of file handles), the
/// intent is committed synced: the undo point is still on disk before the rename, and the
/// audit record before the answer.
#[test]
fn without_the_logs_own_handle_the_undo_point_is_synced_before_the_change() {
    if !support::ci::require("strace", Command::new("strace").arg("-V").output().is_ok()) {
        return;
    }
    let env = Env::new();
    let params = json!({"path": "new.txt", "content": "kept\n"}).to_string();
    let lines = traced_write(&env, &params, "tm_log_open=return");
    assert_eq!(std::fs::read(env.ws.join("new.txt")).unwrap(), b"kept\n");
    intent_synced_before_rename(&lines, "new.txt");
    let renamed = changed(&lines, "rename", "new.txt");
    committed_before_answer(&lines, renamed, printed);
}

/// A change whose undo point cannot be synced to disk is refused before it changes
/// anything: the file keeps its content and no operation is recorded.
#[test]
fn a_change_whose_undo_point_cannot_be_synced_changes_nothing() {
    let env = Env::new();
    write(&env.ws, "kept.txt", b"before\n", 0o644);
    let before = env.snap();
    let params = json!({"path": "kept.txt", "content": "after\n"}).to_string();
    let out = write_with_failpoints(&env, &params, "tm_intent_sync=return");
    assert!(
        !out.status.success(),
        "the write succeeded though its undo point could not be synced:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("could not write the undo point to disk")
            && said.contains("nothing was changed"),
        "the error does not say what failed:\n{said}"
    );
    assert_eq!(env.snap(), before, "the workspace changed");
    assert!(
        env.history().is_empty(),
        "an operation was recorded: {:?}",
        env.history()
    );
    // Once the disk takes syncs again, the same write goes through.
    env.run_ok(&["execute", "io.fs.write_file", "--params", &params, "--yes"]);
    assert_eq!(std::fs::read(env.ws.join("kept.txt")).unwrap(), b"after\n");
}

/// Where the sync begun on line `at` ended (`fdatasync` or `fsync`); past the end when
/// line `at` begins no sync.
fn sync_ends(lines: &[String], at: usize) -> usize {
    ["fdatasync", "fsync"]
        .into_iter()
        .find(|call| lines[at].contains(&format!(" {call}(")))
        .map_or(usize::MAX, |call| end_of(lines, at, call))
}

/// Checks that the intent (the last frames written to the log before the rename of the
/// file `name`) was synced before that rename began: no sync of the folder, and no commit
/// of the file system's own, can carry the change to the disk ahead of its undo point.
fn intent_synced_before_rename(lines: &[String], name: &str) {
    let rename = began(lines, "rename", name);
    let log = |l: &str| l.contains("airun.db-wal>");
    let intent = (0..rename)
        .rev()
        .find(|&i| lines[i].contains("pwrite64(") && log(&lines[i]))
        .expect("the intent written to the log before the rename");
    assert!(
        (intent..rename).any(|i| log(&lines[i]) && sync_ends(lines, i) < rename),
        "the log's sync did not end between the intent (line {intent}) and the rename of \
         {name} (line {rename}):\n{}",
        lines.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Power cuts: what a start finds after one
//
// A change's files reach the disk with a sync of the file system once changes pause; its
// commit, synced before the answer, lists it as unsynced until then. The failpoint
// `tm_settle` leaves that list as a power cut would find it, and `tm_boot_id` starts a
// process as if the system had booted again since.

/// The changes the state database lists as unsynced.
fn listed_unsynced(env: &Env) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        state_dir(env).join("airun.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("state database");
    db.query_row("SELECT COUNT(*) FROM unsynced_changes", [], |r| r.get(0))
        .expect("the list of unsynced changes")
}

/// Writes `kept.txt` (which held `before`) with `after`, and leaves the change listed as
/// unsynced, as a power cut right after the answer would.
fn write_left_unsynced(env: &Env) {
    write(&env.ws, "kept.txt", b"before\n", 0o644);
    let params = json!({"path": "kept.txt", "content": "after\n"}).to_string();
    let out = write_with_failpoints(env, &params, "tm_settle=return");
    assert_success(&out, "write_file with its files left unsynced");
    assert_eq!(listed_unsynced(env), 1, "the change is listed as unsynced");
}

/// Opens the state (`airun history`) as a process would after the system booted again.
fn start_after_a_reboot(env: &Env) {
    let out = env
        .cmd(&["history", "--json"])
        .env("FAILPOINTS", "tm_boot_id=return(another-boot)")
        .output()
        .expect("run airun");
    assert_success(&out, "history after a reboot");
}

#[test]
fn a_change_whose_files_missed_the_disk_is_finished_from_the_journal_after_a_reboot() {
    let env = Env::new();
    write_left_unsynced(&env);
    // The disk lost the rename: the old content, and the temporary file beside it.
    write(&env.ws, "kept.txt", b"before\n", 0o644);
    write(&env.ws, ".kept.txt.airun-tmp-4242-0", b"", 0o644);
    start_after_a_reboot(&env);
    assert_eq!(
        std::fs::read(env.ws.join("kept.txt")).unwrap(),
        b"after\n",
        "the answered change was not finished"
    );
    assert!(
        !env.ws.join(".kept.txt.airun-tmp-4242-0").exists(),
        "the lost rename's temporary file is left"
    );
    assert_eq!(listed_unsynced(&env), 0, "the change is still listed");
    let hist = env.history();
    assert_eq!(state_of(&hist[0]), "done", "{hist:#?}");
    // Finished once: a later edit is kept, and undo still takes the change back.
    write(&env.ws, "kept.txt", b"after\n", 0o644);
    env.undo();
    assert_eq!(std::fs::read(env.ws.join("kept.txt")).unwrap(), b"before\n");
    env.run_ok(&["audit", "verify"]);
}

#[test]
fn a_list_left_in_this_boot_is_synced_not_replayed() {
    let env = Env::new();
    write_left_unsynced(&env);
    // A person edits the file after the answer; the process that wrote it is gone, but
    // the system kept running, so its files are in the system's cache.
    write(&env.ws, "kept.txt", b"mine\n", 0o644);
    let hist = env.history();
    assert_eq!(state_of(&hist[0]), "done", "{hist:#?}");
    assert_eq!(listed_unsynced(&env), 0, "the change is still listed");
    assert_eq!(std::fs::read(env.ws.join("kept.txt")).unwrap(), b"mine\n");
    // Nothing is left for a later boot to put back over the edit.
    start_after_a_reboot(&env);
    assert_eq!(std::fs::read(env.ws.join("kept.txt")).unwrap(), b"mine\n");
}

#[test]
fn an_undone_change_is_not_replayed_after_a_reboot() {
    let env = Env::new();
    write_left_unsynced(&env);
    // Undone (an undo puts its files on disk before it answers) while the list could
    // not be cleared.
    let out = env
        .cmd(&["undo", "--json"])
        .env("FAILPOINTS", "tm_settle=return")
        .output()
        .expect("run airun");
    assert_success(&out, "undo with the list left");
    assert_eq!(std::fs::read(env.ws.join("kept.txt")).unwrap(), b"before\n");
    start_after_a_reboot(&env);
    assert_eq!(
        std::fs::read(env.ws.join("kept.txt")).unwrap(),
        b"before\n",
        "an undone change was put back"
    );
    assert_eq!(listed_unsynced(&env), 0, "the change is still listed");
}

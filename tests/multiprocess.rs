//! The time machine shared by several `airun` processes at once: one process writes and
//! another undoes; a running call and a `history` started meanwhile; four MCP servers and
//! four command-line workers writing at the same time into one journal and audit log; the
//! audit log of a running server read by another process (records of successful local
//! reads are written in batches, every other record before its answer).

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_airun");

// ---------------------------------------------------------------------------------------
// Snapshots (kind, mode, bytes, link targets; the workspace folder itself included)

mod support;
use support::snapshot::{Snapshot, assert_snap};

// ---------------------------------------------------------------------------------------
// Running airun

struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Env {
        let shm = Path::new("/dev/shm");
        let tmp = shm
            .is_dir()
            .then(|| {
                tempfile::Builder::new()
                    .prefix("airun-mp-")
                    .tempdir_in(shm)
                    .ok()
            })
            .flatten()
            .unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let base = tmp.path().canonicalize().expect("canonical temp dir");
        let ws = base.join("ws");
        let home = base.join("home");
        std::fs::create_dir(&ws).expect("workspace");
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

    fn execute_cmd(&self, cap: &str, params: Value) -> Command {
        self.cmd(&[
            "execute",
            cap,
            "--params",
            &params.to_string(),
            "--yes",
            "--json",
        ])
    }

    #[track_caller]
    fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run airun");
        assert_ok(&out, &format!("airun {}", args.join(" ")));
        out
    }

    #[track_caller]
    fn execute(&self, cap: &str, params: Value) -> Value {
        let out = self.execute_cmd(cap, params).output().expect("run airun");
        assert_ok(&out, cap);
        serde_json::from_slice(&out.stdout).expect("execute --json is JSON")
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Vec<Value> {
        let out = self.run_ok(args);
        let v: Value = serde_json::from_slice(&out.stdout).expect("--json output is JSON");
        v.as_array().expect("a JSON array").clone()
    }

    fn history(&self) -> Vec<Value> {
        self.json(&["history", "--json", "--limit", "1000"])
    }

    fn snap(&self) -> Snapshot {
        Snapshot::of(&self.ws)
    }
}

#[track_caller]
fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`{what}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, content).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn states(hist: &[Value]) -> Vec<&str> {
    hist.iter()
        .map(|h| h["state"].as_str().unwrap_or("?"))
        .collect()
}

/// Waits for a child at most `limit`; kills it and fails when it takes longer.
fn wait_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{what} did not finish within {limit:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A minimal MCP client over stdio (newline-delimited JSON-RPC).

struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Mcp {
    fn start(env: &Env) -> Mcp {
        let mut child = env
            .cmd(&["serve", "--mcp", "--yes"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start airun serve --mcp");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut m = Mcp {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        let init = m.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "multiprocess-test", "version": "0"}
            }),
        );
        assert!(
            init["result"]["serverInfo"].is_object(),
            "initialize: {init}"
        );
        m.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        m
    }

    fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{msg}").expect("write to the server");
        stdin.flush().expect("flush");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read from the server");
            assert!(
                n > 0,
                "the MCP server closed its output while we waited for `{method}`"
            );
            let msg: Value = serde_json::from_str(&line).expect("the server speaks JSON");
            if msg["id"] == json!(id) && (msg.get("result").is_some() || msg.get("error").is_some())
            {
                return msg;
            }
        }
    }

    /// Calls a tool; returns its whole result (`isError` included).
    fn call_raw(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args}))["result"].clone()
    }

    /// Calls a tool; returns its structured result (fails on a tool error).
    fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert_eq!(r["result"]["isError"], json!(false), "{tool} failed: {r}");
        r["result"]["structuredContent"].clone()
    }

    fn close(mut self) {
        drop(self.stdin.take());
        let out = wait_within(self.child, Duration::from_secs(20), "the MCP server");
        assert!(
            out.status.success(),
            "the MCP server exited with {}",
            out.status
        );
    }
}

// ---------------------------------------------------------------------------------------
// Tests

/// One process writes (and deletes), a second one undoes, byte for byte; a third redoes.
#[test]
fn one_process_writes_another_undoes() {
    let env = Env::new();
    write(&env.ws, "notes.txt", b"the original notes\n", 0o600);
    write(&env.ws, "tree/a.txt", b"alpha\n", 0o644);
    write(&env.ws, "tree/sub/b.bin", &[0, 159, 146, 150, 255], 0o755);
    symlink("a.txt", env.ws.join("tree/link")).expect("symlink");
    let before = env.snap();

    env.execute(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "rewritten by process 1\n"}),
    );
    env.execute("io.fs.delete", json!({"path": "tree", "recursive": true}));
    let after = env.snap();
    assert_ne!(before, after);

    let undone = env.json(&["undo", "--steps", "2", "--json"]);
    assert_eq!(undone.len(), 2, "undo --steps 2: {undone:#?}");
    assert_snap(&env.snap(), &before, "after undo in a second process");
    assert_eq!(states(&env.history()), ["undone", "undone"]);

    let redone = env.json(&["redo", "--steps", "2", "--json"]);
    assert_eq!(redone.len(), 2, "redo --steps 2: {redone:#?}");
    assert_snap(&env.snap(), &after, "after redo in a third process");
    assert_eq!(states(&env.history()), ["done", "done"]);
}

/// `airun history` started while another process's call is between its handler and its
/// commit does not wait for it and shows it `running`: it must not take it for a crashed
/// call and roll it back. A second call started meanwhile waits, and is ordered after it.
#[test]
fn running_execute_and_history_share_the_journal() {
    let env = Env::new();
    write(&env.ws, "a.txt", b"a before\n", 0o644);
    let before = env.snap();

    // The first call sleeps for a second after its handler, holding the operation lock.
    let slow = env
        .execute_cmd(
            "io.fs.write_file",
            json!({"path": "a.txt", "content": "a after\n"}),
        )
        .env("FAILPOINTS", "tm_before_after_images=sleep(1000)")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the slow call");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read(env.ws.join("a.txt")).expect("read a.txt") != b"a after\n" {
        assert!(
            Instant::now() < deadline,
            "the slow call never ran its handler"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // Meanwhile: a history and another call, each in its own process.
    let history = env
        .cmd(&["history", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn history");
    let other = env
        .execute_cmd(
            "io.fs.write_file",
            json!({"path": "b.txt", "content": "b\n"}),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the other call");

    let slow_out = wait_within(slow, Duration::from_secs(30), "the slow call");
    let hist_out = wait_within(history, Duration::from_secs(30), "history");
    let other_out = wait_within(other, Duration::from_secs(30), "the other call");
    assert_ok(&slow_out, "the slow call");
    assert_ok(&hist_out, "history");
    assert_ok(&other_out, "the other call");

    let seen: Vec<Value> = serde_json::from_slice(&hist_out.stdout).expect("history JSON");
    // The slow call's intent was recorded first: it is op 1.
    let slow_op = seen
        .iter()
        .find(|h| h["op"] == json!(1))
        .unwrap_or_else(|| {
            panic!("history in the second process misses the running call: {seen:#?}")
        });
    assert_eq!(
        slow_op["state"], "running",
        "history in the second process: {seen:#?}"
    );
    assert_eq!(slow_op["summary"], "in progress: a.txt", "{seen:#?}");
    assert_eq!(
        std::fs::read(env.ws.join("a.txt")).expect("read"),
        b"a after\n",
        "the running call was rolled back by the other process"
    );

    let hist = env.history();
    assert_eq!(states(&hist), ["done", "done"], "{hist:#?}");
    assert!(
        hist[0]["summary"].as_str().unwrap_or("").contains("b.txt")
            && hist[1]["op"].as_i64() < hist[0]["op"].as_i64(),
        "the call started meanwhile must come after the running one: {hist:#?}"
    );
    env.json(&["undo", "--steps", "2", "--json"]);
    assert_snap(&env.snap(), &before, "after undoing both");
}

/// A running MCP server and the command line share history and undo.
#[test]
fn server_and_cli_share_history() {
    let env = Env::new();
    write(&env.ws, "x.txt", b"x before\n", 0o644);
    let before = env.snap();
    let mut server = Mcp::start(&env);

    env.execute(
        "io.fs.write_file",
        json!({"path": "x.txt", "content": "x from the cli\n"}),
    );
    let ops = server.call("sys_history", json!({}))["ops"].clone();
    assert_eq!(
        ops.as_array().map(Vec::len),
        Some(1),
        "the server's history: {ops:#}"
    );
    assert_eq!(ops[0]["state"], "done");
    assert_eq!(ops[0]["capability"], "io.fs.write_file");

    server.call(
        "io_fs_write_file",
        json!({"path": "y.txt", "content": "y from the server\n"}),
    );
    let hist = env.history();
    assert_eq!(
        states(&hist),
        ["done", "done"],
        "the cli's history: {hist:#?}"
    );

    let undone = server.call("sys_undo", json!({"steps": 2}));
    assert_eq!(
        undone["undone"].as_array().map(Vec::len),
        Some(2),
        "{undone:#}"
    );
    assert_eq!(undone["remaining"], 0, "{undone:#}");
    assert_snap(&env.snap(), &before, "after the server undid both");
    assert_eq!(states(&env.history()), ["undone", "undone"]);

    env.json(&["redo", "--steps", "2", "--json"]);
    let ops = server.call("sys_history", json!({}))["ops"].clone();
    assert_eq!(ops[0]["state"], "done", "{ops:#}");
    assert_eq!(ops[1]["state"], "done", "{ops:#}");
    server.close();
}

/// After 40 writes from four processes at once: 40 `done` ops with distinct ids, an audit
/// chain of 40 records that verifies and names the same ops, and one undo of 40 steps
/// restoring the empty workspace.
fn check_forty(env: &Env, empty: &Snapshot) {
    for w in 0..4 {
        for i in 0..10 {
            let p = env.ws.join(format!("w{w}-{i}.txt"));
            assert_eq!(
                std::fs::read_to_string(&p).unwrap_or_default(),
                format!("worker {w} call {i}\n"),
                "{}",
                p.display()
            );
        }
    }
    let hist = env.history();
    assert_eq!(hist.len(), 40, "{hist:#?}");
    assert!(
        states(&hist).iter().all(|s| *s == "done"),
        "{:?}",
        states(&hist)
    );
    let ids: BTreeSet<i64> = hist
        .iter()
        .map(|h| h["op"].as_i64().expect("op id"))
        .collect();
    assert_eq!(ids.len(), 40, "op ids are not distinct: {ids:?}");

    let out = env.run_ok(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("40 records"), "audit verify: {text}");
    let out = env.run_ok(&["audit", "export", "--jsonl"]);
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    assert_eq!(records.len(), 40);
    let audited: BTreeSet<i64> = records.iter().filter_map(|r| r["op"].as_i64()).collect();
    assert_eq!(
        audited, ids,
        "the audit records name other ops than history"
    );
    assert!(records.iter().all(|r| r["outcome"] == "ok"), "{records:#?}");

    let undone = env.json(&["undo", "--steps", "40", "--json"]);
    assert_eq!(undone.len(), 40);
    assert_snap(&env.snap(), empty, "after undo --steps 40");
    assert!(states(&env.history()).iter().all(|s| *s == "undone"));
}

/// Four long-lived processes (MCP servers) each making ten writes, at the same time.
#[test]
fn four_servers_write_at_once() {
    let env = Env::new();
    let empty = env.snap();
    let barrier = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let mut server = Mcp::start(&env);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..10 {
                    let r = server.call(
                        "io_fs_write_file",
                        json!({"path": format!("w{w}-{i}.txt"), "content": format!("worker {w} call {i}\n")}),
                    );
                    assert_eq!(r["created"], true, "{r}");
                }
                server.close();
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    check_forty(&env, &empty);
}

/// Four command-line workers at once, each running ten `airun execute` one after the other
/// (every start opens the state and runs recovery while the others are mid-call).
#[test]
fn four_cli_workers_write_at_once() {
    let env = Arc::new(Env::new());
    let empty = env.snap();
    let barrier = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let env = env.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..10 {
                    let r = env.execute(
                        "io.fs.write_file",
                        json!({"path": format!("w{w}-{i}.txt"), "content": format!("worker {w} call {i}\n")}),
                    );
                    assert_eq!(r["status"], "ok", "{r}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    check_forty(&env, &empty);
}

/// `airun history` and `airun audit` answer while another process is in the middle of a
/// long change: only changes wait for the operation lock.
#[test]
fn history_and_audit_answer_during_a_long_call_elsewhere() {
    let env = Env::new();
    std::fs::write(env.home.join("policy.toml"), "[exec]\nallow = [\"sh\"]\n").unwrap();
    let mut server = Mcp::start(&env);
    let id = server.next_id;
    server.next_id += 1;
    server.send(
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "sys_exec_run",
            "arguments": {"command": "sh", "args": ["-c", "touch started; sleep 3; echo done"]}
        }}),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !env.ws.join("started").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the program never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // The server holds the operation lock until its program ends.
    let hist = env.history();
    assert_eq!(
        states(&hist),
        ["running"],
        "history waited for the call: {hist:#?}"
    );
    env.json(&["audit", "--json"]);

    let mut line = String::new();
    server.stdout.read_line(&mut line).expect("the exec answer");
    let answer: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(answer["id"], json!(id), "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["stdout"], "done\n",
        "{answer}"
    );
    assert_eq!(states(&env.history()), ["done"]);
    server.close();
}

/// `(capability, decision, outcome)` of every audit record, oldest first, read by another
/// `airun` process.
fn audit_of(env: &Env) -> Vec<(String, String, String)> {
    env.json(&["audit", "--json", "--limit", "1000"])
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (field("capability"), field("decision"), field("outcome"))
        })
        .collect()
}

fn rec(cap: &str, decision: &str, outcome: &str) -> (String, String, String) {
    (cap.into(), decision.into(), outcome.into())
}

#[test]
fn reads_are_on_record_before_a_change_after_a_pause_and_at_exit() {
    let env = Env::new();
    write(&env.ws, "a.txt", b"alpha\n", 0o644);
    let mut server = Mcp::start(&env);
    let read = rec("io.fs.read_file", "allowed", "ok");
    for _ in 0..5 {
        server.call("io_fs_read_file", json!({"path": "a.txt"}));
    }
    server.call(
        "io_fs_write_file",
        json!({"path": "b.txt", "content": "bravo\n"}),
    );
    // The change's record is written before its answer, after the reads that came first.
    let mut expected = vec![read.clone(); 5];
    expected.push(rec("io.fs.write_file", "approved_by_flag", "ok"));
    assert_eq!(audit_of(&env), expected);

    // Reads followed by a pause are written without another call.
    for _ in 0..3 {
        server.call("io_fs_read_file", json!({"path": "a.txt"}));
    }
    expected.extend(vec![read.clone(); 3]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = audit_of(&env);
        if got == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reads were never written while the server idled: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Reads just before the client leaves are written as the server exits.
    for _ in 0..2 {
        server.call("io_fs_read_file", json!({"path": "a.txt"}));
    }
    server.close();
    expected.extend(vec![read; 2]);
    assert_eq!(audit_of(&env), expected);
    env.run_ok(&["audit", "verify"]);
}

#[test]
fn refused_and_failed_calls_are_on_record_before_their_answer() {
    let env = Env::new();
    let outside = env.ws.parent().expect("parent").join("outside.txt");
    std::fs::write(&outside, "secret\n").expect("outside");
    let mut server = Mcp::start(&env);

    let r = server.call_raw("io_fs_read_file", json!({"path": "../outside.txt"}));
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(
        audit_of(&env),
        vec![rec("io.fs.read_file", "denied_sandbox", "denied_sandbox")]
    );

    let r = server.call_raw("io_fs_read_file", json!({"path": "missing.txt"}));
    assert_eq!(r["isError"], true, "{r}");
    let got = audit_of(&env);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].0, "io.fs.read_file");
    assert_ne!(got[1].2, "ok", "{got:?}");
    server.close();
    env.run_ok(&["audit", "verify"]);
}

#[test]
fn a_state_folder_that_cannot_be_opened_fails_each_call_with_the_reason() {
    let env = Env::new();
    write(&env.ws, "a.txt", b"alpha\n", 0o644);
    // `$AIRUN_HOME/state` is a file: the state folder cannot be made.
    std::fs::write(env.home.join("state"), "not a folder").expect("state file");
    let mut server = Mcp::start(&env);
    let r = server.call_raw("io_fs_read_file", json!({"path": "a.txt"}));
    assert_eq!(r["isError"], true, "{r}");
    let text = r["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("state folder"), "{text}");
    let r = server.call_raw(
        "io_fs_write_file",
        json!({"path": "b.txt", "content": "bravo\n"}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        !env.ws.join("b.txt").exists(),
        "a call ran without its journal"
    );
    server.close();
}

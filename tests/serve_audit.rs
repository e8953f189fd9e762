//! The audit log of a running `airun serve --mcp`, read from another process: records
//! of successful local reads are written in batches, every other record before its
//! answer, and nothing is lost when the client closes the connection.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_airun");

struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&ws).expect("ws");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::write(ws.join("a.txt"), "alpha\n").expect("a.txt");
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
            .env_remove("FAILPOINTS");
        c
    }

    /// `(capability, decision, outcome)` of every record, oldest first, read by another
    /// `airun` process.
    fn audit(&self) -> Vec<(String, String, String)> {
        let out = self
            .cmd(&["audit", "--json", "--limit", "1000"])
            .output()
            .expect("run airun audit");
        assert!(
            out.status.success(),
            "airun audit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("audit --json");
        records
            .iter()
            .map(|r| {
                (
                    r["capability"].as_str().unwrap_or_default().to_string(),
                    r["decision"].as_str().unwrap_or_default().to_string(),
                    r["outcome"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn verify(&self) {
        let out = self
            .cmd(&["audit", "verify"])
            .output()
            .expect("run airun audit verify");
        assert!(
            out.status.success(),
            "audit verify failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    next: u64,
}

impl Server {
    fn start(env: &Env) -> Server {
        let mut child = env
            .cmd(&["serve", "--mcp", "--yes"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn airun serve");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut s = Server {
            child,
            out,
            next: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "audit-test", "version": "1"}}),
        );
        assert!(init["result"]["protocolVersion"].is_string(), "{init}");
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, message: Value) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{message}").expect("send");
        stdin.flush().expect("flush");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        self.out.read_line(&mut line).expect("reply");
        let reply: Value = serde_json::from_str(&line).expect("a JSON-RPC reply");
        assert_eq!(reply["id"], id, "{reply}");
        reply
    }

    /// Calls a tool; returns its result and whether it is an error.
    fn call(&mut self, tool: &str, args: Value) -> (Value, bool) {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let result = r["result"].clone();
        let failed = result["isError"].as_bool().unwrap_or(false);
        (result, failed)
    }

    fn read(&mut self) {
        let (r, failed) = self.call("io_fs_read_file", json!({"path": "a.txt"}));
        assert!(!failed, "{r}");
    }

    /// Closes stdin and waits for the server to exit by itself.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait for airun serve");
        assert!(status.success(), "airun serve exited with {status}");
    }
}

fn rec(cap: &str, decision: &str, outcome: &str) -> (String, String, String) {
    (cap.into(), decision.into(), outcome.into())
}

#[test]
fn reads_are_on_record_before_a_change_after_a_pause_and_at_exit() {
    let env = Env::new();
    let mut server = Server::start(&env);
    let read = rec("io.fs.read_file", "allowed", "ok");
    for _ in 0..5 {
        server.read();
    }
    let (r, failed) = server.call(
        "io_fs_write_file",
        json!({"path": "b.txt", "content": "bravo\n"}),
    );
    assert!(!failed, "{r}");
    // The change's record is written before its answer, after the reads that came first.
    let mut expected = vec![read.clone(); 5];
    expected.push(rec("io.fs.write_file", "approved_by_flag", "ok"));
    assert_eq!(env.audit(), expected);

    // Reads followed by a pause are written without another call.
    for _ in 0..3 {
        server.read();
    }
    expected.extend(vec![read.clone(); 3]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = env.audit();
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
        server.read();
    }
    server.stop();
    expected.extend(vec![read; 2]);
    assert_eq!(env.audit(), expected);
    env.verify();
}

#[test]
fn refused_and_failed_calls_are_on_record_before_their_answer() {
    let env = Env::new();
    let outside = env.ws.parent().expect("parent").join("outside.txt");
    std::fs::write(&outside, "secret\n").expect("outside");
    let mut server = Server::start(&env);

    let (r, failed) = server.call("io_fs_read_file", json!({"path": "../outside.txt"}));
    assert!(failed, "{r}");
    assert_eq!(
        env.audit(),
        vec![rec("io.fs.read_file", "denied_sandbox", "denied_sandbox")]
    );

    let (r, failed) = server.call("io_fs_read_file", json!({"path": "missing.txt"}));
    assert!(failed, "{r}");
    let got = env.audit();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].0, "io.fs.read_file");
    assert_ne!(got[1].2, "ok", "{got:?}");
    server.stop();
    env.verify();
}

#[test]
fn a_state_folder_that_cannot_be_opened_fails_each_call_with_the_reason() {
    let env = Env::new();
    // `$AIRUN_HOME/state` is a file: the state folder cannot be made.
    std::fs::write(env.home.join("state"), "not a folder").expect("state file");
    let mut server = Server::start(&env);
    let (r, failed) = server.call("io_fs_read_file", json!({"path": "a.txt"}));
    assert!(failed, "{r}");
    let text = r["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("state folder"), "{text}");
    let (r, failed) = server.call(
        "io_fs_write_file",
        json!({"path": "b.txt", "content": "bravo\n"}),
    );
    assert!(failed, "{r}");
    assert!(
        !env.ws.join("b.txt").exists(),
        "a call ran without its journal"
    );
    server.stop();
}

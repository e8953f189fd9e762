//! `airun serve --mcp` fed raw lines: every malformed line gets an answer (a parse error
//! or an invalid request, with `id: null` when the id cannot be read), a line over the
//! policy's limit gets a clear error, and notifications before `initialize` are ignored
//! instead of ending the session.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_airun");
const WAIT: Duration = Duration::from_secs(30);

struct Server {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
}

impl Server {
    fn start(policy: &str) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("policy.toml"), policy).unwrap();
        let mut child = Command::new(BIN)
            .args(["--workspace"])
            .arg(&ws)
            .args(["serve", "--mcp", "--yes", "--log-level", "error"])
            .env("AIRUN_HOME", &home)
            .env_remove("AIRUN_WORKSPACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn airun");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            _tmp: tmp,
            ws,
            child,
            stdin,
            replies,
        }
    }

    fn send_raw(&mut self, line: &[u8]) {
        self.stdin.write_all(line).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, v: Value) {
        self.send_raw(v.to_string().as_bytes());
    }

    #[track_caller]
    fn reply(&mut self, what: &str) -> Value {
        match self.replies.recv_timeout(WAIT) {
            Ok(line) => serde_json::from_str(&line).expect("a JSON reply"),
            Err(RecvTimeoutError::Timeout) => panic!("{what}: no reply within {WAIT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{what}: the server closed its output (exit {:?})",
                self.child.try_wait()
            ),
        }
    }

    fn initialize(&mut self) {
        self.send(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "edge", "version": "1"}}}),
        );
        let r = self.reply("initialize");
        assert!(r["result"]["serverInfo"].is_object(), "{r}");
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    }

    /// A ping answered: the session is alive and in order.
    #[track_caller]
    fn ping(&mut self, id: u64) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}));
        let r = self.reply("ping");
        assert_eq!(r["id"], id, "{r}");
        assert!(r["result"].is_object(), "{r}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[track_caller]
fn assert_error(r: &Value, code: i64, id: Value) {
    assert_eq!(r["error"]["code"], code, "{r}");
    assert!(
        r.as_object().unwrap().contains_key("id"),
        "the reply has no id: {r}"
    );
    assert_eq!(r["id"], id, "{r}");
    assert!(!r["error"]["message"].as_str().unwrap().is_empty(), "{r}");
}

#[test]
fn a_notification_before_initialize_is_ignored() {
    let mut s = Server::start("");
    s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    s.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
    );
    s.initialize();
    s.ping(1);
    assert!(s.child.try_wait().unwrap().is_none(), "the server ended");
}

#[test]
fn every_malformed_line_is_answered() {
    let mut s = Server::start("");
    // Before initialize too.
    s.send_raw(b"{not json");
    assert_error(
        &s.reply("invalid JSON before initialize"),
        -32700,
        Value::Null,
    );
    s.initialize();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested_130 = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    let call_130 = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"data_json_stringify","arguments":{{"value":{nested_130}}}}}}}"#
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid JSON", b"{not json".to_vec()),
        (
            "a truncated line",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/li"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\xff\xfe\"}".to_vec(),
        ),
        (
            "a NUL byte",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\0ng\"}".to_vec(),
        ),
        ("100k-deep nesting", deep.into_bytes()),
        (
            "a lone surrogate",
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"data_json_stringify","arguments":{"value":"\ud800"}}}"#.to_vec(),
        ),
        (
            "a trailing comma",
            br#"{"jsonrpc":"2.0","id":3,"method":"ping",}"#.to_vec(),
        ),
        ("valid JSON nested 130 deep", call_130.into_bytes()),
    ];
    for (i, (what, line)) in cases.into_iter().enumerate() {
        s.send_raw(&line);
        let r = s.reply(what);
        assert_error(&r, -32700, Value::Null);
        // The session goes on.
        s.ping(100 + i as u64);
    }
    // Well-formed JSON that is not a valid request: answered with its id.
    s.send(json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": "nope"}));
    assert_error(&s.reply("params of the wrong type"), -32600, json!(41));
    s.send(json!([1, 2]));
    assert_error(&s.reply("a batch"), -32600, Value::Null);
    s.send(json!({"jsonrpc": "2.0", "id": 42}));
    assert_error(&s.reply("no method"), -32600, json!(42));
    s.ping(200);
}

/// The line limit is the policy's `mcp.max_message_bytes`: a longer line gets an error
/// naming it (and the session goes on); raised, a 20 MB write goes through.
#[test]
fn the_line_limit_is_a_policy_key() {
    let mut s = Server::start("[mcp]\nmax_message_bytes = 1048576\n");
    s.initialize();
    let big = "x".repeat(2 << 20);
    s.send(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "io_fs_write_file", "arguments": {"path": "big.txt", "content": big}}}),
    );
    let r = s.reply("a line over the limit");
    assert_error(&r, -32600, Value::Null);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("mcp.max_message_bytes") && msg.contains("1048576"),
        "{msg}"
    );
    assert!(!s.ws.join("big.txt").exists());
    s.ping(6);

    let mut s = Server::start("[mcp]\nmax_message_bytes = 33554432\n");
    s.initialize();
    let big = "y".repeat(20_000_000);
    s.send(
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "io_fs_write_file", "arguments": {"path": "big.txt", "content": big}}}),
    );
    let r = s.reply("a 20 MB write");
    assert_eq!(r["id"], 7, "{r}");
    assert_ne!(r["result"]["isError"], true, "{r}");
    assert_eq!(
        std::fs::metadata(s.ws.join("big.txt")).unwrap().len(),
        20_000_000
    );
}

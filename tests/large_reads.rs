//! A large result goes out once (docs/performance.md, "Large reads"): from protocol
//! 2025-06-18 on, `structuredContent` carries the whole result and the text block the
//! same JSON with the large text replaced by a note; before it, the text block carries the
//! whole JSON and there is no `structuredContent`. Driven over real stdio: from
//! 2025-06-18 on the reply line stays within 1.05 times the file; a reply past the size
//! from which it is streamed holds the file exactly.

use airun::adapters::mcp::media::LARGE_TEXT;
use airun::adapters::mcp::stdio::STREAM_FROM;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_airun");

struct Server {
    _tmp: tempfile::TempDir,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Server {
    /// A server over a workspace holding `files`, initialized at `protocol`.
    fn start(protocol: &str, files: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&ws).unwrap();
        for (name, text) in files {
            std::fs::write(ws.join(name), text).unwrap();
        }
        let mut child = Command::new(BIN)
            .arg("--workspace")
            .arg(&ws)
            .args(["serve", "--mcp", "--yes", "--log-level", "error"])
            .env("AIRUN_HOME", &home)
            .env_remove("AIRUN_WORKSPACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn airun");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Server {
            _tmp: tmp,
            child,
            stdin,
            stdout,
            next: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": protocol, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        );
        let init: Value = serde_json::from_str(&init).unwrap();
        assert_eq!(init["result"]["protocolVersion"], protocol, "{init}");
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(v.to_string().as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns its reply line, as sent.
    fn request(&mut self, method: &str, params: Value) -> String {
        let id = self.next;
        self.next += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the server closed its output");
        line
    }

    fn read(&mut self, path: &str) -> (usize, Value) {
        let line = self.request(
            "tools/call",
            json!({"name": "io_fs_read_file", "arguments": {"path": path, "limit_bytes": 16 << 20}}),
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v["result"]["isError"],
            false,
            "{}",
            &line[..line.len().min(500)]
        );
        (line.len(), v["result"].clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Text like source code or a log, of `bytes` bytes or a line more: lines of about 100
/// bytes, some with quotes or non-ASCII characters, which JSON escapes.
fn big_text(bytes: usize) -> String {
    let lines = [
        "2026-12-02T03:00:00Z INFO request served path=/api/v1/items status=200 bytes=5120 ms=3.2\n",
        "    let message = format!(\"{name} was written ({bytes} bytes)\"); // caf\u{e9} \u{4e16}\n",
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123456789abcdefghijklmnopq\n",
    ];
    let mut text = String::with_capacity(bytes + 200);
    while text.len() < bytes {
        text.push_str(lines[text.len() / 100 % 3]);
    }
    text
}

/// The text block of a result, parsed as JSON.
fn text_json(result: &Value) -> Value {
    let texts: Vec<&str> = result["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "text")
        .filter_map(|c| c["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 1, "one text block: {texts:?}");
    serde_json::from_str(texts[0]).expect("the text block is JSON")
}

#[test]
fn a_large_read_sends_its_content_once_in_structured_content() {
    let big = big_text(3 * LARGE_TEXT);
    let mut server = Server::start("2025-06-18", &[("big.txt", &big), ("small.txt", "small\n")]);
    let (reply_bytes, result) = server.read("big.txt");
    let ratio = reply_bytes as f64 / big.len() as f64;
    println!(
        "2025-06-18: {} byte file, {reply_bytes} byte reply ({ratio:.4}x)",
        big.len()
    );
    assert!(ratio <= 1.05, "the reply is {ratio:.3} times the file");
    let structured = &result["structuredContent"];
    assert!(
        structured["content"] == big.as_str(),
        "structuredContent holds the whole file"
    );
    let text = text_json(&result);
    let note = text["content"]
        .as_str()
        .expect("a note in place of the content");
    assert!(
        note.contains(&big.len().to_string()) && note.contains("structuredContent.content"),
        "{note}"
    );
    // Every other field is in the text block as well.
    for (k, v) in structured.as_object().unwrap() {
        if k != "content" {
            assert_eq!(&text[k], v, "{k}");
        }
    }
    // A small read still carries the same JSON in both.
    let (_, small) = server.read("small.txt");
    assert_eq!(text_json(&small), small["structuredContent"]);
    assert_eq!(small["structuredContent"]["content"], "small\n");
}

#[test]
fn before_2025_06_18_a_large_read_is_the_text_block_alone() {
    let big = big_text(3 * LARGE_TEXT);
    let mut server = Server::start("2025-03-26", &[("big.txt", &big)]);
    let (reply_bytes, result) = server.read("big.txt");
    let ratio = reply_bytes as f64 / big.len() as f64;
    println!(
        "2025-03-26: {} byte file, {reply_bytes} byte reply ({ratio:.4}x)",
        big.len()
    );
    // Once, escaped twice (JSON text inside a JSON string): well under two copies.
    assert!(ratio <= 1.25, "the reply is {ratio:.3} times the file");
    assert!(
        result.get("structuredContent").is_none(),
        "no structuredContent before 2025-06-18"
    );
    let text = text_json(&result);
    assert!(
        text["content"] == big.as_str(),
        "the text block holds the whole file"
    );
    assert_eq!(text["truncated"], false);
}

/// A text past [`STREAM_FROM`] with a control character (never NUL: a file holding one is
/// binary), a quote and a backslash every few KiB, so that the escaped text's chunks end
/// inside escapes and multi-byte characters.
fn streamed_text() -> String {
    let mut text = big_text(2 * STREAM_FROM + 12_345);
    let mut at = 0;
    let mut n = 0u32;
    while at < text.len() {
        while !text.is_char_boundary(at) {
            at += 1;
        }
        let c = char::from_u32(n % 0x1f + 1).unwrap_or('\u{1}');
        text.insert_str(at, &format!("{c}\"\\\u{7f}\u{1d11e}"));
        at += 4093;
        n += 1;
    }
    text
}

#[test]
fn a_streamed_read_is_the_file_exactly_at_either_protocol() {
    let big = streamed_text();
    for protocol in ["2025-06-18", "2025-03-26"] {
        let mut server = Server::start(protocol, &[("big.txt", &big)]);
        let (_, result) = server.read("big.txt");
        let content = match result.get("structuredContent") {
            Some(s) => s["content"].clone(),
            None => text_json(&result)["content"].clone(),
        };
        assert!(
            content.as_str() == Some(big.as_str()),
            "{protocol}: the reply holds the file exactly"
        );
    }
}

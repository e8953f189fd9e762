//! Load limits per principal over real HTTP on loopback, against the real `airun serve
//! --port`: with a low `[limits]` in the operator's policy, the call beyond the burst is
//! answered 429 with `Retry-After` and a JSON error naming the limit, on the REST and the
//! MCP path alike, and changes nothing (no file, no audit record); a call beyond
//! `concurrent_calls` is refused while another runs, and passes once it ended.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::mcp::{AIRUN, Dirs};
use support::serve::{Running, command, start};
use support::snapshot::Snapshot;

const TOKEN: &str = "limits-test-token-0123456789";

struct Server {
    _process: Running,
    base: String,
    http: reqwest::Client,
}

impl Server {
    fn start(dirs: &Dirs, policy: &str) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let file = dirs.home.join("limits-policy.toml");
        std::fs::write(&file, policy).expect("policy");
        let started = start(command(
            Path::new(AIRUN),
            &dirs.ws,
            &dirs.home,
            &["--token", TOKEN, "--policy", file.to_str().expect("UTF-8")],
        ));
        Server {
            _process: started.process,
            base: format!("http://{}", started.addr),
            http: reqwest::Client::new(),
        }
    }

    /// `POST /api/v1/capabilities/{id}/calls`: the status, `Retry-After`, the body.
    async fn call(&self, id: &str, params: Value) -> (u16, Option<String>, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/capabilities/{id}/calls", self.base))
            .bearer_auth(TOKEN)
            .json(&params)
            .send()
            .await
            .expect("the server answers");
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, retry, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("JSON")
    }

    async fn audit_records(&self) -> usize {
        let page = self.get("/audit?limit=1000").await;
        page["records"].as_array().map_or(0, Vec::len)
    }
}

fn write(name: &str) -> Value {
    json!({"path": name, "content": "x\n"})
}

/// Checks a 429: `Retry-After` in whole seconds, and the JSON error naming `limit`.
fn assert_refused(answer: &(u16, Option<String>, Value), limit: &str) {
    let (status, retry, body) = answer;
    assert_eq!(*status, 429, "{body}");
    let secs: u64 = retry
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in whole seconds: {retry:?}"));
    assert!(secs >= 1, "{secs}");
    let e = &body["error"];
    assert_eq!(e["kind"], "rate_limited", "{body}");
    assert_eq!(e["limit"], limit, "{body}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("limits.{limit}"))),
        "{body}"
    );
    assert!(e["hint"].as_str().is_some_and(|h| !h.is_empty()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_the_burst_is_refused_and_changes_nothing() {
    let dirs = Dirs::new();
    let server = Server::start(
        &dirs,
        "auto_approve = [\"io.fs.write_file\"]\n[limits]\ncalls_per_second = 1\nburst = 3\n",
    );
    for i in 0..3 {
        let (status, _, body) = server
            .call("io.fs.write_file", write(&format!("{i}.txt")))
            .await;
        assert_eq!(status, 200, "call {i} of the burst: {body}");
    }
    let before = Snapshot::of(&dirs.ws);
    let records = server.audit_records().await;
    let refused = server.call("io.fs.write_file", write("3.txt")).await;
    assert_refused(&refused, "calls_per_second");
    // The MCP path counts against the same allowance.
    let mcp = server
        .http
        .post(format!("{}/mcp", server.base))
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "limits-test", "version": "1"}}}),
        )
        .send()
        .await
        .expect("the server answers");
    assert_eq!(mcp.status().as_u16(), 429);
    assert!(mcp.headers().contains_key("retry-after"));
    Snapshot::of(&dirs.ws).assert_same(&before, "after the refused calls");
    assert!(!dirs.ws.join("3.txt").exists());
    assert_eq!(
        server.audit_records().await,
        records,
        "a refused call is audited"
    );
    // Other endpoints are not counted; after the wait a call passes again.
    assert!(server.get("/history").await["operations"].is_array());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = server.call("io.fs.write_file", write("3.txt")).await;
    assert_eq!(status, 200, "after Retry-After: {body}");
    assert!(dirs.ws.join("3.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_the_running_ones_waits_for_none_and_is_refused() {
    let dirs = Dirs::new();
    std::fs::write(dirs.ws.join("doomed.txt"), "x\n").unwrap();
    let server = Server::start(
        &dirs,
        "auto_approve = [\"io.fs.write_file\"]\n[limits]\nconcurrent_calls = 1\n[confirm]\nvia = [\"console\"]\ntimeout_seconds = 60\n",
    );
    let server = std::sync::Arc::new(server);
    // A delete waits in the console for a yes: one call running.
    let waiting = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .call("io.fs.delete", json!({"path": "doomed.txt"}))
                .await
        })
    };
    let pending = loop {
        let list = server.get("/confirmations").await;
        if let Some(p) = list.as_array().and_then(|l| l.first()) {
            break p.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(pending["principal"], "operator", "{pending}");
    let refused = server.call("io.fs.write_file", write("second.txt")).await;
    assert_refused(&refused, "concurrent_calls");
    assert!(!dirs.ws.join("second.txt").exists());
    // Deny the waiting call: it ends, and the next call runs.
    let decided = server
        .http
        .post(format!(
            "{}/api/v1/confirmations/{}",
            server.base, pending["id"]
        ))
        .bearer_auth(TOKEN)
        .json(&json!({"approve": false, "args_hash": pending["args_hash"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status().as_u16(), 200);
    let (status, _, _) = waiting.await.unwrap();
    assert_eq!(status, 422, "the denied call");
    assert!(dirs.ws.join("doomed.txt").exists());
    let (status, _, body) = server.call("io.fs.write_file", write("second.txt")).await;
    assert_eq!(status, 200, "{body}");
}

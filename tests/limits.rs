//! Load limits per principal over real HTTP on loopback, against the real `airun serve
//! --port`: with a low `[limits]` in the operator's policy, the call beyond the burst is
//! answered 429 with `Retry-After` and a JSON error naming the limit, on the REST and the
//! MCP path alike, and changes nothing (no file, no audit record); a call beyond
//! `concurrent_calls` is refused while another runs, and passes once it ended.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::http::{Api, Reply, mcp_initialize};
use support::mcp::{AIRUN, Dirs};
use support::serve::{Running, command, start};
use support::snapshot::Snapshot;

const TOKEN: &str = "limits-test-token-0123456789";

struct Server {
    _process: Running,
    api: Api,
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
            api: Api::new(&started.addr),
            _process: started.process,
        }
    }

    /// `POST /api/v1/capabilities/{id}/calls`: the status, the headers, the body.
    async fn call(&self, id: &str, params: Value) -> Reply {
        let path = format!("/api/v1/capabilities/{id}/calls");
        self.api.reply(TOKEN, "POST", &path, params).await
    }

    /// `GET /api/v1{path}`, which answers 200: the body.
    async fn get(&self, path: &str) -> Value {
        self.api.get_ok(TOKEN, &format!("/api/v1{path}")).await
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
fn assert_refused(answer: &Reply, limit: &str) {
    let body = &answer.body;
    assert_eq!(answer.status, 429, "{body}");
    let retry = answer.header("retry-after");
    let secs: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("no Retry-After in whole seconds: {retry:?}"));
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
        let r = server
            .call("io.fs.write_file", write(&format!("{i}.txt")))
            .await;
        assert_eq!(r.status, 200, "call {i} of the burst: {}", r.body);
    }
    let before = Snapshot::of(&dirs.ws);
    let records = server.audit_records().await;
    let refused = server.call("io.fs.write_file", write("3.txt")).await;
    assert_refused(&refused, "calls_per_second");
    // The MCP path counts against the same allowance.
    let mcp = server
        .api
        .reply(TOKEN, "POST", "/mcp", mcp_initialize("limits-test"))
        .await;
    assert_eq!(mcp.status, 429, "{}", mcp.body);
    assert!(mcp.headers.contains_key("retry-after"));
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
    let r = server.call("io.fs.write_file", write("3.txt")).await;
    assert_eq!(r.status, 200, "after Retry-After: {}", r.body);
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
    let path = format!("/api/v1/confirmations/{}", pending["id"]);
    let body = json!({"approve": false, "args_hash": pending["args_hash"]});
    server.api.ok(TOKEN, "POST", &path, body).await;
    let denied = waiting.await.unwrap();
    assert_eq!(denied.status, 422, "the denied call: {}", denied.body);
    assert!(dirs.ws.join("doomed.txt").exists());
    let r = server.call("io.fs.write_file", write("second.txt")).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

//! `GET /confirmations` and `POST /confirmations/{id}` over real HTTP on loopback: a call
//! of a real pipeline (SQLite journal and audit) waits in the broker until a person
//! approves it, denies it, or the timeout declines it; a decision is bound to the call's
//! id and arguments hash and counts once; the audit log records who approved; a denied or
//! timed-out call leaves the workspace as it was.

mod support;

use airun::ErrorKind;
use airun::pipeline::Confirmer;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::console::Console;
use support::snapshot::Snapshot;

fn broker(c: &Console) -> Arc<dyn Confirmer> {
    c.broker.clone()
}

fn decide(approve: bool, hash: &Value) -> String {
    json!({"approve": approve, "args_hash": hash}).to_string()
}

fn last_audit(c: &Console) -> airun::timemachine::audit::Record {
    c.tm.audit_records(Some(1))
        .unwrap()
        .pop()
        .expect("an audit record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_call_runs_and_the_audit_names_who_approved() {
    let c = Console::start(1024, Duration::from_secs(60)).await;
    let mut feed = c.viewer(None, 1).await;
    let call = c.call(
        "io.fs.write_file",
        json!({"path": "approved.txt", "content": "hidden text"}),
        broker(&c),
    );
    let list = c.wait_pending(1).await;
    let p = &list[0];
    assert_eq!(p["capability"], "io.fs.write_file");
    assert_eq!(p["params"]["path"], "approved.txt");
    assert_eq!(p["params"]["content"], "<redacted>");
    assert_eq!(p["args_hash"].as_str().unwrap().len(), 64);
    assert!(p["expires_in_seconds"].as_u64().unwrap() <= 60);
    assert!(
        !c.root.join("approved.txt").exists(),
        "nothing runs before the yes"
    );
    let id = p["id"].as_u64().unwrap();
    let (status, body) = c
        .post_raw(
            &format!("/confirmations/{id}"),
            &decide(true, &p["args_hash"]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "approved");
    let out = call.await.unwrap().expect("the approved call runs");
    assert_eq!(
        std::fs::read_to_string(c.root.join("approved.txt")).unwrap(),
        "hidden text",
        "{out}"
    );
    let audit = last_audit(&c);
    assert_eq!(audit.capability, "io.fs.write_file");
    assert_eq!(audit.decision, "approved_by_console:operator");
    assert_eq!(audit.outcome, "ok");
    // The live feed showed the wait, with the same id and hash.
    let seen = feed.take(3).await;
    let kinds: Vec<&str> = seen.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(kinds, ["requested", "confirmation_waiting", "finished"]);
    assert_eq!(seen[1].data["detail"]["confirmation"], id);
    assert_eq!(seen[1].data["detail"]["args_hash"], p["args_hash"]);
    assert_eq!(
        seen[2].data["detail"]["decision"],
        "approved_by_console:operator"
    );
    // Nothing waits any more, and a second decision is refused.
    assert!(c.wait_pending(0).await.is_empty());
    let (status, body) = c
        .post_raw(
            &format!("/confirmations/{id}"),
            &decide(false, &p["args_hash"]),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already decided")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_call_changes_nothing_and_is_audited_declined() {
    let c = Console::start(1024, Duration::from_secs(60)).await;
    let before = Snapshot::of(&c.root);
    let call = c.call(
        "io.fs.write_file",
        json!({"path": "keep.txt", "content": "overwritten"}),
        broker(&c),
    );
    let p = c.wait_pending(1).await.remove(0);
    let id = p["id"].as_u64().unwrap();
    let (status, body) = c
        .post_raw(
            &format!("/confirmations/{id}"),
            &decide(false, &p["args_hash"]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "denied");
    let err = call.await.unwrap().expect_err("a denied call is refused");
    assert_eq!(err.kind, ErrorKind::Declined);
    assert!(
        err.message
            .contains("denied in the operations console by operator"),
        "{}",
        err.message
    );
    Snapshot::of(&c.root).assert_same(&before, "after a denied call");
    let audit = last_audit(&c);
    assert_eq!(audit.decision, "declined");
    assert_eq!(audit.outcome, "declined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_decides_is_declined_at_the_timeout() {
    let c = Console::start(1024, Duration::from_secs(1)).await;
    let before = Snapshot::of(&c.root);
    let started = Instant::now();
    let call = c.call("io.fs.delete", json!({"path": "keep.txt"}), broker(&c));
    let p = c.wait_pending(1).await.remove(0);
    let err = call.await.unwrap().expect_err("the timeout declines");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(err.kind, ErrorKind::Declined);
    assert!(err.message.contains("nobody decided"), "{}", err.message);
    Snapshot::of(&c.root).assert_same(&before, "after a timed-out call");
    assert_eq!(last_audit(&c).decision, "declined");
    assert!(c.wait_pending(0).await.is_empty());
    // Too late now: the call is gone, and a decision says so.
    let id = p["id"].as_u64().unwrap();
    let (status, body) = c
        .post_raw(
            &format!("/confirmations/{id}"),
            &decide(true, &p["args_hash"]),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_is_bound_to_the_calls_id_and_arguments_hash() {
    let c = Console::start(1024, Duration::from_secs(60)).await;
    let before = Snapshot::of(&c.root);
    let one = c.call(
        "io.fs.write_file",
        json!({"path": "one.txt", "content": "1"}),
        broker(&c),
    );
    c.wait_pending(1).await;
    let two = c.call(
        "io.fs.write_file",
        json!({"path": "two.txt", "content": "2"}),
        broker(&c),
    );
    let list = c.wait_pending(2).await;
    let (p1, p2) = (&list[0], &list[1]);
    assert_ne!(p1["args_hash"], p2["args_hash"]);
    let id1 = p1["id"].as_u64().unwrap();
    // The other call's hash does not approve this one.
    let (status, body) = c
        .post_raw(
            &format!("/confirmations/{id1}"),
            &decide(true, &p2["args_hash"]),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("args_hash")
    );
    // Bad requests: unknown id, not an id, malformed JSON, wrong types, a name in the
    // body (who decides comes from the credentials, never from the body).
    let hash = &p1["args_hash"];
    assert_eq!(
        c.post_raw("/confirmations/999", &decide(true, hash))
            .await
            .0,
        404
    );
    assert_eq!(
        c.post_raw("/confirmations/x", &decide(true, hash)).await.0,
        404
    );
    let (status, body) = c
        .post_raw(&format!("/confirmations/{id1}"), "{not json")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("args_hash")
    );
    let wrong_type = json!({"approve": "yes", "args_hash": hash}).to_string();
    assert_eq!(
        c.post_raw(&format!("/confirmations/{id1}"), &wrong_type)
            .await
            .0,
        400
    );
    let named = json!({"approve": true, "args_hash": hash, "by": "alice"}).to_string();
    assert_eq!(
        c.post_raw(&format!("/confirmations/{id1}"), &named).await.0,
        400
    );
    // None of that decided anything: both still wait, nothing ran.
    assert_eq!(c.wait_pending(2).await.len(), 2);
    Snapshot::of(&c.root).assert_same(&before, "while both calls wait");
    // Each with its own hash: one approved, one denied.
    let id2 = p2["id"].as_u64().unwrap();
    assert_eq!(
        c.post_raw(&format!("/confirmations/{id1}"), &decide(true, hash))
            .await
            .0,
        200
    );
    assert_eq!(
        c.post_raw(
            &format!("/confirmations/{id2}"),
            &decide(false, &p2["args_hash"])
        )
        .await
        .0,
        200
    );
    one.await.unwrap().expect("the approved call runs");
    assert!(two.await.unwrap().is_err());
    assert!(c.root.join("one.txt").exists());
    assert!(!c.root.join("two.txt").exists());
    let records = c.tm.audit_records(Some(2)).unwrap();
    let decision_of = |path: &str| {
        records
            .iter()
            .find(|r| r.params["path"] == path)
            .map(|r| r.decision.clone())
    };
    assert_eq!(
        decision_of("one.txt").as_deref(),
        Some("approved_by_console:operator")
    );
    assert_eq!(decision_of("two.txt").as_deref(), Some("declined"));
}

/// An MCP client that cannot elicit: its call waits in the console (listed by
/// `GET /confirmations`) instead of being refused, and runs once a person approves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_that_cannot_elicit_waits_for_the_console() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use support::mcp::{Answer, TestClient, call, connect, is_error, text};

    let c = Console::start(1024, Duration::from_secs(60)).await;
    let config = StreamableHttpClientTransportConfig::with_uri(c.mcp_url.clone());
    let client = connect(
        TestClient::new(Answer::NoElicitation),
        StreamableHttpClientTransport::from_config(config),
    )
    .await;
    let client = Arc::new(client);
    let approved = {
        let client = client.clone();
        tokio::spawn(async move {
            call(
                &client,
                "io_fs_write_file",
                json!({"path": "from-mcp.txt", "content": "hello"}),
            )
            .await
        })
    };
    let p = c.wait_pending(1).await.remove(0);
    assert_eq!(p["params"]["path"], "from-mcp.txt");
    let id = p["id"].as_u64().unwrap();
    let (status, _) = c
        .post_raw(
            &format!("/confirmations/{id}"),
            &decide(true, &p["args_hash"]),
        )
        .await;
    assert_eq!(status, 200);
    let r = approved.await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(
        std::fs::read_to_string(c.root.join("from-mcp.txt")).unwrap(),
        "hello"
    );
    assert_eq!(last_audit(&c).decision, "approved_by_console:operator");

    // Denied: the tool result is an error, and the file is not there.
    let before = Snapshot::of(&c.root);
    let denied = {
        let client = client.clone();
        tokio::spawn(
            async move { call(&client, "io_fs_delete", json!({"path": "from-mcp.txt"})).await },
        )
    };
    let p = c.wait_pending(1).await.remove(0);
    let id = p["id"].as_u64().unwrap();
    let (status, _) = c
        .post_raw(
            &format!("/confirmations/{id}"),
            &decide(false, &p["args_hash"]),
        )
        .await;
    assert_eq!(status, 200);
    let r = denied.await.unwrap();
    assert!(
        is_error(&r).contains("denied in the operations console"),
        "{}",
        text(&r)
    );
    Snapshot::of(&c.root).assert_same(&before, "after a denied MCP call");
}

/// With `[confirm] via = ["console"]` even a client that can elicit is not asked: the
/// call waits in the console. With `via = ["elicitation"]` a client that cannot elicit is
/// refused at once, as before the console existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_chooses_between_elicitation_and_the_console() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use support::mcp::{Answer, TestClient, call, connect, is_error, text};

    let mut settings = airun::pipeline::Settings::default();
    settings.confirm.via = vec!["console".into()];
    let c = Console::start_with(1024, Duration::from_secs(60), settings).await;
    let handler = TestClient::new(Answer::Accept);
    let config = StreamableHttpClientTransportConfig::with_uri(c.mcp_url.clone());
    let client = Arc::new(
        connect(
            handler.clone(),
            StreamableHttpClientTransport::from_config(config),
        )
        .await,
    );
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            call(
                &client,
                "io_fs_write_file",
                json!({"path": "console-only.txt", "content": "x"}),
            )
            .await
        })
    };
    let p = c.wait_pending(1).await.remove(0);
    let id = p["id"].as_u64().unwrap();
    let body = decide(true, &p["args_hash"]);
    assert_eq!(
        c.post_raw(&format!("/confirmations/{id}"), &body).await.0,
        200
    );
    let r = waiting.await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert!(
        handler.asked().is_empty(),
        "the client was asked: {:?}",
        handler.asked()
    );
    assert!(c.root.join("console-only.txt").exists());

    let mut settings = airun::pipeline::Settings::default();
    settings.confirm.via = vec!["elicitation".into()];
    let c = Console::start_with(1024, Duration::from_secs(60), settings).await;
    let config = StreamableHttpClientTransportConfig::with_uri(c.mcp_url.clone());
    let client = connect(
        TestClient::new(Answer::NoElicitation),
        StreamableHttpClientTransport::from_config(config),
    )
    .await;
    let before = Snapshot::of(&c.root);
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "refused.txt", "content": "x"}),
    )
    .await;
    assert!(is_error(&r).contains("cannot ask"), "{}", text(&r));
    assert!(c.wait_pending(0).await.is_empty());
    Snapshot::of(&c.root).assert_same(&before, "after a refused call");
}

/// A caller that gives up (an MCP client cancelling its call) stops waiting: the call is
/// cancelled, leaves the list, and a late decision is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_caller_stops_waiting_and_leaves_the_list() {
    use airun::pipeline::ConfirmRequest;
    use std::sync::atomic::{AtomicBool, Ordering};

    let c = Console::start(1024, Duration::from_secs(60)).await;
    let cap = c.pipeline().find("io.fs.delete").expect("io.fs.delete");
    let gave_up = Arc::new(AtomicBool::new(false));
    let waiting = {
        let (broker, gave_up) = (c.broker.clone(), gave_up.clone());
        tokio::task::spawn_blocking(move || {
            let params = json!({"path": "keep.txt"});
            let request = ConfirmRequest {
                capability: cap,
                params: &params,
                principal: None,
            };
            broker.wait(&request, &|| gave_up.load(Ordering::Relaxed))
        })
    };
    let p = c.wait_pending(1).await.remove(0);
    gave_up.store(true, Ordering::Relaxed);
    let err = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the wait ends soon after the caller gives up")
        .unwrap()
        .expect_err("a cancelled call is not approved");
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(c.wait_pending(0).await.is_empty());
    let id = p["id"].as_u64().unwrap();
    let body = decide(true, &p["args_hash"]);
    assert_eq!(
        c.post_raw(&format!("/confirmations/{id}"), &body).await.0,
        409
    );
    assert_eq!(
        std::fs::read_to_string(c.root.join("keep.txt")).unwrap(),
        "unchanged\n"
    );
}

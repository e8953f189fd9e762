//! The browser's login over real HTTP on loopback, through the listener and router of
//! `airun serve --port`: a wrong token gets no cookie; the session cookie is HttpOnly
//! and SameSite=Strict; a cookie request that changes something needs the CSRF token
//! (and a foreign Origin is refused either way), leaving the workspace unchanged when
//! refused; logout ends the session; a decision taken with the cookie is audited as the
//! console's operator. And the console's other reads: `GET /policy`, `GET /sessions`,
//! `GET /session`.

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::browser::Browser;
use support::console::{Console, TOKEN};
use support::snapshot::Snapshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_gets_the_form_again_and_no_cookie() {
    let c = Console::start(64, Duration::from_secs(30)).await;
    let mut b = Browser::new(&c.base);
    let home = b.send("GET", "/", &[], None).await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), Some("/login"));
    let form = b.send("GET", "/login", &[], None).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"name="token""#), "{}", form.body);
    let wrong = b.login("not-the-token").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.header("set-cookie").is_none(),
        "no cookie after a wrong token"
    );
    assert!(
        wrong.body.contains("not the operator token"),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains(r#"name="token""#), "the form again");
    let empty = b.login("").await;
    assert_eq!(empty.status, 400);
    assert!(empty.header("set-cookie").is_none());
    // The API still refuses this browser.
    assert_eq!(
        b.send("GET", "/api/v1/history", &[], None).await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_reads_and_needs_the_csrf_token_to_change_anything() {
    let c = Console::start(64, Duration::from_secs(30)).await;
    let mut b = Browser::new(&c.base);
    let ok = b.login(TOKEN).await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), Some("/"));
    let set = ok.header("set-cookie").expect("a session cookie");
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attrs[0].starts_with("airun_session="), "{set}");
    assert_eq!(
        attrs[0].len(),
        "airun_session=".len() + 64,
        "256 random bits"
    );
    for want in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&want), "{want} missing from {set}");
    }
    let csrf = b.csrf.clone().expect("GET /session gives the CSRF token");
    assert_eq!(csrf.len(), 64);

    // Reading with the cookie.
    let page = b.send("GET", "/", &[], None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'self'")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        b.send("GET", "/api/v1/history", &[], None).await.status,
        200
    );
    let session = b.send("GET", "/api/v1/session", &[], None).await.json();
    assert_eq!(session["via"], "cookie");
    assert_eq!(session["operator"], "operator@console");
    assert_eq!(session["read_only"], false);

    // Changing without the CSRF token, with a wrong one, or from a foreign page: 403,
    // and nothing changed.
    let before = Snapshot::of(&c.root);
    let call = "/capabilities/io.fs.make_dir/calls";
    let params = json!({"path": "made"});
    let none = b.post_json(call, params.clone(), &[]).await;
    assert_eq!(none.status, 403, "{}", none.body);
    assert_eq!(none.json()["error"]["kind"], "csrf");
    let wrong = b
        .post_json(
            call,
            params.clone(),
            &[("X-CSRF-Token", "0".repeat(64).as_str())],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let foreign = b
        .post_json(
            call,
            params.clone(),
            &[("X-CSRF-Token", &csrf), ("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    let undo = b.post_json("/undo", json!({"steps": 1}), &[]).await;
    assert_eq!(undo.status, 403);
    Snapshot::of(&c.root).assert_same(&before, "after refused cookie requests");

    // With the token (and the page's own Origin): done.
    let own = b.site.clone();
    let made = b
        .post_json(
            call,
            params,
            &[("X-CSRF-Token", &csrf), ("Origin", own.as_str())],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(c.root.join("made").is_dir());
    // Scripts with the bearer token need no CSRF token.
    let (status, _) = c
        .post_raw(
            "/capabilities/io.fs.make_dir/calls",
            &json!({"path": "by-script"}).to_string(),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let c = Console::start(64, Duration::from_secs(30)).await;
    let mut b = Browser::new(&c.base);
    assert_eq!(b.login(TOKEN).await.status, 303);
    let csrf = b.csrf.clone().unwrap();
    assert_eq!(b.send("POST", "/logout", &[], None).await.status, 403);
    assert_eq!(
        b.send("GET", "/api/v1/history", &[], None).await.status,
        200
    );
    let out = b
        .send("POST", "/logout", &[("X-CSRF-Token", &csrf)], None)
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    // The old cookie no longer opens anything.
    assert_eq!(
        b.send("GET", "/api/v1/history", &[], None).await.status,
        401
    );
    assert_eq!(b.send("GET", "/", &[], None).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_cannot_log_a_browser_in() {
    let c = Console::start(64, Duration::from_secs(30)).await;
    let b = Browser::new(&c.base);
    let a = b
        .send(
            "POST",
            "/login",
            &[("Origin", "http://evil.example")],
            Some((
                "application/x-www-form-urlencoded",
                format!("token={TOKEN}"),
            )),
        )
        .await;
    assert_eq!(a.status, 403);
    assert!(a.header("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_in_the_browser_is_audited_as_the_consoles_operator() {
    let c = Console::start(1024, Duration::from_secs(60)).await;
    let mut b = Browser::new(&c.base);
    assert_eq!(b.login(TOKEN).await.status, 303);
    let csrf = b.csrf.clone().unwrap();
    let broker: Arc<dyn airun::pipeline::Confirmer> = c.broker.clone();
    let call = c.call(
        "io.fs.write_file",
        json!({"path": "approved.txt", "content": "yes"}),
        broker,
    );
    let p = c.wait_pending(1).await.remove(0);
    let id = p["id"].as_u64().unwrap();
    let body = json!({"approve": true, "args_hash": p["args_hash"]});
    // Without the CSRF token the decision is refused and the call still waits.
    let refused = b
        .post_json(&format!("/confirmations/{id}"), body.clone(), &[])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(c.wait_pending(1).await.len(), 1);
    let ok = b
        .post_json(
            &format!("/confirmations/{id}"),
            body,
            &[("X-CSRF-Token", &csrf)],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["by"], "operator@console");
    call.await.unwrap().expect("the approved call runs");
    let audit = c.tm.audit_records(Some(1)).unwrap().pop().unwrap();
    assert_eq!(audit.decision, "approved_by_console:operator@console");
}

/// The console's reads besides the login: `GET /policy` is the effective settings,
/// `GET /sessions` names the MCP client of each agent session, and `GET /session` tells
/// a read-only server's console to hide its buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_and_sessions_read_over_http() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use support::mcp::{Answer, TestClient, call, connect, text};

    let c = Console::start(64, Duration::from_secs(30)).await;
    let (status, policy) = c.get_json("/policy").await;
    assert_eq!(status, 200);
    assert_eq!(
        policy,
        serde_json::to_value(c.pipeline().settings()).unwrap(),
        "the settings the server runs under"
    );
    assert_eq!(policy["read_only"], false);
    assert!(policy["confirm"]["via"].is_array(), "{policy}");

    let (_, none) = c.get_json("/sessions").await;
    assert_eq!(none["sessions"], json!([]));
    let config = StreamableHttpClientTransportConfig::with_uri(c.mcp_url.clone());
    let client = connect(
        TestClient::new(Answer::NoElicitation),
        StreamableHttpClientTransport::from_config(config),
    )
    .await;
    let r = call(&client, "io_fs_make_dir", json!({"path": "by-agent"})).await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let (status, list) = c.get_json("/sessions").await;
    assert_eq!(status, 200);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{list}");
    let s = &sessions[0];
    assert_eq!(s["client_name"], "airun-tests");
    assert_eq!(s["transport"], "http");
    assert_eq!(
        (s["ops"].as_u64(), s["undoable"].as_u64()),
        (Some(1), Some(1))
    );
    let (_, history) = c.get_json("/history").await;
    assert_eq!(history["operations"][0]["session"], s["session"]);

    let (_, me) = c.get_json("/session").await;
    assert_eq!(me["via"], "bearer");
    assert_eq!(me["csrf_token"], Value::Null, "scripts need no CSRF token");

    let ro = Console::start_with(
        64,
        Duration::from_secs(30),
        airun::pipeline::Settings {
            read_only: true,
            ..Default::default()
        },
    )
    .await;
    let (_, me) = ro.get_json("/session").await;
    assert_eq!(me["read_only"], true);
    let (_, policy) = ro.get_json("/policy").await;
    assert_eq!(policy["read_only"], true);
}

//! Several `airun serve` instances on one host and one workspace behind a real HAProxy
//! (round-robin, started by the test on loopback): a protocol 2026-07-28 client's
//! confirmation round trip lands on another instance than the one that asked, which
//! accepts it only because they share `AIRUN_SEAL_KEY`; history and undo from any
//! instance see every operation; a console login on one instance works on the others
//! (and a logout ends it on all); an instance killed in the middle of a change loses
//! nothing (the change is rolled back, never half done).

mod support;

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::mcp::*;
use support::serve::{Running, command, free_port, start};

const TOKEN: &str = "scale-out-token-0123456789";
const SEAL_KEY: &str = "a-seal-key-every-instance-shares-0123456789";

/// Starts `airun serve --port 0` on the shared workspace; returns it and its address.
fn instance(dirs: &Dirs, extra: &[&str], env: &[(&str, &str)]) -> (Running, String) {
    let mut args = vec!["--token", TOKEN];
    args.extend(extra);
    let mut cmd = command(std::path::Path::new(AIRUN), &dirs.ws, &dirs.home, &args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let s = start(cmd);
    (s.process, s.addr)
}

/// HAProxy on a free loopback port, round-robin over `backends`.
fn haproxy(dir: &std::path::Path, backends: &[&str]) -> (Running, String) {
    let port = free_port();
    let mut config = format!(
        "global\n  maxconn 256\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  \
         timeout server 60s\nfrontend front\n  bind 127.0.0.1:{port}\n  default_backend airun\n\
         backend airun\n  balance roundrobin\n"
    );
    for (i, b) in backends.iter().enumerate() {
        config.push_str(&format!("  server airun{i} {b}\n"));
    }
    let file = dir.join(format!("haproxy-{port}.cfg"));
    std::fs::write(&file, config).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start haproxy");
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Running(child), addr)
}

/// One request with `headers`; the status, the response's headers and its body.
fn raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// One REST request; the status and the JSON body.
fn rest(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} /api/v1{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

async fn modern_client(addr: &str) -> (Client, TestClient) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let handler = TestClient::new(Answer::Accept).modern();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
        .auth_header(TOKEN);
    let client = connect(
        handler.clone(),
        StreamableHttpClientTransport::from_config(config),
    )
    .await;
    (client, handler)
}

/// The history as (capability, state) of each operation, newest first.
fn history(addr: &str) -> Vec<(String, String)> {
    let (status, body) = rest(addr, "GET", "/history", "");
    assert_eq!(status, 200, "{body}");
    body["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["capability"].as_str().unwrap().to_string(),
                o["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_behind_haproxy_share_confirmations_history_and_undo() {
    let has = Command::new("haproxy").arg("-v").output().is_ok();
    if !support::ci::require("haproxy", has) {
        return;
    }
    let dirs = Dirs::new();
    let seal = ["--seal-key", SEAL_KEY];
    let (_a, a) = instance(&dirs, &seal, &[]);
    let (_b, b) = instance(&dirs, &seal, &[]);
    let (_lb, lb) = haproxy(&dirs.home, &[&a, &b]);

    // Strictly alternating requests: the retry that carries the confirmation state goes
    // to the other instance than the call that issued it.
    let (client, handler) = modern_client(&lb).await;
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "shared.txt", "content": "through the balancer\n"}),
    )
    .await;
    assert!(r.is_error != Some(true), "{}", text(&r));
    assert_eq!(handler.asked().len(), 1, "the person was asked once");
    assert_eq!(
        std::fs::read_to_string(dirs.path("shared.txt")).unwrap(),
        "through the balancer\n"
    );
    client.cancel().await.ok();

    // Every instance sees the operation; an undo on one is seen by the other.
    for addr in [&a, &b] {
        assert_eq!(history(addr)[0], ("io.fs.write_file".into(), "done".into()));
    }
    let (status, body) = rest(&b, "POST", "/undo", "{}");
    assert_eq!(status, 200, "{body}");
    assert!(!dirs.path("shared.txt").exists());
    assert_eq!(history(&a)[0].1, "undone");

    // A console login on one instance is a login on the other; so is a logout.
    let form = format!("token={TOKEN}");
    let origin = format!("http://{a}");
    let (status, head, _) = raw(
        &a,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
        ],
        &form,
    );
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let (status, _, body) = raw(&b, "GET", "/api/v1/session", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{body}");
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_string();
    let (status, _, body) = raw(
        &b,
        "POST",
        "/api/v1/redo",
        &[
            ("Cookie", &cookie),
            ("X-CSRF-Token", &csrf),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(
        status, 200,
        "a change from a session another instance issued: {body}"
    );
    assert!(dirs.path("shared.txt").exists());
    let (status, _, body) = raw(
        &a,
        "POST",
        "/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = raw(&b, "GET", "/api/v1/session", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401, "logged out on every instance");

    // The same round trip fails without the shared key: it did cross instances.
    let (_c, c) = instance(&dirs, &[], &[]);
    let (_d, d) = instance(&dirs, &[], &[]);
    let (_lb2, lb2) = haproxy(&dirs.home, &[&c, &d]);
    let (client, _) = modern_client(&lb2).await;
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "unshared.txt", "content": "x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(
        text(&r).contains("confirmation state is not valid"),
        "{}",
        text(&r)
    );
    assert!(!dirs.path("unshared.txt").exists());
    client.cancel().await.ok();

    // An instance killed in the middle of a change (after it changed the file, before
    // its commit): the change is rolled back, and the others carry on.
    std::fs::write(dirs.path("kept.txt"), "before\n").unwrap();
    let (mut dying, k) = instance(
        &dirs,
        &["--yes"],
        &[("FAILPOINTS", "tm_before_after_images=return")],
    );
    let (status, _) = rest(
        &k,
        "POST",
        "/capabilities/io.fs.write_file/calls",
        &json!({"path": "kept.txt", "content": "half\n"}).to_string(),
    );
    assert_eq!(status, 0, "the instance died mid-call, without an answer");
    let deadline = Instant::now() + Duration::from_secs(10);
    while dying.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the instance did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The next change through the balancer first rolls back what the dead one left.
    let (status, body) = rest(
        &lb,
        "POST",
        "/capabilities/io.fs.stat/calls",
        &json!({"path": "kept.txt"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let (client, _) = modern_client(&lb).await;
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "after.txt", "content": "after\n"}),
    )
    .await;
    assert!(r.is_error != Some(true), "{}", text(&r));
    client.cancel().await.ok();
    assert_eq!(
        std::fs::read_to_string(dirs.path("kept.txt")).unwrap(),
        "before\n",
        "the killed change is rolled back"
    );
    let states = history(&a);
    assert_eq!(states[0], ("io.fs.write_file".into(), "done".into()));
    assert_eq!(states[1].0, "io.fs.write_file");
    assert_eq!(states[1].1, "interrupted", "{states:?}");
    let (status, body) = rest(&b, "GET", "/audit/verify", "");
    assert_eq!((status, &body["intact"]), (200, &json!(true)), "{body}");
}

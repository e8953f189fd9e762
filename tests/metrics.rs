//! `/healthz`, `/readyz` and `/metrics` of a real `airun serve --port`, scraped by a real
//! Prometheus (Debian's `prometheus`, started on loopback by the test) that then answers
//! PromQL queries for the counters the test moved.

mod support;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::mcp::{AIRUN, Dirs};
use support::serve::{Running, command, free_port, start};

const TOKEN: &str = "metrics-test-token-0123456789";

/// One HTTP/1.1 request; the status and the body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap();
    (status, body)
}

fn serve(dirs: &Dirs) -> (Running, String) {
    let s = start(command(
        std::path::Path::new(AIRUN),
        &dirs.ws,
        &dirs.home,
        &["--yes", "--token", TOKEN],
    ));
    (s.process, s.addr)
}

/// Polls a PromQL instant query until its single value is `want` (or 60 s pass).
fn query_until(prom: &str, promql: &str, want: f64) {
    let path = format!(
        "/api/v1/query?query={}",
        url::form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(prom) {
            let _ = write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {prom}\r\nConnection: close\r\n\r\n"
            );
            let mut raw = String::new();
            let _ = s.read_to_string(&mut raw);
            if let Some((_, body)) = raw.split_once("\r\n\r\n") {
                last = serde_json::from_str(body).unwrap_or(Value::Null);
                let value = last["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                if value == Some(want) {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("Prometheus never answered {want} to `{promql}`; last answer: {last}");
}

#[test]
fn prometheus_scrapes_the_calls_the_server_made() {
    let has_prometheus = Command::new("prometheus").arg("--version").output().is_ok();
    if !support::ci::require("prometheus", has_prometheus) {
        return;
    }
    let dirs = Dirs::new();
    let (_server, addr) = serve(&dirs);

    // Health needs no token; readiness turns true once the state is open.
    assert_eq!(http(&addr, "GET", "/healthz", None, "").0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http(&addr, "GET", "/readyz", None, "");
        if status == 200 {
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["ready"], true);
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "never ready: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The metrics need the operator's token.
    assert_eq!(http(&addr, "GET", "/metrics", None, "").0, 401);

    // Three writes, one call the sandbox refuses, one undo.
    let call = |params: Value| {
        http(
            &addr,
            "POST",
            "/api/v1/capabilities/io.fs.write_file/calls",
            Some(TOKEN),
            &params.to_string(),
        )
    };
    for n in 0..3 {
        let (status, body) = call(json!({"path": format!("f{n}.txt"), "content": "x"}));
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = call(json!({"path": "../outside.txt", "content": "x"}));
    assert_eq!(status, 403);
    let (status, body) = http(&addr, "POST", "/api/v1/undo", Some(TOKEN), "{}");
    assert_eq!(status, 200, "{body}");
    let (status, text) = http(&addr, "GET", "/metrics", Some(TOKEN), "");
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"airun_calls_total{capability="io.fs.write_file",outcome="ok"} 3"#),
        "{text}"
    );
    assert!(text.contains("airun_undo_points 2"), "{text}");
    for gauge in [
        "airun_journal_bytes ",
        "airun_audit_queue_depth ",
        "airun_confirmations_pending 0",
        "airun_event_viewers 0",
    ] {
        assert!(text.contains(gauge), "no {gauge} in {text}");
    }

    // A real Prometheus scrapes it with the token and answers PromQL.
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: airun\n    \
             authorization:\n      credentials: {TOKEN}\n    static_configs:\n      \
             - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let prom = format!("127.0.0.1:{}", free_port());
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    query_until(&prom, r#"up{job="airun"}"#, 1.0);
    query_until(
        &prom,
        r#"sum(airun_calls_total{capability="io.fs.write_file",outcome="ok"})"#,
        3.0,
    );
    query_until(
        &prom,
        r#"sum(airun_denials_total{reason="denied_sandbox"})"#,
        1.0,
    );
    query_until(
        &prom,
        r#"sum(airun_history_changes_total{action="undone"})"#,
        1.0,
    );
    // Every call's duration: the three writes and the refused one.
    query_until(
        &prom,
        r#"sum(airun_call_duration_seconds_count{capability="io.fs.write_file"})"#,
        4.0,
    );
}

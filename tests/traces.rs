//! Traces: `airun serve` with `OTEL_EXPORTER_OTLP_ENDPOINT` set exports one span per call
//! with a child span per pipeline stage over OTLP/HTTP, to a receiver this test runs on
//! loopback; the spans carry the capability, outcome and principal, never a parameter.

mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::mcp::{AIRUN, Dirs};
use support::serve::{command, start};

const TOKEN: &str = "traces-test-token-0123456789";
const SECRET: &str = "content-that-must-not-be-traced";

/// What the receiver got: every export request's raw bytes.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

async fn receiver() -> (String, Received) {
    async fn traces(State(got): State<Received>, body: Bytes) -> &'static str {
        got.lock().unwrap().push(body.to_vec());
        ""
    }
    let got = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn post_call(addr: &str, id: &str, params: serde_json::Value) -> u16 {
    let body = params.to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/v1/capabilities/{id}/calls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.clone()),
            Any::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_a_span_tree_sent_over_otlp() {
    let (endpoint, got) = receiver().await;
    let dirs = Dirs::new();
    let mut cmd = command(
        std::path::Path::new(AIRUN),
        &dirs.ws,
        &dirs.home,
        &["--yes", "--token", TOKEN],
    );
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let started = start(cmd);
    let (mut server, addr) = (started.process, started.addr);

    let write = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            let ok = post_call(
                &addr,
                "io.fs.write_file",
                json!({"path": "a.txt", "content": SECRET}),
            );
            let refused = post_call(
                &addr,
                "io.fs.write_file",
                json!({"path": "../x.txt", "content": SECRET}),
            );
            (ok, refused)
        }
    });
    assert_eq!(write.await.unwrap(), (200, 403));

    // The spans arrive in batches; SIGTERM makes the server send what is left and exit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Command::new("kill")
        .arg("-TERM")
        .arg(server.0.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let raw = got.lock().unwrap().clone();
    assert!(!raw.is_empty(), "no OTLP export arrived");
    let mut spans = Vec::new();
    for body in &raw {
        assert!(
            !body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "a parameter went out in a trace"
        );
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
        for rs in request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref()?.value.clone());
            assert_eq!(service, Some(Any::StringValue("airun".into())));
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
    }
    let calls: Vec<&Span> = spans.iter().filter(|s| s.name == "airun.call").collect();
    assert_eq!(
        calls.len(),
        2,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let ok = calls
        .iter()
        .find(|s| attr(s, "airun.outcome").as_deref() == Some("ok"))
        .expect("the allowed call's span");
    assert_eq!(
        attr(ok, "airun.capability").as_deref(),
        Some("io.fs.write_file")
    );
    assert_eq!(attr(ok, "airun.principal").as_deref(), Some("operator"));
    assert_eq!(
        attr(ok, "airun.decision").as_deref(),
        Some("approved_by_flag")
    );
    assert!(attr(ok, "airun.op").is_some());
    // Its children: every stage, in order, each inside the call's time.
    let mut children: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == ok.span_id && s.trace_id == ok.trace_id)
        .collect();
    children.sort_by_key(|s| s.start_time_unix_nano);
    let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "validate", "policy", "sandbox", "confirm", "journal", "execute", "journal", "audit"
        ]
    );
    for c in &children {
        assert!(c.start_time_unix_nano >= ok.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= ok.end_time_unix_nano);
    }
    let phases: HashMap<String, usize> =
        children
            .iter()
            .filter_map(|c| attr(c, "phase"))
            .fold(HashMap::new(), |mut m, p| {
                *m.entry(p).or_default() += 1;
                m
            });
    assert_eq!(phases.get("begin"), Some(&1));
    assert_eq!(phases.get("commit"), Some(&1));
    // The refused call stops at the sandbox.
    let refused = calls
        .iter()
        .find(|s| attr(s, "airun.outcome").as_deref() == Some("denied_sandbox"))
        .expect("the refused call's span");
    let stages: Vec<&str> = spans
        .iter()
        .filter(|s| s.parent_span_id == refused.span_id)
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        stages.contains(&"sandbox") && !stages.contains(&"execute"),
        "{stages:?}"
    );
}

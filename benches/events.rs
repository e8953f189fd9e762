//! The events bus: what publishing costs a call, and a 64-viewer fan-out over real HTTP.
//!
//! - `publish`: one event published with 0 and with 64 subscribers (who do not read:
//!   publishing never waits for them), against the baseline of building the same event
//!   without a bus.
//! - `io.fs.read_file (small)`: the whole pipeline per call with no bus, with a bus
//!   nobody watches, and with the Prometheus metrics counting every event, in the same
//!   run;
//! - `tracing off`: the nine spans of a call with no trace exporter, and `metrics`: what
//!   counting a call's events costs, each against nothing (to set beside a small read's
//!   time).
//! - fan-out (printed, not timed): a real `airun serve --port` process with 64 viewers on
//!   `GET /events` over loopback HTTP while REST calls (reads and journaled writes) arrive
//!   at 200 calls/s (two events each) for a few seconds; every viewer's count of events
//!   received in order, and the server process's resident memory (now and peak).
//!   `AIRUN_FANOUT_SECONDS` sets the duration (default 5).

#[path = "../tests/support/serve.rs"]
#[allow(dead_code)]
mod serve;

use airun::events::{Draft, EventBus, EventKind};
use airun::metrics::Metrics;
use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::powers::CapabilitySet;
use airun::sandbox::Workspace;
use criterion::Criterion;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn draft() -> Draft {
    Draft {
        call: 7,
        capability: "io.fs.write_file".into(),
        principal: "operator".into(),
        op: Some(3),
        outcome: Some("ok".into()),
        params: serde_json::json!({"path": "notes.txt", "content": "<redacted>"}),
        detail: serde_json::Value::Null,
    }
}

fn publish(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    g.bench_function("baseline: build the event, no bus", |b| {
        b.iter(|| black_box(draft()))
    });
    let idle = Arc::new(EventBus::default());
    g.bench_function("0 subscribers", |b| {
        b.iter(|| black_box(idle.publish(EventKind::Finished, draft())))
    });
    let busy = Arc::new(EventBus::default());
    let subs: Vec<_> = (0..64).map(|_| busy.subscribe(None)).collect();
    g.bench_function("64 subscribers (not reading)", |b| {
        b.iter(|| black_box(busy.publish(EventKind::Finished, draft())))
    });
    drop(subs);
    g.finish();
}

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("ws");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(root.join("file.rs"), "fn main() {}\n").expect("write");
    let ws = Workspace::open(&root, false, None).expect("workspace");
    (dir, ws)
}

/// What the metrics cost a call: counting its two events (requested, then finished with
/// its duration), against building nothing.
fn metrics_cost(c: &mut Criterion) {
    let metrics = Metrics::new(airun::stdlib::capabilities().catalog().iter().map(|c| c.id));
    let event = |kind, detail| airun::events::Event {
        id: 1,
        time: jiff::Timestamp::now(),
        kind,
        draft: Draft {
            call: 7,
            capability: "io.fs.read_file".into(),
            outcome: (kind == EventKind::Finished).then(|| "ok".into()),
            detail,
            ..Draft::default()
        },
    };
    let requested = event(EventKind::Requested, serde_json::Value::Null);
    let finished = event(
        EventKind::Finished,
        serde_json::json!({"decision": "allowed", "duration_ms": 0, "duration_us": 120}),
    );
    let mut g = c.benchmark_group("metrics");
    g.bench_function("baseline: nothing", |b| b.iter(|| black_box(1u64)));
    g.bench_function("count a call's two events", |b| {
        b.iter(|| {
            metrics.observe(black_box(&requested));
            metrics.observe(black_box(&finished));
        })
    });
    g.finish();
}

/// The spans a call opens (one call span, eight stage spans) with no trace exporter: what
/// tracing costs a call when it is off, against building nothing.
fn spans_off(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracing off");
    g.bench_function("baseline: nothing", |b| b.iter(|| black_box(1u64)));
    g.bench_function("a call's nine spans, disabled", |b| {
        b.iter(|| {
            let call = tracing::info_span!(
                target: "airun::trace",
                "airun.call",
                airun.capability = black_box("io.fs.read_file"),
                airun.outcome = tracing::field::Empty,
            );
            let _c = call.enter();
            for _ in 0..8 {
                let _s = tracing::info_span!(target: "airun::trace", "stage").entered();
            }
            call.record("airun.outcome", "ok");
        })
    });
    g.finish();
}

fn pipeline_cost(c: &mut Criterion) {
    let args = serde_json::json!({"path": "file.rs"});
    let (_d1, ws1) = workspace();
    let plain = Pipeline::new(airun::stdlib::capabilities(), ws1, Settings::default());
    let (_d2, ws2) = workspace();
    let watched = Pipeline::new(airun::stdlib::capabilities(), ws2, Settings::default())
        .with_events(Arc::new(EventBus::default()));
    let (_d3, ws3) = workspace();
    let counted_bus = Arc::new(EventBus::default());
    let metrics = Arc::new(Metrics::new(
        airun::stdlib::capabilities().catalog().iter().map(|c| c.id),
    ));
    metrics.watch(&counted_bus);
    let counted = Pipeline::new(airun::stdlib::capabilities(), ws3, Settings::default())
        .with_events(counted_bus);
    let mut g = c.benchmark_group("io.fs.read_file (small)");
    for (name, p) in [
        ("baseline: execute, no bus", &plain),
        ("execute, bus with 0 subscribers", &watched),
        ("execute, bus with the metrics counting", &counted),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    p.execute(
                        "io.fs.read_file",
                        black_box(args.clone()),
                        &FlagConfirmer,
                        CallOptions::default(),
                    )
                    .is_ok(),
                )
            })
        });
    }
    g.finish();
}

/// Resident and peak resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What one viewer saw.
#[derive(Debug, Default)]
struct Seen {
    events: u64,
    in_order: bool,
    missed: u64,
}

/// Reads `GET /events` until `expected` events came (or the stream ends).
async fn viewer(mut response: reqwest::Response, expected: u64) -> Seen {
    let mut seen = Seen {
        in_order: true,
        ..Seen::default()
    };
    let mut last = 0u64;
    let mut buf = String::new();
    while seen.events + seen.missed < expected {
        let Some(chunk) = response.chunk().await.expect("the stream reads") else {
            break;
        };
        buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            let Some(id) = id else { continue };
            if block.contains("event: missed") || block.contains("event:missed") {
                seen.missed += 1;
            } else {
                seen.events += 1;
            }
            if last != 0 && id != last + 1 {
                seen.in_order = false;
            }
            last = id;
        }
    }
    seen
}

const TOKEN: &str = "fan-out-token-0123456789";

/// A real `airun serve --port 0` over a fresh workspace: the process, its address, and
/// the folder it lives in.
fn serve() -> (serve::Running, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(ws.join("file.rs"), "fn main() {}\n").expect("write");
    let cmd = serve::command(
        std::path::Path::new(env!("CARGO_BIN_EXE_airun")),
        &ws,
        &dir.path().join("home"),
        &["--yes", "--token", TOKEN],
    );
    let started = serve::start(cmd);
    (started.process, started.addr, dir)
}

/// 64 viewers on `GET /events` of a real `airun serve` process while REST calls (reads
/// and journaled writes, alternating) arrive at 200 calls/s; prints what every viewer
/// received and the server process's resident memory.
fn fan_out() {
    let seconds: u64 = std::env::var("AIRUN_FANOUT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, addr, _dir) = serve();
    let pid = server.0.id();
    let (rss_idle, _) = rss_kib(pid);
    let base = format!("http://{addr}/api/v1");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let calls = 200 * seconds;
        // Each call publishes two events: requested, then finished.
        let expected = 2 * calls;
        let mut viewers = Vec::new();
        for _ in 0..64 {
            // The stream is subscribed once its headers arrive.
            let response = client
                .get(format!("{base}/events"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("GET /events");
            assert!(
                response.status().is_success(),
                "GET /events: {}",
                response.status()
            );
            viewers.push(tokio::spawn(viewer(response, expected)));
        }
        let (rss_watched, _) = rss_kib(pid);
        let started = Instant::now();
        // Each call starts at its time, whether the ones before answered or not.
        let mut answers = Vec::with_capacity(calls as usize);
        for n in 0..calls {
            let due = started + Duration::from_micros(n * 5_000);
            tokio::time::sleep_until(due.into()).await;
            let (id, body) = if n % 2 == 0 {
                ("io.fs.exists", serde_json::json!({"path": "file.rs"}))
            } else {
                (
                    "io.fs.write_file",
                    serde_json::json!({"path": "out.txt", "content": format!("call {n}\n")}),
                )
            };
            let request = client
                .post(format!("{base}/capabilities/{id}/calls"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send();
            answers.push(tokio::spawn(async move {
                let answer = request.await.expect("a call");
                assert!(answer.status().is_success(), "{id}: {}", answer.status());
            }));
        }
        for a in answers {
            a.await.expect("the call's task");
        }
        let sent = started.elapsed();
        let mut results = Vec::new();
        for v in viewers {
            results.push(
                tokio::time::timeout(Duration::from_secs(60), v)
                    .await
                    .expect("every viewer finishes")
                    .expect("viewer task"),
            );
        }
        let (rss, peak) = rss_kib(pid);
        let full = results
            .iter()
            .filter(|s| s.in_order && s.events == expected && s.missed == 0)
            .count();
        let min = results.iter().map(|s| s.events).min().unwrap_or(0);
        let missed: u64 = results.iter().map(|s| s.missed).sum();
        println!(
            "fan-out: {calls} REST calls (half journaled writes; {expected} events) in {:.2} s ({:.0} calls/s) to 64 SSE viewers of a real `airun serve`",
            sent.as_secs_f64(),
            calls as f64 / sent.as_secs_f64()
        );
        println!(
            "fan-out: {full}/64 viewers got every event in order; fewest received {min}; missed-events notices {missed}"
        );
        let mib = |k: u64| k as f64 / 1024.0;
        println!(
            "fan-out: server RSS {:.1} MiB idle, {:.1} MiB with 64 viewers, {:.1} MiB after, {:.1} MiB peak (limit 64 MiB)",
            mib(rss_idle),
            mib(rss_watched),
            mib(rss),
            mib(peak)
        );
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    publish(&mut c);
    pipeline_cost(&mut c);
    spans_off(&mut c);
    metrics_cost(&mut c);
    c.final_summary();
    // AIRUN_FANOUT_SECONDS=0 leaves the fan-out out.
    if std::env::var("AIRUN_FANOUT_SECONDS").as_deref() != Ok("0") {
        fan_out();
    }
}

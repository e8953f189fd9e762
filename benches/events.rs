//! The events bus: what publishing costs a call, and a 64-viewer fan-out over real HTTP.
//!
//! - `publish`: one event published with 0 and with 64 subscribers (who do not read:
//!   publishing never waits for them), against the baseline of building the same event
//!   without a bus.
//! - `io.fs.exists`: the whole pipeline per call with no bus, and with a bus nobody
//!   watches, in the same run.
//! - fan-out (printed, not timed): 64 viewers on `GET /events` over loopback HTTP while
//!   real pipeline calls run at 200 calls/s (two events each) for a few seconds; every
//!   viewer's count of events received in order, and the process's RSS (server and the 64
//!   viewers together, so an upper bound for the server). `AIRUN_FANOUT_SECONDS` sets the
//!   duration (default 5).

use airun::adapters::rest;
use airun::events::{Draft, EventBus, EventKind};
use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use criterion::Criterion;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn draft() -> Draft {
    Draft {
        call: 7,
        capability: "io.fs.write_file".into(),
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

fn pipeline_cost(c: &mut Criterion) {
    let args = serde_json::json!({"path": "file.rs"});
    let (_d1, ws1) = workspace();
    let plain = Pipeline::new(airun::stdlib::capabilities(), ws1, Settings::default());
    let (_d2, ws2) = workspace();
    let watched = Pipeline::new(airun::stdlib::capabilities(), ws2, Settings::default())
        .with_events(Arc::new(EventBus::default()));
    let mut g = c.benchmark_group("io.fs.exists");
    for (name, p) in [
        ("baseline: execute, no bus", &plain),
        ("execute, bus with 0 subscribers", &watched),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    p.execute(
                        "io.fs.exists",
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

/// Resident and peak resident memory of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
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

async fn viewer(url: String, until_id: u64) -> Seen {
    let client = reqwest::Client::new();
    let mut response = client.get(url).send().await.expect("GET /events");
    let mut seen = Seen {
        in_order: true,
        ..Seen::default()
    };
    let mut last = 0u64;
    let mut buf = String::new();
    while last < until_id {
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
    let (_dir, ws) = workspace();
    let bus = Arc::new(EventBus::default());
    let pipeline = Arc::new(
        Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default())
            .with_events(bus.clone()),
    );
    let (rss_before, _) = rss_kib();
    rt.block_on(async {
        let app = axum::Router::new()
            .nest("/api/v1", rest::events::routes())
            .with_state(bus.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let calls = 200 * seconds;
        let first = bus.next_id();
        let last = first + 2 * calls - 1;
        let url = format!("http://{addr}/api/v1/events?after={}", first - 1);
        let viewers: Vec<_> = (0..64)
            .map(|_| tokio::spawn(viewer(url.clone(), last)))
            .collect();
        while bus.subscribers() < 64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        let caller = {
            let pipeline = pipeline.clone();
            tokio::task::spawn_blocking(move || {
                let args = serde_json::json!({"path": "file.rs"});
                for n in 0..calls {
                    let due = started + Duration::from_micros(n * 5_000);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let _ = pipeline.execute(
                        "io.fs.exists",
                        args.clone(),
                        &FlagConfirmer,
                        CallOptions::default(),
                    );
                }
            })
        };
        caller.await.expect("the calls run");
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
        let (rss, peak) = rss_kib();
        let full = results
            .iter()
            .filter(|s| s.in_order && s.events == 2 * calls && s.missed == 0)
            .count();
        let min = results.iter().map(|s| s.events).min().unwrap_or(0);
        let missed: u64 = results.iter().map(|s| s.missed).sum();
        println!(
            "fan-out: {calls} calls ({} events) in {:.2} s ({:.0} calls/s) to 64 SSE viewers",
            2 * calls,
            sent.as_secs_f64(),
            calls as f64 / sent.as_secs_f64()
        );
        println!(
            "fan-out: {full}/64 viewers got every event in order; fewest received {min}; missed-events notices {missed}"
        );
        println!(
            "fan-out: RSS {:.1} MiB now, {:.1} MiB peak (before the server: {:.1} MiB; server and viewers in one process)",
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            rss_before as f64 / 1024.0
        );
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    publish(&mut c);
    pipeline_cost(&mut c);
    c.final_summary();
    // AIRUN_FANOUT_SECONDS=0 leaves the fan-out out.
    if std::env::var("AIRUN_FANOUT_SECONDS").as_deref() != Ok("0") {
        fan_out();
    }
}

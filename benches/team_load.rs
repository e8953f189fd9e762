//! One agent's flood against another's reads on a team server: a real `airun serve
//! --port` with two users made by `airun user add` (agents A and B, each in their own
//! workspace). B reads a small file one request at a time, first alone ("idle"), then
//! while A sends 500 calls a second ("flood"). A's policy lowers its `[limits]`, so most
//! of the flood is answered 429 before it runs.
//!
//! Prints B's read p50 / p99 idle and under the flood, the ratio of the two p99s (the
//! target is at most 2), and how many of A's calls ran and how many were refused.
//!
//! ```text
//! cargo bench --bench team_load
//! AIRUN_BIN=target/release/airun AIRUN_TEAM_SECS=5 AIRUN_FLOOD_RATE=500 cargo bench --bench team_load
//! ```
//!
//! `AIRUN_TEAM_SECS` is how long each phase lasts (3), `AIRUN_FLOOD_RATE` how many calls a
//! second A sends (500), `AIRUN_FLOOD_ALLOWED` A's `limits.calls_per_second` (50),
//! `AIRUN_FLOOD_BURST` A's `limits.burst` (10), `AIRUN_FLOOD_AT_ONCE` A's
//! `limits.concurrent_calls` (2). The same flood under the default limits:
//! `AIRUN_FLOOD_ALLOWED=10000 AIRUN_FLOOD_BURST=10000 AIRUN_FLOOD_AT_ONCE=256`.

#[path = "../tests/support/serve.rs"]
#[allow(dead_code)]
mod serve;

use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "team-load-bench-token-0123456789";

/// A number from the environment, or `default`.
fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not `{v}`")),
        Err(_) => default,
    }
}

/// Latencies in microseconds.
#[derive(Default)]
struct Samples(Vec<u64>);

impl Samples {
    fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i] as f64 / 1000.0
    }
}

/// One call as `token`: the status.
async fn call(http: &reqwest::Client, base: &str, token: &str, id: &str, params: &Value) -> u16 {
    match http
        .post(format!("{base}/api/v1/capabilities/{id}/calls"))
        .bearer_auth(token)
        .json(params)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

/// B's reads, one at a time, for `secs`: their latencies; every one must succeed.
async fn reads(http: &reqwest::Client, base: &str, token: &str, secs: Duration) -> Samples {
    let params = json!({"path": "b.txt"});
    let end = Instant::now() + secs;
    let mut s = Samples::default();
    while Instant::now() < end {
        let t = Instant::now();
        let status = call(http, base, token, "io.fs.read_file", &params).await;
        assert_eq!(status, 200, "B's read failed under the flood");
        s.0.push(t.elapsed().as_micros() as u64);
    }
    s
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"team_load".contains(a.as_str()))
    {
        return;
    }
    let bin = std::env::var("AIRUN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_airun").into());
    let secs = Duration::from_secs(env_num("AIRUN_TEAM_SECS", 3));
    let rate = env_num("AIRUN_FLOOD_RATE", 500).max(1);
    let allowed = env_num("AIRUN_FLOOD_ALLOWED", 50).max(1);
    let at_once = env_num("AIRUN_FLOOD_AT_ONCE", 2).max(1);
    let burst = env_num("AIRUN_FLOOD_BURST", 10).max(1);
    let dir = tempfile::Builder::new()
        .prefix("airun-team-load-")
        .tempdir()
        .expect("temp dir");
    let (ws, home) = (dir.path().join("ws"), dir.path().join("home"));
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    // A's own policy lowers its limits below the operator's.
    let a_policy = home.join("a-policy.toml");
    std::fs::write(
        &a_policy,
        format!(
            "auto_approve = [\"io.fs.write_file\"]\n[limits]\ncalls_per_second = {allowed}\nburst = {burst}\nconcurrent_calls = {at_once}\n"
        ),
    )
    .expect("A's policy");
    let a_token = serve::add_user(
        Path::new(&bin),
        &home,
        "agent-a",
        "agent",
        &["--policy", a_policy.to_str().expect("UTF-8")],
    )
    .token;
    let b = serve::add_user(Path::new(&bin), &home, "agent-b", "agent", &[]);
    let b_token = b.token;
    std::fs::write(b.workspace.join("b.txt"), "line of text\n".repeat(80)).expect("B's file");
    let operator = home.join("policy.toml");
    std::fs::write(&operator, "auto_approve = [\"io.fs.write_file\"]\n").expect("the policy");
    let started = serve::start(serve::command(
        Path::new(&bin),
        &ws,
        &home,
        &[
            "--token",
            TOKEN,
            "--policy",
            operator.to_str().expect("UTF-8"),
        ],
    ));
    let base = format!("http://{}", started.addr);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("HTTP client");
        // User tokens must work, or nothing here measures a team server.
        let probe = call(
            &http,
            &base,
            &b_token,
            "io.fs.read_file",
            &json!({"path": "b.txt"}),
        )
        .await;
        if probe != 200 {
            eprintln!(
                "team_load: agent-b's token was answered {probe} for a read of its own file: this \
                 airun does not serve users (their tokens, and each user's own workspace) yet, so \
                 there is no team server to load"
            );
            std::process::exit(1);
        }
        // Warm up, then B alone.
        let _ = reads(&http, &base, &b_token, Duration::from_millis(500)).await;
        let mut idle = reads(&http, &base, &b_token, secs).await;
        // A floods at `rate` calls a second (each call in its own task, on time whatever
        // the answers), while B reads.
        let (ran, refused, other) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let flood = {
            let (http, base, token) = (http.clone(), base.clone(), a_token.clone());
            let (ran, refused, other) = (ran.clone(), refused.clone(), other.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let end = Instant::now() + secs + Duration::from_millis(500);
                let mut calls = Vec::new();
                let mut n = 0u64;
                while Instant::now() < end {
                    tick.tick().await;
                    n += 1;
                    let (http, base, token) = (http.clone(), base.clone(), token.clone());
                    let (ran, refused, other) = (ran.clone(), refused.clone(), other.clone());
                    calls.push(tokio::spawn(async move {
                        let params =
                            json!({"path": format!("flood-{}.txt", n % 16), "content": "flood\n"});
                        match call(&http, &base, &token, "io.fs.write_file", &params).await {
                            200 => ran.fetch_add(1, Ordering::Relaxed),
                            429 => refused.fetch_add(1, Ordering::Relaxed),
                            _ => other.fetch_add(1, Ordering::Relaxed),
                        };
                    }));
                }
                for c in calls {
                    let _ = c.await;
                }
                n
            })
        };
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut flooded = reads(&http, &base, &b_token, secs).await;
        let sent = flood.await.expect("the flood");
        (
            idle.percentile(0.5),
            idle.percentile(0.99),
            idle.0.len(),
            flooded.percentile(0.5),
            flooded.percentile(0.99),
            flooded.0.len(),
            sent,
            ran.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            other.load(Ordering::Relaxed),
        )
    });
    drop(started.process);
    let (i50, i99, ni, f50, f99, nf, sent, ran, refused, other) = report;
    let ratio = f99 / i99;
    println!(
        "team_load: agent-a floods {rate} calls/s for {} s while agent-b reads; A's limits: {allowed} calls/s, burst {burst}, {at_once} at once; {bin}",
        secs.as_secs()
    );
    println!("  B read idle   p50 {i50:.2} ms  p99 {i99:.2} ms  ({ni} reads)");
    println!("  B read flood  p50 {f50:.2} ms  p99 {f99:.2} ms  ({nf} reads)");
    println!(
        "  B p99 flood / idle = {ratio:.2} (target <= 2.00: {})",
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );
    println!("  A sent {sent} calls: {ran} ran, {refused} refused with 429, {other} other answers");
}

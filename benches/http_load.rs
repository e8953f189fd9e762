//! HTTP under load: `CLIENTS` concurrent clients mixing reads and writes on one workspace,
//! against a real `airun serve --port` process, through the REST API
//! (`POST /api/v1/capabilities/{id}/calls`) on loopback. Prints requests per second and the
//! p50 / p99 latency of reads and of writes.
//!
//! Each client sends one request at a time: a 1 KiB `io.fs.write_file` (overwriting a
//! file of its own with new content) for every fourth request, an `io.fs.read_file` of one of 64 small
//! files otherwise. Every answer must be a success; the run fails otherwise.
//!
//! ```text
//! cargo bench --bench http_load                       # the bench build of airun, 5 s
//! AIRUN_BIN=target/release/airun AIRUN_LOAD_SECS=20 cargo bench --bench http_load
//! ```
//!
//! `AIRUN_LOAD_CLIENTS` changes the number of clients (64), `AIRUN_LOAD_WRITE_EVERY` how
//! often a client writes (every 4th request), `AIRUN_BENCH_DIR` where the workspace lives
//! (the system temp folder), `AIRUN_LOAD_TRACE=FILE` writes every request measured to
//! `FILE` as CSV lines (when it was sent or due, in ms; its latency in ms; read or write),
//! to see when slow requests happen.
//!
//! By default the load is a closed loop: each client sends its next request as soon as the
//! last one is answered, so the server is always saturated and a request's latency is the
//! time the others in flight take (Little's law). `AIRUN_LOAD_RATE=N` makes it an open
//! loop instead: the clients together offer `N` requests a second on a fixed schedule (each
//! its share, `N / CLIENTS`, evenly spaced), and a request's latency counts from the time
//! it was due, not from when it went out, so a server that falls behind is charged for
//! the wait of every request queued behind a slow one (as `wrk2` measures). There one
//! client in `AIRUN_LOAD_WRITE_EVERY` only writes and the others only read (the same mix),
//! so a read is never charged for a write its client waited for.

#[path = "../tests/support/serve.rs"]
#[allow(dead_code)]
mod serve;

use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "http-load-bench-token-0123456789";
const FILES: usize = 64;

/// A number from the environment, or `default`.
fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not `{v}`")),
        Err(_) => default,
    }
}

/// The server process (killed when dropped) and its REST API's base URL.
struct Server {
    _process: serve::Running,
    base: String,
}

/// Starts `airun serve --port 0 --yes` on `ws` and reads the REST API's address from its
/// standard error.
fn start(bin: &str, ws: &std::path::Path, home: &std::path::Path) -> Server {
    let cmd = serve::command(
        std::path::Path::new(bin),
        ws,
        home,
        &["--yes", "--token", TOKEN],
    );
    let started = serve::start(cmd);
    Server {
        _process: started.process,
        base: format!("http://{}/api/v1", started.addr),
    }
}

/// Latencies of one kind of request, in microseconds.
#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    /// When each request was sent (or due), in microseconds after measuring began.
    at: Vec<u64>,
}

impl Samples {
    /// The `p` quantile in milliseconds (the samples keep their order, which the trace
    /// pairs with `at`).
    fn percentile(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i] as f64 / 1000.0
    }
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    reads: Samples,
    writes: Samples,
}

/// When a client sends its requests.
#[derive(Clone, Copy)]
enum Pace {
    /// Each request as soon as the one before it is answered.
    Closed,
    /// One request every `every`, the first at `first`; latency counts from when each
    /// was due.
    Open { first: Instant, every: Duration },
}

impl Pace {
    /// When the first request is due.
    fn first(self) -> Instant {
        match self {
            Pace::Closed => Instant::now(),
            Pace::Open { first, .. } => first,
        }
    }

    /// When the request after one due at `due` is due: now, or one interval later.
    fn after(self, due: Instant) -> Instant {
        match self {
            Pace::Closed => Instant::now(),
            Pace::Open { every, .. } => due + every,
        }
    }
}

/// One client: requests one at a time until `end`; only those started after `measure`
/// are counted.
async fn client(
    http: reqwest::Client,
    base: Arc<String>,
    id: usize,
    write_every: u64,
    pace: Pace,
    (measure, end): (Instant, Instant),
) -> Tally {
    let mut tally = Tally::default();
    let filler = "x".repeat(1000);
    let mut n: u64 = id as u64;
    let mut due = pace.first();
    while due < end {
        n += 1;
        let write = match pace {
            Pace::Closed => n.is_multiple_of(write_every),
            // Open: a slow write must not make the reads due after it on the same
            // client look slow, so a client only writes or only reads.
            Pace::Open { .. } => (id as u64).is_multiple_of(write_every),
        };
        let (cap, body) = if write {
            (
                "io.fs.write_file",
                // New content every time (a new blob to keep for undo).
                serde_json::json!({"path": format!("w/{id}.txt"), "content": format!("{id:>8} {n:>15}{filler}")}),
            )
        } else {
            (
                "io.fs.read_file",
                serde_json::json!({"path": format!("r/{}.txt", n as usize % FILES)}),
            )
        };
        let started = match pace {
            Pace::Closed => Instant::now(),
            Pace::Open { .. } => {
                tokio::time::sleep_until(due.into()).await;
                due
            }
        };
        let answer = http
            .post(format!("{base}/capabilities/{cap}/calls"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{cap}: {e}"));
        let status = answer.status();
        let bytes = answer.bytes().await.expect("body");
        let took = started.elapsed();
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON answer");
        assert!(
            status.is_success() && v["status"] == "ok",
            "{cap} failed: {status} {v}"
        );
        if started >= measure {
            let samples = if write {
                &mut tally.writes
            } else {
                &mut tally.reads
            };
            samples.micros.push(took.as_micros() as u64);
            samples.at.push((started - measure).as_micros() as u64);
        }
        due = pace.after(due);
    }
    tally
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours means another bench was
    // asked for.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"http_load".contains(a.as_str()))
    {
        return;
    }
    let bin = std::env::var("AIRUN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_airun").into());
    let secs = env_num("AIRUN_LOAD_SECS", 5);
    let clients = env_num("AIRUN_LOAD_CLIENTS", 64) as usize;
    let write_every = env_num("AIRUN_LOAD_WRITE_EVERY", 4).max(1);
    let rate = env_num("AIRUN_LOAD_RATE", 0);
    let base_dir = std::env::var_os("AIRUN_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("airun-http-load-")
        .tempdir_in(base_dir)
        .expect("temp dir");
    let (ws, home) = (dir.path().join("ws"), dir.path().join("home"));
    std::fs::create_dir_all(ws.join("r")).expect("mkdir");
    std::fs::create_dir_all(ws.join("w")).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    for i in 0..FILES {
        std::fs::write(ws.join(format!("r/{i}.txt")), "line of text\n".repeat(80)).expect("write");
    }
    let server = start(&bin, &ws, &home);
    let base = Arc::new(server.base.clone());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tallies, wall) = rt.block_on(async {
        // Plain HTTP on loopback, but the client is built with TLS support all the same.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .build()
            .expect("HTTP client");
        let warmup = Duration::from_secs(1);
        let measure = Instant::now() + warmup;
        let end = measure + Duration::from_secs(secs);
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|id| {
                // Each client offers its share of the rate, the clients' schedules
                // staggered evenly across one interval.
                let pace = match rate {
                    0 => Pace::Closed,
                    _ => {
                        let every = Duration::from_secs_f64(clients as f64 / rate as f64);
                        Pace::Open {
                            first: start + every.mul_f64(id as f64 / clients as f64),
                            every,
                        }
                    }
                };
                tokio::spawn(client(
                    http.clone(),
                    base.clone(),
                    id,
                    write_every,
                    pace,
                    (measure, end),
                ))
            })
            .collect();
        let mut tallies = Vec::new();
        for t in tasks {
            tallies.push(t.await.expect("client"));
        }
        (tallies, end.saturating_duration_since(measure))
    });
    drop(server);

    let mut reads = Samples::default();
    let mut writes = Samples::default();
    for t in tallies {
        reads.micros.extend(t.reads.micros);
        reads.at.extend(t.reads.at);
        writes.micros.extend(t.writes.micros);
        writes.at.extend(t.writes.at);
    }
    if let Some(path) = std::env::var_os("AIRUN_LOAD_TRACE") {
        let mut csv = String::from("at_ms,latency_ms,kind\n");
        for (kind, s) in [("read", &reads), ("write", &writes)] {
            for (at, took) in s.at.iter().zip(&s.micros) {
                csv.push_str(&format!(
                    "{:.3},{:.3},{kind}\n",
                    *at as f64 / 1000.0,
                    *took as f64 / 1000.0
                ));
            }
        }
        std::fs::write(&path, csv).expect("write the trace");
    }
    let total = reads.micros.len() + writes.micros.len();
    let per_sec = |n: usize| n as f64 / wall.as_secs_f64();
    let load = match rate {
        0 => "closed loop".to_string(),
        _ => format!("open loop, {rate} req/s offered, latency from when each was due"),
    };
    println!(
        "http_load: {clients} clients, a write every {write_every} requests, {secs} s, {load}, {bin}"
    );
    println!(
        "  {:.0} req/s ({:.0} reads/s, {:.0} writes/s)",
        per_sec(total),
        per_sec(reads.micros.len()),
        per_sec(writes.micros.len())
    );
    println!(
        "  read  p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
        reads.percentile(0.50),
        reads.percentile(0.99),
        reads.micros.len()
    );
    println!(
        "  write p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
        writes.percentile(0.50),
        writes.percentile(0.99),
        writes.micros.len()
    );
}

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
//! (the system temp folder).

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
}

impl Samples {
    fn percentile(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        self.micros.sort_unstable();
        let i = ((self.micros.len() as f64 - 1.0) * p).round() as usize;
        self.micros[i] as f64 / 1000.0
    }
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    reads: Samples,
    writes: Samples,
}

/// One client: requests one at a time until `end`; only those started after `measure`
/// are counted.
async fn client(
    http: reqwest::Client,
    base: Arc<String>,
    id: usize,
    write_every: u64,
    measure: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let filler = "x".repeat(1000);
    let mut n: u64 = id as u64;
    while Instant::now() < end {
        n += 1;
        let write = n.is_multiple_of(write_every);
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
        let started = Instant::now();
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
        }
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
        let tasks: Vec<_> = (0..clients)
            .map(|id| {
                tokio::spawn(client(
                    http.clone(),
                    base.clone(),
                    id,
                    write_every,
                    measure,
                    end,
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
        writes.micros.extend(t.writes.micros);
    }
    let total = reads.micros.len() + writes.micros.len();
    let per_sec = |n: usize| n as f64 / wall.as_secs_f64();
    println!("http_load: {clients} clients, a write every {write_every} requests, {secs} s, {bin}");
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

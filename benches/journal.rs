//! What the time machine costs: a 1 KiB `io.fs.write_file` (overwrite, the same file each
//! iteration) through the pipeline with the undo journal and the audit log attached (as the
//! CLI builds it: `Retention::default()`), against the same call through a pipeline without
//! them, in the same run.
//!
//! A third variant keeps every undo point (no retention limit ever reached): criterion runs
//! thousands of iterations, so the default pipeline soon holds more than `max_ops` undo
//! points and expires the oldest on every call; the difference between the two is what
//! that costs.
//!
//! A fourth variant turns off syncing each commit (SQLite's `synchronous=NORMAL` in WAL
//! mode): the difference to the default is what it costs that an answered change survives
//! a power cut.
//!
//! A second group sets the smallest durable write beside it, in the same run: a plain
//! atomic write of the same 1 KiB (`fsutil::AtomicFile`: a temporary sibling, synced, then
//! renamed), against the journaled write of it through the pipeline (the undo point, the
//! atomic write, the commit and the synced, hash-chained audit record).
//!
//! The workspaces live in the system temp folder; `AIRUN_BENCH_DIR=/dev/shm` measures on
//! tmpfs instead (no fsync, so the journal's own cost is not hidden behind the disk's).

use airun::fsutil::{AtomicFile, Publish, TempKind};
use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

type StdKernel = Pipeline<Capabilities<Stdlib>>;

/// A pipeline over a fresh workspace `<base>/<name>`, with the time machine (state under
/// `home`) when `retention` is given.
fn pipeline(base: &Path, home: &Path, name: &str, retention: Option<Retention>) -> StdKernel {
    kernel_synced(base, home, name, retention, true)
}

fn kernel_synced(
    base: &Path,
    home: &Path,
    name: &str,
    retention: Option<Retention>,
    synced: bool,
) -> StdKernel {
    let root = base.join(name);
    std::fs::create_dir_all(&root).expect("mkdir");
    let ws = Workspace::open(&root, false, Some(home)).expect("workspace");
    let Some(retention) = retention else {
        return Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    };
    let tm = Arc::new(TimeMachine::open(home, &ws, retention).expect("time machine"));
    tm.set_synced_commits(synced).expect("sync setting");
    Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default())
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm))
}

fn write(k: &StdKernel, args: &serde_json::Value) -> serde_json::Value {
    k.execute(
        "io.fs.write_file",
        black_box(args.clone()),
        &FlagConfirmer,
        CallOptions::default(),
    )
    .expect("write")
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("AIRUN_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("airun-bench-")
        .tempdir_in(base)
        .expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");

    let plain = pipeline(dir.path(), &home, "plain", None);
    let journaled = pipeline(dir.path(), &home, "journaled", Some(Retention::default()));
    // Large, but within SQLite's i64 (the limits are compared in SQL).
    let keep_all = Retention {
        max_ops: 1 << 40,
        max_bytes: 1 << 60,
    };
    let unlimited = pipeline(dir.path(), &home, "unlimited", Some(keep_all));
    let unsynced = kernel_synced(
        dir.path(),
        &home,
        "unsynced",
        Some(Retention::default()),
        false,
    );

    let args = serde_json::json!({"path": "notes.txt", "content": "x".repeat(1024)});
    for k in [&plain, &journaled, &unlimited, &unsynced] {
        // The file exists from the start: every measured call is an overwrite.
        write(k, &args);
    }

    let mut g = c.benchmark_group("io.fs.write_file 1 KiB overwrite");
    g.bench_function("time machine off", |b| b.iter(|| write(&plain, &args)));
    g.bench_function("time machine on (journal + audit)", |b| {
        b.iter(|| write(&journaled, &args))
    });
    g.bench_function("time machine on, no retention limit", |b| {
        b.iter(|| write(&unlimited, &args))
    });
    g.bench_function("time machine on, commits not synced", |b| {
        b.iter(|| write(&unsynced, &args))
    });
    g.finish();

    let atomic_root = dir.path().join("atomic");
    std::fs::create_dir_all(&atomic_root).expect("mkdir");
    let atomic_dir = cap_std::fs::Dir::open_ambient_dir(&atomic_root, cap_std::ambient_authority())
        .expect("open");
    let content = "x".repeat(1024);
    let mut g = c.benchmark_group("1 KiB small write");
    g.bench_function("baseline: plain atomic write (fsutil::AtomicFile)", |b| {
        b.iter(|| atomic_write(&atomic_dir, black_box(content.as_bytes())))
    });
    g.bench_function("journaled write (pipeline + time machine)", |b| {
        b.iter(|| write(&journaled, &args))
    });
    g.finish();
}

/// A durable atomic replace of `notes.txt`: a temporary sibling, synced, renamed.
fn atomic_write(dir: &cap_std::fs::Dir, data: &[u8]) {
    use std::io::Write;
    let target = Path::new("notes.txt");
    let mut f = AtomicFile::beside(dir, target, TempKind::Write).expect("temp");
    f.file().write_all(data).expect("write");
    f.finish(0o644).expect("sync");
    f.commit(target, Publish::Replace).expect("rename");
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! What the time machine costs: a 1 KiB `io.fs.write_file` (overwrite, the same file each
//! iteration) through the kernel with the undo journal and the audit log attached, against
//! the same call through a kernel without them, in the same run.
//!
//! The workspaces live in the system temp folder; `AIRUN_BENCH_DIR=/dev/shm` measures on
//! tmpfs instead (no fsync cost, so the journal's share shows more).

use airun::kernel::{CallOptions, FlagConfirmer, Kernel, Settings};
use airun::sandbox::Workspace;
use airun::timemachine::{Retention, TimeMachine};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("AIRUN_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("airun-bench-")
        .tempdir_in(base)
        .expect("temp dir");
    let home = dir.path().join("home");
    let plain_root = dir.path().join("plain");
    let journaled_root = dir.path().join("journaled");
    for d in [&home, &plain_root, &journaled_root] {
        std::fs::create_dir_all(d).expect("mkdir");
    }

    let plain = Kernel::new(
        airun::stdlib::capabilities(),
        Workspace::open(&plain_root, false, Some(&home)).expect("workspace"),
        Settings::default(),
    );

    let ws = Workspace::open(&journaled_root, false, Some(&home)).expect("workspace");
    let tm = Arc::new(TimeMachine::open(&home, &ws, Retention::default()).expect("time machine"));
    let journaled = Kernel::new(airun::stdlib::capabilities(), ws, Settings::default())
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm));

    let args = serde_json::json!({"path": "notes.txt", "content": "x".repeat(1024)});
    for k in [&plain, &journaled] {
        // The file exists from the start: every measured call is an overwrite.
        k.execute(
            "io.fs.write_file",
            args.clone(),
            &FlagConfirmer,
            CallOptions::default(),
        )
        .expect("first write");
    }

    let mut g = c.benchmark_group("io.fs.write_file 1 KiB overwrite");
    g.bench_function("time machine off", |b| {
        b.iter(|| {
            plain
                .execute(
                    "io.fs.write_file",
                    black_box(args.clone()),
                    &FlagConfirmer,
                    CallOptions::default(),
                )
                .expect("write")
        })
    });
    g.bench_function("time machine on (journal + audit)", |b| {
        b.iter(|| {
            journaled
                .execute(
                    "io.fs.write_file",
                    black_box(args.clone()),
                    &FlagConfirmer,
                    CallOptions::default(),
                )
                .expect("write")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

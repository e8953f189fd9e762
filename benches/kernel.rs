//! Kernel overhead per call on `io.fs.exists`: the whole pipeline (parse, permission,
//! sandbox, dispatch, handler) against the bare `lstat` the handler needs, in the same run.

use airun::kernel::{CallOptions, FlagConfirmer, Kernel, Settings};
use airun::sandbox::Workspace;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src/module")).expect("mkdir");
    std::fs::write(root.join("src/module/file.rs"), "fn main() {}\n").expect("write");
    let ws = Workspace::open(&root, false, None).expect("workspace");
    let kernel = Kernel::new(airun::stdlib::capabilities(), ws, Settings::default());
    let args = serde_json::json!({"path": "src/module/file.rs"});
    let full = root.join("src/module/file.rs");

    let mut g = c.benchmark_group("io.fs.exists");
    g.bench_function("baseline: lstat", |b| {
        b.iter(|| black_box(std::fs::symlink_metadata(black_box(&full)).is_ok()))
    });
    g.bench_function("kernel: prepare (parse + permission + sandbox)", |b| {
        b.iter(|| {
            black_box(
                kernel
                    .prepare("io.fs.exists", black_box(args.clone()))
                    .is_ok(),
            )
        })
    });
    g.bench_function("kernel: execute (whole pipeline + handler)", |b| {
        b.iter(|| {
            black_box(
                kernel
                    .execute(
                        "io.fs.exists",
                        black_box(args.clone()),
                        &FlagConfirmer,
                        CallOptions::default(),
                    )
                    .is_ok(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

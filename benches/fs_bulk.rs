//! Reading many files and showing a tree, against the calls a model would make without
//! them, in the same run: 20 files by one `io.fs.read_many` call against 20
//! `io.fs.read_file` calls (and the bare reads), and a 3-level `io.fs.tree` against a
//! recursive `io.fs.list_dir` of the same folder.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("ws");
    let mut names = Vec::new();
    for d in 0..10 {
        for f in 0..20 {
            let rel = format!("pkg{d}/sub{}/file{f}.rs", f % 4);
            let p = root.join(&rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, "fn main() { println!(\"hello\"); }\n".repeat(60)).expect("write");
            names.push(rel);
        }
    }
    let ws = Workspace::open(&root, false, None).expect("workspace");
    let pipeline = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    let call = |id: &str, args: serde_json::Value| {
        pipeline
            .execute(id, args, &FlagConfirmer, CallOptions::default())
            .expect("the call succeeds")
    };
    let twenty: Vec<String> = names.iter().take(20).cloned().collect();

    let mut g = c.benchmark_group("20 files of 2 KiB");
    g.bench_function("baseline: std::fs::read_to_string x20", |b| {
        b.iter(|| {
            for n in &twenty {
                black_box(std::fs::read_to_string(root.join(n)).expect("read"));
            }
        })
    });
    g.bench_function("io.fs.read_file x20", |b| {
        b.iter(|| {
            for n in &twenty {
                black_box(call("io.fs.read_file", json!({ "path": n })));
            }
        })
    });
    g.bench_function("io.fs.read_many x1", |b| {
        b.iter(|| black_box(call("io.fs.read_many", json!({ "paths": twenty }))))
    });
    g.finish();

    let mut g = c.benchmark_group("tree of 200 files");
    g.bench_function("io.fs.list_dir recursive", |b| {
        b.iter(|| black_box(call("io.fs.list_dir", json!({"recursive": true}))))
    });
    g.bench_function("io.fs.tree max_depth 3", |b| {
        b.iter(|| black_box(call("io.fs.tree", json!({"max_depth": 3}))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

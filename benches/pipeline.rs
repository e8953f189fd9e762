//! Pipeline overhead per call on `io.fs.exists`: the whole pipeline (parse, permission,
//! sandbox, dispatch, handler) against the bare `lstat` the handler needs, in the same run.
//! And the cost of running a pure computation (`text.template.render`) in a forked child,
//! against the same template rendered by minijinja in this process.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src/module")).expect("mkdir");
    std::fs::write(root.join("src/module/file.rs"), "fn main() {}\n").expect("write");
    let ws = Workspace::open(&root, false, None).expect("workspace");
    let pipeline = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    let args = serde_json::json!({"path": "src/module/file.rs"});
    let full = root.join("src/module/file.rs");

    let mut g = c.benchmark_group("io.fs.exists");
    g.bench_function("baseline: lstat", |b| {
        b.iter(|| black_box(std::fs::symlink_metadata(black_box(&full)).is_ok()))
    });
    g.bench_function("pipeline: prepare (parse + permission + sandbox)", |b| {
        b.iter(|| {
            black_box(
                pipeline
                    .prepare("io.fs.exists", black_box(args.clone()))
                    .is_ok(),
            )
        })
    });
    g.bench_function("pipeline: execute (whole pipeline + handler)", |b| {
        b.iter(|| {
            black_box(
                pipeline
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

    let template = "Hello {{ name }}! {% for i in range(3) %}{{ i }}{% endfor %}";
    let vars = serde_json::json!({"name": "you"});
    let mut g = c.benchmark_group("text.template.render");
    g.bench_function("baseline: minijinja in this process", |b| {
        b.iter(|| {
            let env = minijinja::Environment::new();
            let t = env
                .template_from_str(black_box(template))
                .expect("template");
            black_box(
                t.render(minijinja::Value::from(minijinja::value::Serde(&vars)))
                    .is_ok(),
            )
        })
    });
    let args = serde_json::json!({"template": template, "variables": vars});
    g.bench_function("pipeline: execute (in a forked child)", |b| {
        b.iter(|| {
            black_box(
                pipeline
                    .execute(
                        "text.template.render",
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

//! Regression tests for attacks that once got through, each named after its attack:
//! outward symlinks built by an archive or a move, reads of hard-linked outside files
//! under `fs.hardlinks = "refuse_all"`, an undo whose roll-back fails, and a pure
//! computation that runs past its time limit and grows without bound.

mod support;

use airun::ErrorKind;
use airun::pipeline::{
    CallOptions, FlagConfirmer, FsPolicy, HardLinks, Pipeline, Settings, UndoRequest,
};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use serde_json::{Value, json};
use std::io::{Cursor, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::pipeline::{Fixture, SECRET};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// A zip of (name, link target) symlink entries and (name, content) files.
fn zip_with_links(links: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(data.as_bytes()).unwrap();
    }
    for (name, target) in links {
        w.add_symlink(*name, *target, opts).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Unzipping `z -> x/y/..` then `x/y -> ..` built a link that leads out of the
/// destination (and, at the workspace root, out of the workspace): each target is fine
/// alone, together `z` climbs out. A link target with `..` after a name is refused, before
/// anything is written.
#[test]
fn unzip_cannot_build_an_outward_symlink_from_two_inward_ones() {
    let f = Fixture::new();
    for (links, what) in [
        (vec![("z", "x/y/.."), ("x/y", "..")], "z first"),
        (vec![("x/y", ".."), ("z", "x/y/..")], "x/y first"),
        (vec![("x/y", ".."), ("z", "x/y/../secret")], "down again"),
    ] {
        std::fs::write(
            f.path("a.zip"),
            zip_with_links(&links, &[("x/keep.txt", "k")]),
        )
        .unwrap();
        let before = f.snapshot_all();
        let e = f.err(
            "sys.archive.unzip",
            json!({"archive": "a.zip", "destination": "."}),
        );
        assert_eq!(e.kind, ErrorKind::DeniedSandbox, "{what}: {e:?}");
        f.snapshot_all().assert_same(&before, what);
    }
    // A single `..`-first link that stays inside is still extracted.
    std::fs::write(
        f.path("b.zip"),
        zip_with_links(&[("d/up", "../x.txt")], &[("x.txt", "x")]),
    )
    .unwrap();
    f.ok(
        "sys.archive.unzip",
        json!({"archive": "b.zip", "destination": "out"}),
    );
    assert_eq!(f.read("out/d/up"), "x");
}

/// Moving a relative link to a shallower folder made it point outside (airun never follows
/// it, but the next tool will): refused, for the link itself and for a link inside a
/// moved folder. Moves that keep every link inside still work.
#[test]
fn moving_a_relative_link_to_a_shallower_folder_is_refused() {
    let f = Fixture::new();
    f.write("a/b/file.txt", "inside");
    f.symlink("../b/file.txt", "a/b/link");
    f.mkdir("deep/er");
    f.symlink("../../a/b/file.txt", "deep/er/up2");
    let before = f.snapshot_all();
    let e = f.err(
        "io.fs.move",
        json!({"source": "a/b/link", "destination": "link"}),
    );
    assert_eq!(e.kind, ErrorKind::DeniedSandbox, "{e:?}");
    assert!(e.message.contains("outside the workspace"), "{}", e.message);
    let e = f.err(
        "io.fs.move",
        json!({"source": "deep/er", "destination": "er"}),
    );
    assert_eq!(e.kind, ErrorKind::DeniedSandbox, "{e:?}");
    f.snapshot_all().assert_same(&before, "refused moves");
    // Same depth: allowed, and the link still works.
    f.ok(
        "io.fs.move",
        json!({"source": "a/b/link", "destination": "a/b/link2"}),
    );
    assert_eq!(f.read("a/b/link2"), "inside");
    f.ok(
        "io.fs.move",
        json!({"source": "deep", "destination": "deep2"}),
    );
    assert_eq!(f.read("deep2/er/up2"), "inside");
}

/// Hard-link reads of outside files (read, search, copy, zip) are the operator's choice:
/// allowed by default, refused with `fs.hardlinks = "refuse_all"`; writes are refused
/// either way.
#[test]
fn hard_linked_outside_files_are_not_read_under_refuse_all() {
    let outside_name = "outside/secret.txt";
    for policy in [HardLinks::RefuseWrites, HardLinks::RefuseAll] {
        let f = Fixture::with(
            Settings {
                fs: FsPolicy { hardlinks: policy },
                ..Settings::default()
            },
            None,
        );
        std::fs::hard_link(f.outside(outside_name), f.path("hl.txt")).unwrap();
        let reads: Vec<(&str, Value)> = vec![
            ("io.fs.read_file", json!({"path": "hl.txt"})),
            ("io.fs.stat", json!({"path": "hl.txt", "hash": true})),
            (
                "io.fs.copy",
                json!({"source": "hl.txt", "destination": "copy.txt"}),
            ),
            (
                "sys.archive.zip",
                json!({"sources": ["hl.txt"], "output": "out.zip"}),
            ),
        ];
        for (id, args) in reads {
            let r = f.call(id, args.clone());
            match policy {
                HardLinks::RefuseWrites => {
                    assert!(r.is_ok(), "{id} {args}: {r:?}");
                }
                HardLinks::RefuseAll => {
                    let e = r.expect_err(id);
                    assert_eq!(e.kind, ErrorKind::DeniedSandbox, "{id}: {e:?}");
                    assert!(e.message.contains("refuse_all"), "{id}: {}", e.message);
                }
            }
        }
        let found = f.ok("io.fs.search", json!({"content": "TOP SECRET"}));
        let text = found.to_string();
        assert_eq!(
            text.contains("hl.txt"),
            policy == HardLinks::RefuseWrites,
            "{policy:?}: {text}"
        );
        let e = f.err(
            "io.fs.write_file",
            json!({"path": "hl.txt", "content": "x", "mode": "append"}),
        );
        assert_eq!(e.kind, ErrorKind::DeniedSandbox, "{e:?}");
        assert_eq!(
            std::fs::read_to_string(f.outside(outside_name)).unwrap(),
            SECRET
        );
    }
}

/// `airun doctor` and `policy show` name the hard-link choice.
#[test]
fn doctor_shows_the_hard_link_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&ws).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airun"))
            .args(args)
            .env("AIRUN_HOME", &home)
            .env("AIRUN_WORKSPACE", &ws)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&["doctor", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["fs_hardlinks"], "refuse_writes");
    std::fs::write(
        home.join("policy.toml"),
        "[fs]\nhardlinks = \"refuse_all\"\n",
    )
    .unwrap();
    let o = run(&["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("hard links:   refuse_all"), "{text}");
    let o = run(&["policy", "show"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("hardlinks = \"refuse_all\""),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    std::fs::write(
        home.join("policy.toml"),
        "[fs]\nhardlinks = \"sometimes\"\n",
    )
    .unwrap();
    let o = run(&["doctor"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("fs.hardlinks"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A pipeline over `<tmp>/ws` with the time machine.
fn tm_pipeline(tmp: &std::path::Path) -> Pipeline<Capabilities<Stdlib>> {
    let root = tmp.join("ws");
    let home = tmp.join("home");
    let ws = Workspace::open(&root, true, Some(&home)).unwrap();
    let tm = Arc::new(TimeMachine::open(&home, &ws, Retention::default()).unwrap());
    Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default())
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm))
}

/// A failed roll-back of an undo (the files changed under it) left the op half-undone,
/// and every later write retried the roll-back first and failed with it: the workspace
/// was wedged. The failed undo now settles the op, and later writes work.
#[test]
fn a_failed_undo_roll_back_does_not_wedge_later_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let k = tm_pipeline(tmp.path());
    let root = k.workspace().root().to_path_buf();
    let call = |id: &str, args: Value| k.execute(id, args, &FlagConfirmer, CallOptions::default());
    call(
        "io.fs.write_file",
        json!({"path": "a/x.txt", "content": "v0", "create_dirs": true}),
    )
    .unwrap();
    call(
        "io.fs.write_file",
        json!({"path": "a/x.txt", "content": "v1"}),
    )
    .unwrap();
    // The folder becomes a file: putting `a/x.txt` back cannot work.
    std::fs::remove_dir_all(root.join("a")).unwrap();
    std::fs::write(root.join("a"), "now a file").unwrap();
    let undo = k.journal().undo(
        k.workspace(),
        UndoRequest {
            steps: 1,
            to: None,
            force: true,
            session: None,
            principal: None,
        },
    );
    assert!(undo.is_err(), "{undo:?}");
    for i in 0..3 {
        call(
            "io.fs.write_file",
            json!({"path": format!("later-{i}.txt"), "content": "works"}),
        )
        .unwrap_or_else(|e| panic!("write {i} after the failed undo: {e:?}"));
    }
    assert_eq!(
        std::fs::read_to_string(root.join("later-2.txt")).unwrap(),
        "works"
    );
    // And undo goes on with the newer operations.
    k.journal()
        .undo(
            k.workspace(),
            UndoRequest {
                steps: 1,
                to: None,
                force: false,
                session: None,
                principal: None,
            },
        )
        .unwrap();
    assert!(!root.join("later-2.txt").exists());
}

/// The peak resident memory of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// Declared time limits were not enforced: a template that doubles a list forty times ran
/// past 60 s (its limit is 10 s) and grew to ~700 MB. The render now runs where its time
/// limit and a memory bound hold: it ends with a timeout or memory error within its limit,
/// this process does not grow, and the next call works.
#[test]
fn a_runaway_template_is_stopped_at_its_time_limit_or_memory_bound() {
    let f = Fixture::new();
    let template = "{% set ns = namespace(l=[1,2,3,4]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}";
    let started = Instant::now();
    let e = f.err("text.template.render", json!({"template": template}));
    let took = started.elapsed();
    assert!(
        e.kind == ErrorKind::Timeout
            || (e.kind == ErrorKind::Execution && e.message.contains("memory")),
        "{e:?}"
    );
    assert!(
        took < Duration::from_secs(20),
        "the 10 s limit did not hold: {took:?}"
    );
    assert!(
        peak_rss() < 400 << 20,
        "this process grew to {} MiB",
        peak_rss() >> 20
    );
    // A template that doubles a string grows faster than it loops: the memory bound
    // stops it, before its time limit (which would be a timeout error).
    let e = f.err(
        "text.template.render",
        json!({"template": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"}),
    );
    assert_eq!(e.kind, ErrorKind::Execution, "{e:?}");
    assert!(e.message.contains("memory"), "{}", e.message);
    assert!(
        peak_rss() < 400 << 20,
        "this process grew to {} MiB",
        peak_rss() >> 20
    );
    // The worker is free again: a normal render works.
    let v = f.ok(
        "text.template.render",
        json!({"template": "Hello {{ name }}!", "variables": {"name": "you"}}),
    );
    assert_eq!(v["rendered"], "Hello you!");
}

/// A runaway pure computation also stops as soon as its call is cancelled (an MCP
/// client's cancellation), not only at its time limit.
#[test]
fn a_runaway_template_stops_when_its_call_is_cancelled() {
    let f = Fixture::new();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let template = "{% set ns = namespace(l=[1,2,3,4]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}";
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let started = Instant::now();
        let r = f.pipeline.execute(
            "text.template.render",
            json!({ "template": template }),
            &FlagConfirmer,
            CallOptions {
                cancel: Some(&cancel),
                ..CallOptions::default()
            },
        );
        let e = r.expect_err("cancelled");
        // Cancelled, unless the memory bound stopped it first.
        assert!(
            e.kind == ErrorKind::Cancelled
                || (e.kind == ErrorKind::Execution && e.message.contains("memory")),
            "{e:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "not stopped early"
        );
    });
}

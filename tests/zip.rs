//! sys.archive.zip: round trip read back with the zip crate, stable order, symlinks that
//! point out are not archived, an output inside a source is refused, progress, and undo
//! through the time machine.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings, UndoRequest};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use airun::{CapError, ErrorKind};
use serde_json::{Value, json};
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const SECRET: &str = "TOP SECRET outside the workspace";

struct Env {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    pipeline: Pipeline<Capabilities<Stdlib>>,
}

/// A workspace with files, modes, an empty folder and links (one inside, two pointing out),
/// and a secret file next to it.
fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let ws = base.join("ws");
    let home = base.join("home");
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::write(base.join("outside/secret.txt"), SECRET).unwrap();
    std::fs::create_dir_all(ws.join("src/b/empty")).unwrap();
    std::fs::write(ws.join("src/a.txt"), "alpha\n").unwrap();
    std::fs::write(ws.join("src/b/c.txt"), "gamma ".repeat(1000)).unwrap();
    std::fs::write(ws.join("src/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        ws.join("src/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(ws.join("top.txt"), "top").unwrap();
    symlink("a.txt", ws.join("src/link-in")).unwrap();
    symlink("../../outside/secret.txt", ws.join("src/link-out")).unwrap();
    symlink(base.join("outside/secret.txt"), ws.join("src/b/link-abs")).unwrap();
    let workspace = Workspace::open(&ws, false, Some(&home)).unwrap();
    let tm = Arc::new(TimeMachine::open(&home, &workspace, Retention::default()).unwrap());
    let pipeline = Pipeline::new(
        airun::stdlib::capabilities(),
        workspace,
        Settings::default(),
    )
    .with_journal(Box::new(tm.clone()))
    .with_audit(Box::new(tm));
    Env {
        _tmp: tmp,
        ws,
        pipeline,
    }
}

impl Env {
    fn call(&self, args: Value) -> Result<Value, CapError> {
        self.pipeline.execute(
            "sys.archive.zip",
            args,
            &FlagConfirmer,
            CallOptions::default(),
        )
    }

    fn ok(&self, args: Value) -> Value {
        let shown = args.to_string();
        self.call(args)
            .unwrap_or_else(|e| panic!("sys.archive.zip {shown}: {e:?}"))
    }

    fn err(&self, args: Value) -> CapError {
        let shown = args.to_string();
        match self.call(args) {
            Ok(v) => panic!("sys.archive.zip {shown} should have failed, returned {v}"),
            Err(e) => e,
        }
    }

    fn undo(&self) {
        let undone = self
            .pipeline
            .journal()
            .undo(
                self.pipeline.workspace(),
                UndoRequest {
                    steps: 1,
                    to: None,
                    force: false,
                    session: None,
                    principal: None,
                },
            )
            .unwrap();
        assert_eq!(undone.len(), 1);
        assert_eq!(undone[0].capability, "sys.archive.zip");
    }
}

/// One entry read back: name, kind, unix mode, content (or link target).
#[derive(Debug, PartialEq)]
struct Entry {
    name: String,
    kind: &'static str,
    mode: u32,
    data: Vec<u8>,
    method: zip::CompressionMethod,
}

fn read_back(path: &Path) -> Vec<Entry> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let kind = if f.is_dir() {
                "dir"
            } else if f.is_symlink() {
                "link"
            } else {
                "file"
            };
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            Entry {
                name: f.name().unwrap().into_owned(),
                kind,
                mode: f.unix_mode().unwrap_or(0) & 0o7777,
                data,
                method: f.compression(),
            }
        })
        .collect()
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn round_trip_names_contents_modes_and_links() {
    let e = env();
    let out = e.ok(json!({"sources": ["top.txt", "src"], "output": "out.zip"}));
    let entries = read_back(&e.ws.join("out.zip"));
    assert_eq!(
        names(&entries),
        [
            "src/",
            "src/a.txt",
            "src/b/",
            "src/b/c.txt",
            "src/b/empty/",
            "src/link-in",
            "src/run.sh",
            "top.txt"
        ],
        "paths relative to the workspace, sorted, links out left out"
    );
    let by = |n: &str| entries.iter().find(|x| x.name == n).unwrap();
    assert_eq!(by("src/a.txt").data, b"alpha\n");
    assert_eq!(by("src/b/c.txt").data, "gamma ".repeat(1000).as_bytes());
    assert_eq!(by("src/b/c.txt").method, zip::CompressionMethod::Deflated);
    assert_eq!(by("top.txt").data, b"top");
    assert_eq!(by("src/run.sh").mode, 0o755);
    assert_eq!(by("src/b/empty/").kind, "dir");
    assert_eq!(by("src/link-in").kind, "link");
    assert_eq!(by("src/link-in").data, b"a.txt");
    // The result.
    assert_eq!(out["archive"], "out.zip");
    assert_eq!(out["files"], 4);
    let bytes_in = 6 + 6000 + 18 + 3;
    assert_eq!(out["bytes_in"], bytes_in);
    let size = std::fs::metadata(e.ws.join("out.zip")).unwrap().len();
    assert_eq!(out["bytes_out"], size);
    assert!(size < bytes_in, "deflate compressed the repeated text");
    let skipped: Vec<&str> = out["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 2, "{out}");
    assert!(skipped.contains(&"src/link-out") && skipped.contains(&"src/b/link-abs"));
    assert!(
        out["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside the workspace")
    );
    // Nothing of the outside file got in.
    let raw = std::fs::read(e.ws.join("out.zip")).unwrap();
    assert!(!raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    assert!(!raw.windows(10).any(|w| w == b"secret.txt"));
}

#[test]
fn the_same_files_give_the_same_archive() {
    let e = env();
    e.ok(json!({"sources": ["src", "top.txt"], "output": "one.zip"}));
    // Listed in another order, and overlapping: the same entries, once each.
    e.ok(json!({"sources": ["top.txt", "src/b", "src"], "output": "two.zip"}));
    assert_eq!(
        std::fs::read(e.ws.join("one.zip")).unwrap(),
        std::fs::read(e.ws.join("two.zip")).unwrap()
    );
}

#[test]
fn not_recursive_packs_only_the_files_directly_inside() {
    let e = env();
    let out = e.ok(json!({"sources": ["src"], "output": "flat.zip", "recursive": false}));
    let entries = read_back(&e.ws.join("flat.zip"));
    assert_eq!(
        names(&entries),
        ["src/", "src/a.txt", "src/link-in", "src/run.sh"]
    );
    assert!(out["skipped"].to_string().contains("src/b"), "{out}");
}

#[test]
fn compression_level_zero_stores() {
    let e = env();
    let out =
        e.ok(json!({"sources": ["src/b/c.txt"], "output": "stored.zip", "compression_level": 0}));
    let entries = read_back(&e.ws.join("stored.zip"));
    assert_eq!(names(&entries), ["src/b/c.txt"]);
    assert_eq!(entries[0].method, zip::CompressionMethod::Stored);
    assert!(out["bytes_out"].as_i64().unwrap() > 6000);
    let out9 =
        e.ok(json!({"sources": ["src/b/c.txt"], "output": "small.zip", "compression_level": 9}));
    assert!(out9["bytes_out"].as_i64().unwrap() < 1000);
}

#[test]
fn an_output_inside_a_source_or_equal_to_one_is_refused() {
    let e = env();
    for (sources, output) in [
        (json!(["src"]), "src/out.zip"),
        (json!(["src/b"]), "src/b/empty/out.zip"),
        (json!(["."]), "out.zip"),
        (json!(["top.txt"]), "top.txt"),
    ] {
        let err = e.err(json!({"sources": sources, "output": output}));
        assert_eq!(
            err.kind,
            ErrorKind::InvalidInput,
            "{sources} -> {output}: {err:?}"
        );
        assert!(
            err.field.as_deref().unwrap_or("").starts_with("sources"),
            "{err:?}"
        );
        assert!(err.hint.is_some());
    }
    assert!(!e.ws.join("src/out.zip").exists());
    assert!(!e.ws.join("out.zip").exists());
    assert_eq!(
        std::fs::read_to_string(e.ws.join("top.txt")).unwrap(),
        "top"
    );
    // A sibling with a shared name prefix is not inside.
    e.ok(json!({"sources": ["src"], "output": "src.zip"}));
}

#[test]
fn sources_that_escape_or_are_missing_are_refused() {
    let e = env();
    let err = e.err(json!({"sources": ["src/link-out"], "output": "x.zip"}));
    assert_eq!(err.kind, ErrorKind::DeniedSandbox, "{err:?}");
    let err = e.err(json!({"sources": ["../outside"], "output": "x.zip"}));
    assert_eq!(err.kind, ErrorKind::DeniedSandbox, "{err:?}");
    let err = e.err(json!({"sources": ["nope"], "output": "x.zip"}));
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    let err = e.err(json!({"sources": ["src"], "output": "missing/x.zip"}));
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    let err = e.err(json!({"sources": ["top.txt"], "output": "src"}));
    assert_eq!(err.kind, ErrorKind::Execution, "{err:?}");
    assert!(!e.ws.join("x.zip").exists());
    // No temporary file is left behind by a refused or failed call.
    let leftovers: Vec<_> = std::fs::read_dir(&e.ws)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("airun-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn large_trees_report_progress() {
    let e = env();
    for i in 0..300 {
        std::fs::write(
            e.ws.join(format!("src/b/f{i:03}.txt")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
    let seen: Mutex<Vec<(u64, Option<u64>)>> = Mutex::new(Vec::new());
    let report = |done: u64, total: Option<u64>, _: &str| seen.lock().unwrap().push((done, total));
    let out = e
        .pipeline
        .execute(
            "sys.archive.zip",
            json!({"sources": ["src"], "output": "many.zip"}),
            &FlagConfirmer,
            CallOptions {
                progress: Some(&report),
                ..CallOptions::default()
            },
        )
        .unwrap();
    assert_eq!(out["files"], 303);
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() >= 4, "{seen:?}");
    let total = read_back(&e.ws.join("many.zip")).len() as u64;
    assert_eq!(seen.last(), Some(&(total, Some(total))));
}

#[test]
fn undo_removes_a_new_archive() {
    let e = env();
    e.ok(json!({"sources": ["src"], "output": "new.zip"}));
    assert!(e.ws.join("new.zip").exists());
    e.undo();
    assert!(!e.ws.join("new.zip").exists());
    assert!(e.ws.join("src/a.txt").exists(), "the sources are untouched");
}

#[test]
fn undo_restores_an_overwritten_archive_byte_for_byte() {
    let e = env();
    let old: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(e.ws.join("old.zip"), &old).unwrap();
    std::fs::set_permissions(e.ws.join("old.zip"), std::fs::Permissions::from_mode(0o640)).unwrap();
    e.ok(json!({"sources": ["src", "top.txt"], "output": "old.zip"}));
    assert_ne!(std::fs::read(e.ws.join("old.zip")).unwrap(), old);
    assert_eq!(read_back(&e.ws.join("old.zip")).len(), 8);
    let mode = std::fs::metadata(e.ws.join("old.zip"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o640, "an overwritten archive keeps its permissions");
    e.undo();
    assert_eq!(std::fs::read(e.ws.join("old.zip")).unwrap(), old);
}

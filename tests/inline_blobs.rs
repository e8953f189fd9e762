//! Small contents are rows of the state database, written in the transaction that records
//! the images referring to them; larger ones stay files under `blobs/`. Both restore, both
//! count, gc removes both, an upgraded state keeps its file blobs, a failed intent leaves
//! no row behind, and the stat cache trusts a hash only while its content is stored.

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings, UndoRequest};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{INLINE_MAX, NEW_ROWS_MAX, Retention, TimeMachine};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

mod support;
use support::snapshot::tree;

const BIN: &str = env!("CARGO_BIN_EXE_airun");

struct Env {
    tmp: tempfile::TempDir,
    k: Pipeline<Capabilities<Stdlib>>,
    tm: Arc<TimeMachine>,
}

impl Env {
    fn new(retention: Retention) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("ws")).unwrap();
        std::fs::write(tmp.path().join("ws/notes.txt"), "first line\n").unwrap();
        Self::open(tmp, retention)
    }

    /// Opens (again) the workspace `ws/` of `tmp` with its state under `home/`.
    fn open(tmp: tempfile::TempDir, retention: Retention) -> Env {
        let (ws, home) = (tmp.path().join("ws"), tmp.path().join("home"));
        let workspace = Workspace::open(&ws, false, Some(&home)).unwrap();
        let tm = Arc::new(TimeMachine::open(&home, &workspace, retention).unwrap());
        let k = Pipeline::new(
            airun::stdlib::capabilities(),
            workspace,
            Settings::default(),
        )
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm.clone()));
        Env { tmp, k, tm }
    }

    fn ws(&self) -> PathBuf {
        self.tmp.path().join("ws")
    }

    fn call(&self, id: &str, args: Value) -> Result<Value, airun::CapError> {
        self.k
            .execute(id, args, &FlagConfirmer, CallOptions::default())
    }

    fn write(&self, path: &str, content: &str) {
        self.call(
            "io.fs.write_file",
            json!({"path": path, "content": content}),
        )
        .unwrap();
    }

    fn undo(&self, steps: usize) -> usize {
        let req = UndoRequest {
            steps,
            to: None,
            force: false,
            session: None,
            principal: None,
        };
        self.k
            .journal()
            .undo(self.k.workspace(), req)
            .unwrap()
            .len()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.tm.dir().join("airun.db")).unwrap()
    }

    /// The contents stored as rows, by hash, with their sizes.
    fn rows(&self) -> Vec<(String, u64)> {
        rows_of(&self.db())
    }

    fn files(&self) -> Vec<String> {
        file_blobs(&self.tm.dir().join("blobs"))
    }
}

fn rows_of(db: &rusqlite::Connection) -> Vec<(String, u64)> {
    let mut stmt = db
        .prepare("SELECT hash, length(data) FROM blob_data ORDER BY hash")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The hashes of the blobs stored as files under `blobs`.
fn file_blobs(blobs: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(blobs).unwrap() {
        let shard = shard.unwrap();
        let name = shard.file_name().to_string_lossy().into_owned();
        if name.len() != 2 {
            continue;
        }
        for f in std::fs::read_dir(shard.path()).unwrap() {
            out.push(format!(
                "{name}{}",
                f.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

fn hash(content: &str) -> String {
    blake3::hash(content.as_bytes()).to_hex().to_string()
}

fn has_row(rows: &[(String, u64)], content: &str) -> bool {
    rows.iter().any(|(h, _)| *h == hash(content))
}

/// Up to the limit a content is one row (no file); one byte more, one file (no row). Both
/// are restored by undo and redo, listed, and counted in the store's bytes.
#[test]
fn small_contents_are_rows_and_larger_ones_files() {
    let e = Env::new(Retention::default());
    let small = "s".repeat(INLINE_MAX as usize);
    let large = "l".repeat(INLINE_MAX as usize + 1);
    let before = tree(&e.ws());
    e.write("small.txt", &small);
    e.write("large.txt", &large);
    let after = tree(&e.ws());

    let (rows, files) = (e.rows(), e.files());
    assert!(has_row(&rows, &small), "{rows:?}");
    assert!(!files.contains(&hash(&small)), "{files:?}");
    assert!(files.contains(&hash(&large)), "{files:?}");
    assert!(!has_row(&rows, &large), "{rows:?}");
    // Every row is a small content; no file is also a row.
    assert!(rows.iter().all(|(_, n)| *n <= INLINE_MAX), "{rows:?}");
    assert!(rows.iter().all(|(h, _)| !files.contains(h)));

    let listed: HashSet<String> = e.tm.blobs().list().unwrap().into_iter().collect();
    assert!(listed.contains(&hash(&small)) && listed.contains(&hash(&large)));
    assert_eq!(listed.len(), rows.len() + files.len());
    let file_bytes: u64 = files
        .iter()
        .map(|h| std::fs::metadata(e.tm.blobs().path(h)).unwrap().len())
        .sum();
    let row_bytes: u64 = rows.iter().map(|(_, n)| n).sum();
    assert_eq!(e.tm.blobs().bytes(), row_bytes + file_bytes);

    assert_eq!(e.undo(2), 2);
    assert_eq!(tree(&e.ws()), before, "undo restores both");
    assert_eq!(e.k.journal().redo(e.k.workspace(), 2).unwrap().len(), 2);
    assert_eq!(tree(&e.ws()), after, "redo restores both");
}

/// A state written before small contents were rows (schema 3, every blob a file) is
/// upgraded in place when opened: its file blobs still restore, and a content already
/// stored as a file is not stored again as a row.
#[test]
fn a_schema_3_state_upgrades_in_place_and_its_file_blobs_keep_working() {
    let e = Env::new(Retention::default());
    e.write("notes.txt", "second version\n");
    let (dir, tmp) = (e.tm.dir().to_path_buf(), e.tmp);
    drop((e.k, e.tm));

    // Back to schema 3: the rows become files, the table goes.
    let db = rusqlite::Connection::open(dir.join("airun.db")).unwrap();
    let mut stmt = db.prepare("SELECT hash, data FROM blob_data").unwrap();
    let rows: Vec<(String, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(stmt);
    assert!(rows.len() >= 2, "both contents were rows: {rows:?}");
    for (h, data) in &rows {
        let shard = dir.join("blobs").join(&h[..2]);
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::write(shard.join(&h[2..]), data).unwrap();
    }
    db.execute_batch("DROP TABLE blob_data; DROP TABLE unsynced_changes; PRAGMA user_version = 3;")
        .unwrap();
    drop(db);

    let e = Env::open(tmp, Retention::default());
    let version: i64 = e
        .db()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5);
    assert!(e.rows().is_empty());
    assert_eq!(e.undo(1), 1);
    assert_eq!(
        std::fs::read_to_string(e.ws().join("notes.txt")).unwrap(),
        "first line\n",
        "undo restores from a file blob"
    );
    assert_eq!(e.k.journal().redo(e.k.workspace(), 1).unwrap().len(), 1);
    assert_eq!(
        std::fs::read_to_string(e.ws().join("notes.txt")).unwrap(),
        "second version\n",
        "redo restores from a file blob"
    );
    // The same content again: stored once, as the file it already is.
    e.write("other.txt", "first line\n");
    assert!(!has_row(&e.rows(), "first line\n"));
    // New content is a row.
    e.write("notes.txt", "third version\n");
    assert!(has_row(&e.rows(), "third version\n"));
    assert_eq!(e.undo(2), 2);
    assert_eq!(
        std::fs::read_to_string(e.ws().join("notes.txt")).unwrap(),
        "second version\n"
    );
    assert!(!e.ws().join("other.txt").exists());
}

/// Rows no image refers to (their undo points expired) are removed by gc, as files are.
#[test]
fn gc_removes_rows_no_image_refers_to() {
    let e = Env::new(Retention {
        max_ops: 2,
        max_bytes: u64::MAX,
    });
    for i in 0..6 {
        e.write("notes.txt", &format!("version {i}\n"));
    }
    e.tm.gc().unwrap();
    let rows = e.rows();
    let db = e.db();
    let mut stmt = db
        .prepare("SELECT DISTINCT blob FROM images WHERE blob IS NOT NULL")
        .unwrap();
    let referenced: HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!referenced.is_empty());
    for (h, _) in &rows {
        assert!(referenced.contains(h), "row {h} is referenced by no image");
    }
    assert!(!has_row(&rows, "version 0\n"), "{rows:?}");
    assert!(has_row(&rows, "version 5\n"), "{rows:?}");
}

/// An intent whose transaction fails (as on a full disk) leaves no row: the stat cache
/// that remembers the file's hash no longer trusts it, so the next call stores the
/// before-image again, and its undo restores it.
#[test]
fn a_failed_intent_leaves_no_row_and_the_next_call_stores_the_content_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, home) = (tmp.path().join("ws"), tmp.path().join("home"));
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("f.txt"), "the original\n").unwrap();
    // The stat cache records only files that changed more than two seconds before.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let airun = |args: &[&str], failpoints: Option<&str>| {
        let mut c = Command::new(BIN);
        c.arg("--workspace")
            .arg(&ws)
            .args(args)
            .env("AIRUN_HOME", &home)
            .env_remove("AIRUN_WORKSPACE")
            .env_remove("FAILPOINTS")
            .stdin(Stdio::null());
        if let Some(f) = failpoints {
            c.env("FAILPOINTS", f);
        }
        c.output().unwrap()
    };
    let write = ["execute", "io.fs.write_file", "--params"];
    let params = r#"{"path": "f.txt", "content": "the change\n"}"#;
    let args = [&write[..], &[params, "--yes"]].concat();

    let out = airun(&args, Some("tm_intent_fails=return"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disk is full"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ws.join("f.txt")).unwrap(),
        "the original\n"
    );
    let state = std::fs::read_dir(home.join("state"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let db = rusqlite::Connection::open_with_flags(
        state.join("airun.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    assert!(!has_row(&rows_of(&db), "the original\n"));
    let cached: String = db
        .query_row(
            "SELECT blob FROM stat_cache WHERE path = 'f.txt'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        cached,
        hash("the original\n"),
        "the stat cache remembers it"
    );
    drop(db);

    let out = airun(&args, None);
    assert!(out.status.success(), "{out:?}");
    let out = airun(&["undo"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(ws.join("f.txt")).unwrap(),
        "the original\n"
    );
}

/// The stat cache trusts a file's recorded hash while its content is stored as a row,
/// and reads the file again once that row is gone.
#[test]
fn the_stat_cache_trusts_a_hash_only_while_its_row_is_there() {
    let e = Env::new(Retention::default());
    std::fs::write(e.ws().join("f.txt"), "the text\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // An edit that finds nothing to replace fails after its before-image was taken.
    let edit = || {
        e.call(
            "io.fs.edit_file",
            json!({"path": "f.txt", "edits": [{"old_text": "absent", "new_text": "x"}]}),
        )
        .unwrap_err();
    };
    let reads = || e.tm.snapshot_stats().files_read;
    edit();
    assert!(
        has_row(&e.rows(), "the text\n"),
        "the before-image is a row"
    );
    let first = reads();
    edit();
    assert_eq!(reads(), first, "a row stored: the file is not read again");
    e.tm.raw_sql("DELETE FROM blob_data").unwrap();
    edit();
    assert_eq!(reads(), first + 1, "the row gone: the file is read again");
    assert!(has_row(&e.rows(), "the text\n"), "and stored again");
}

/// A snapshot of more small files than it holds in memory inserts them in batches ahead
/// of its images: a tree of them is deleted and undone exactly, every content a row.
#[test]
fn a_tree_of_more_small_contents_than_held_in_memory_is_undone_exactly() {
    let e = Env::new(Retention::default());
    let size = 60 * 1024;
    let n = (NEW_ROWS_MAX as usize / size) * 2 + 3;
    for i in 0..n {
        let p = e.ws().join(format!("tree/{}/f{i}.bin", i % 7));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{i:>8}").repeat(size / 8)).unwrap();
    }
    let before = tree(&e.ws());
    e.call("io.fs.delete", json!({"path": "tree", "recursive": true}))
        .unwrap();
    assert!(!e.ws().join("tree").exists());
    let rows = e.rows();
    assert!(rows.len() >= n, "{} rows for {n} files", rows.len());
    assert!(e.files().is_empty(), "{:?}", e.files());
    assert_eq!(e.undo(1), 1);
    assert_eq!(tree(&e.ws()), before);
}

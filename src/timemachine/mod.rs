//! The time machine: a crash-safe undo journal and the hash-chained audit log of one
//! workspace, kept outside it under `$AIRUN_HOME/state/<workspace key>/`.
//!
//! Each mutating call is a transaction: a durable intent record, the before-images of
//! the spec's undo targets, the handler, the after-images, and the commit. The workspace's
//! operation lock (a file lock, so it holds across processes) is held from intent to
//! commit, which orders mutating calls. A call interrupted between intent and commit is
//! found on the next start and its before-images are put back, so the workspace is exactly
//! as before the call; history shows it as `interrupted`.
//!
//! A change's answer waits for its commit (with its after-image) to be synced in the log;
//! the files it wrote reach the disk with a sync of the file system once changes pause
//! (`settle`), and a start after a power cut finishes a change whose files did not.
//!
//! Where things are: `op` begins, commits and aborts an operation; `undo` undoes and
//! redoes; `recover` rolls back what a crash interrupted; `settle` syncs the files
//! changes wrote; `gc` applies retention (on a thread of its own in a server:
//! `housekeeping`); `record` writes and reads the audit log; `lock` holds the state
//! folder's locks; `db` holds every SQL statement; `image` and `blobs` take and keep the
//! content.

pub mod audit;
mod batch;
mod blobs;
pub mod changes;
mod checkpoint;
mod db;
mod deferred;
mod folders;
mod gc;
pub mod head;
mod housekeeping;
pub mod image;
mod lock;
mod logsync;
mod op;
mod record;
mod recover;
mod reserve;
mod settle;
mod stray;
mod summary;
mod undo;

pub use blobs::{Blob, BlobProblem, BlobStore, INLINE_MAX, NEW_ROWS_MAX};
pub use deferred::Deferred;
pub use gc::{GcReport, WAL_TRIM_BYTES};

use crate::error::{CapError, ErrorKind};
use crate::sandbox::Workspace;
pub use crate::settings::Retention;
use batch::ReadBatch;
use image::Entry;
use lock::locked_file;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How much work snapshots did since the time machine was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotStats {
    /// Files read and hashed.
    pub files_read: u64,
    /// Files unchanged since an earlier snapshot (size, times, inode), not read again.
    pub files_cached: u64,
}

/// What `airun state reset` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResetReport {
    /// The head the state had before it was damaged (from the head file), if known.
    pub lost_head: Option<head::Head>,
    /// What the damaged database still held, if it could be read.
    pub found_head: Option<head::Head>,
    /// Where the damaged database files were moved.
    pub kept_in: PathBuf,
}

/// The journal and audit log of one workspace.
pub struct TimeMachine {
    dir: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// The operation lock (see [`lock::OpLockFile`]).
    op_lock: lock::OpLockFile,
    reads: ReadBatch,
    blobs: BlobStore,
    workspace: String,
    user: String,
    retention: Retention,
    /// What the journal keeps, as last counted (see [`TimeMachine::gc_if_over`]).
    kept: Mutex<Option<gc::Kept>>,
    /// Expiries of undo points whose blobs are not removed yet.
    sweeps_due: std::sync::atomic::AtomicU32,
    /// Times the journal's totals were counted (see [`TimeMachine::gc_if_over`]).
    counts: std::sync::atomic::AtomicU32,
    /// Retention's work on a thread of its own, for servers (see [`housekeeping`]).
    housekeeping: housekeeping::Housekeeping,
    /// Folders changes altered, being synced before their answers (see [`folders`]).
    folders: folders::FolderSyncs,
    /// Changes whose files are synced after their answers (see [`settle`]).
    settle: settle::Settle,
    stats: Mutex<SnapshotStats>,
    /// Commits are synced before they return (off only to measure what that costs).
    synced: std::sync::atomic::AtomicBool,
}

fn state_err(e: impl std::fmt::Display) -> CapError {
    CapError::execution(format!("airun's state database failed: {e}"))
        .with_hint("check that $AIRUN_HOME is writable; `airun doctor` shows where it is")
}

fn damaged_state(why: String) -> CapError {
    CapError::execution(format!(
        "airun's state for this workspace was damaged or reset: {why}"
    ))
    .with_hint(
        "nothing was changed; `airun state reset` starts a new journal and audit log (the workspace's files stay as they are, the damaged database is kept aside)",
    )
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl TimeMachine {
    /// The state folder of a workspace: `<home>/state/<folder name>-<hash of its path>`.
    pub fn state_dir(home: &Path, workspace_root: &Path) -> PathBuf {
        let hash = blake3::hash(workspace_root.as_os_str().as_encoded_bytes()).to_hex();
        let name: String = workspace_root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "root".into())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        home.join("state").join(format!("{name}-{}", &hash[..16]))
    }

    /// Opens the time machine of a workspace under `home`, and recovers interrupted calls.
    pub fn open(
        home: &Path,
        ws: &Workspace,
        retention: Retention,
    ) -> Result<TimeMachine, CapError> {
        let dir = Self::state_dir(home, ws.root());
        std::fs::create_dir_all(&dir).map_err(|e| {
            CapError::execution(format!(
                "cannot create the state folder {}: {e}",
                dir.display()
            ))
        })?;
        // Setting up the database (WAL mode, schema) is one process at a time: SQLite
        // answers a concurrent journal-mode switch with "database is locked" at once,
        // without waiting. A lock of its own, so a long call elsewhere does not hold it up.
        let init = locked_file(&dir.join("init.lock")).map_err(state_err)?;
        let conn = db::open(&dir.join("airun.db")).map_err(state_err)?;
        // Before anything is rolled back or written: a database that lost what it held
        // is refused, so no answered change is undone by recovering from it.
        head::check(&conn, &dir).map_err(damaged_state)?;
        let root = ws.root().to_string_lossy();
        if db::meta(&conn, "workspace").map_err(state_err)?.as_deref() != Some(&*root) {
            db::set_meta(&conn, "workspace", &root).map_err(state_err)?;
        }
        drop(init);
        let conn = Arc::new(Mutex::new(conn));
        let blobs =
            BlobStore::open_with_rows(&dir.join("blobs"), conn.clone()).map_err(state_err)?;
        reserve::ensure(&dir);
        let head = head::Writer::open(&dir).map_err(state_err)?;
        let op_lock = lock::OpLockFile::open(&dir).map_err(state_err)?;
        let tm = TimeMachine {
            dir,
            op_lock,
            reads: ReadBatch::new(conn.clone(), head),
            settle: settle::Settle::new(conn.clone()),
            conn,
            blobs,
            workspace: ws.root().to_string_lossy().into_owned(),
            user: std::env::var("USER").unwrap_or_default(),
            retention,
            kept: Mutex::new(None),
            sweeps_due: std::sync::atomic::AtomicU32::new(0),
            counts: std::sync::atomic::AtomicU32::new(0),
            housekeeping: housekeeping::Housekeeping::default(),
            folders: folders::FolderSyncs::default(),
            stats: Mutex::new(SnapshotStats::default()),
            synced: std::sync::atomic::AtomicBool::new(true),
        };
        // A live process holding the operation lock is in the middle of a change and
        // recovers, like every change, before its next one: opening does not wait for it,
        // so `history` and `audit` answer during a long call elsewhere.
        if let Some(_lock) = tm.try_lock()? {
            tm.recover_locked(ws, true)?;
        }
        Ok(tm)
    }

    /// Starts a new journal and audit log for a workspace whose state was damaged or
    /// lost: the database files are moved aside into `damaged-<time>/` in the state
    /// folder, and the new log's first record (`state.reset`) names the head that was
    /// lost. The workspace's files are not touched. An intact state is reset only with
    /// `force` (its undo history would be lost).
    pub fn reset(
        home: &Path,
        ws: &Workspace,
        retention: Retention,
        force: bool,
    ) -> Result<ResetReport, CapError> {
        let dir = Self::state_dir(home, ws.root());
        std::fs::create_dir_all(&dir).map_err(state_err)?;
        let init = locked_file(&dir.join("init.lock")).map_err(state_err)?;
        let op_lock = locked_file(&dir.join("lock")).map_err(state_err)?;
        let lost = head::read(&dir).ok().flatten();
        let db = db::open(&dir.join("airun.db"));
        let found = db.as_ref().ok().and_then(|c| head::of_db(c).ok());
        if !force && db.as_ref().is_ok_and(|c| head::check(c, &dir).is_ok()) {
            return Err(CapError::new(
                ErrorKind::InvalidInput,
                "the state of this workspace is intact; a reset would throw its undo history and audit log away",
            )
            .with_hint("pass --force to start over anyway"));
        }
        drop(db);
        let kept = dir.join(format!(
            "damaged-{}",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ")
        ));
        std::fs::create_dir_all(&kept).map_err(state_err)?;
        for name in ["airun.db", "airun.db-wal", "airun.db-shm", head::FILE] {
            match std::fs::rename(dir.join(name), kept.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(state_err(e)),
            }
        }
        drop(op_lock);
        drop(init);
        let tm = Self::open(home, ws, retention)?;
        let report = ResetReport {
            lost_head: lost,
            found_head: found,
            kept_in: kept,
        };
        let params = serde_json::to_value(&report).unwrap_or_default();
        tm.reads
            .write(Some(tm.journal_record(
                "state.reset",
                params,
                "allowed",
                "ok",
                None,
            )))
            .map_err(state_err)?;
        Ok(report)
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Audit records accepted and not yet written (the queue of reads' records).
    pub fn audit_queue_depth(&self) -> usize {
        self.reads.depth()
    }

    /// Files read and files skipped (unchanged) by snapshots so far.
    pub fn snapshot_stats(&self) -> SnapshotStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the image of `target`, saving contents in the blob store when `store` is set
    /// (only hashing otherwise); files unchanged since an earlier snapshot are not re-read.
    /// Small contents new to the store wait in it (see [`BlobStore::take_new`]) for the
    /// transaction that records the image.
    fn snap(&self, ws: &Workspace, target: &Path, store: bool) -> Result<Vec<Entry>, CapError> {
        let under = target.to_string_lossy();
        let under = if under.is_empty() { ".".into() } else { under };
        let known = db::stat_cache(&self.conn(), &under).map_err(state_err)?;
        let mut cache = image::StatCache::new(known);
        let blobs = store.then_some(&self.blobs);
        let skip = ws.protected().state();
        let img = image::snapshot_cached(ws.dir(), target, blobs, Some(&mut cache), skip).map_err(
            |e| {
                let err = CapError::execution(format!(
                    "could not take the image of `{}`: {e}",
                    target.display()
                ));
                if e.kind() == std::io::ErrorKind::StorageFull {
                    err.with_hint(format!(
                        "the disk holding airun's state ({}) is full; nothing was changed: free space there, or run `airun gc`, and try again",
                        self.dir.display()
                    ))
                } else {
                    err
                }
            },
        )?;
        let gone = cache.gone_under(&under);
        // Most snapshots have nothing to store: they do not wait for the connection.
        if !cache.updates.is_empty() || !gone.is_empty() {
            db::update_stat_cache(&mut self.conn(), &cache.updates, &gone).map_err(state_err)?;
        }
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.files_read += cache.reads;
        stats.files_cached += cache.hits;
        Ok(img)
    }

    /// Moves the write-ahead log's checkpoints off the answer's path: a thread of their
    /// own runs them (see [`checkpoint`]) and commits no longer do. For long-running
    /// servers; a second call does nothing.
    pub fn checkpoint_in_background(&self) -> Result<(), CapError> {
        self.reads
            .checkpoint_in_background(self.dir.join("airun.db"))
            .map_err(state_err)?;
        self.conn()
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(state_err)
    }

    /// Syncs the database's write-ahead log: a change commits without a sync, and the
    /// synced audit record that follows it carries it to disk; when that record cannot be
    /// written, this does.
    fn sync_log(&self) {
        let wal = self.dir.join("airun.db-wal");
        if let Err(e) = std::fs::File::open(&wal).and_then(|f| f.sync_data()) {
            eprintln!("airun: could not sync {}: {e}", wal.display());
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns syncing every commit off or on (on by default). Only the journal benchmark
    /// turns it off, to measure what durable commits cost.
    #[doc(hidden)]
    pub fn set_synced_commits(&self, on: bool) -> Result<(), CapError> {
        self.synced.store(on, std::sync::atomic::Ordering::Relaxed);
        db::set_synchronous(&self.conn(), self.sync_level()).map_err(state_err)
    }

    fn sync_level(&self) -> &'static str {
        if self.synced.load(std::sync::atomic::Ordering::Relaxed) {
            "FULL"
        } else {
            "NORMAL"
        }
    }

    /// Runs SQL on the state database (tests use it to tamper with records).
    #[doc(hidden)]
    pub fn raw_sql(&self, sql: &str) -> Result<(), CapError> {
        self.conn().execute_batch(sql).map_err(state_err)
    }
}

/// A time machine over an empty workspace in a folder of its own, for unit tests.
#[cfg(test)]
fn test_machine(retention: Retention) -> (tempfile::TempDir, Workspace, TimeMachine) {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, home) = (tmp.path().join("ws"), tmp.path().join("home"));
    std::fs::create_dir_all(&ws).unwrap();
    let ws = Workspace::open(&ws, false, Some(&home)).unwrap();
    let tm = TimeMachine::open(&home, &ws, retention).unwrap();
    (tmp, ws, tm)
}

/// Records a finished change of `bytes` as a commit does (its op, then retention), for
/// unit tests.
#[cfg(test)]
fn test_change(tm: &TimeMachine, bytes: u64) {
    tm.raw_sql(&format!(
        "INSERT INTO ops (started, capability, params, state, targets, bytes) \
         VALUES ('t', 'io.fs.write_file', '{{}}', 'done', '[]', {bytes})"
    ))
    .unwrap();
    tm.gc_if_over(bytes).unwrap();
}

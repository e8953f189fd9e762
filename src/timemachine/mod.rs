//! The time machine: a crash-safe undo journal and the hash-chained audit log of one
//! workspace, kept outside it under `$AIRUN_HOME/state/<workspace key>/`.
//!
//! Each mutating call is a transaction: a durable intent record, the before-images of
//! the spec's undo targets, the handler, the after-images, and the commit. The workspace's
//! operation lock (a file lock, so it holds across processes) is held from intent to
//! commit, which orders mutating calls. A call interrupted between intent and commit is
//! found on the next start and its before-images are put back, so the workspace is exactly
//! as before the call; history shows it as `interrupted`.

pub mod audit;
mod batch;
mod blobs;
mod db;
mod deferred;
pub mod head;
pub mod image;
mod reserve;
mod stray;
mod summary;

pub use blobs::{BlobProblem, BlobStore};
pub use deferred::Deferred;

use crate::catalog::UndoStrategy;
use crate::error::{CapError, ErrorKind};
use crate::hooks::{
    AuditEvent, AuditSink, CallIntent, Decision, Journal, JournalOp, OpId, OpInfo, UndoRequest,
};
use crate::sandbox::{Resolved, Workspace};
pub use crate::settings::Retention;
use batch::ReadBatch;
use db::Phase;
use image::Entry;
use rusqlite::{Connection, params};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size past which a server empties the write-ahead log after opening the database.
pub const WAL_TRIM_BYTES: u64 = 1 << 20;

/// How much work snapshots did since the time machine was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotStats {
    /// Files read and hashed.
    pub files_read: u64,
    /// Files unchanged since an earlier snapshot (size, times, inode), not read again.
    pub files_cached: u64,
}

/// What `gc` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Operations whose undo points expired.
    pub expired_ops: usize,
    /// Blobs removed.
    pub removed_blobs: usize,
    /// Partly written blobs (left by killed calls) removed.
    pub removed_temps: usize,
    /// Temporary folders of programs whose airun process was killed, removed.
    pub removed_exec_temps: usize,
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
    reads: ReadBatch,
    blobs: BlobStore,
    workspace: String,
    user: String,
    retention: Retention,
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

use crate::failpoint::crash_point;

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
        let blobs = BlobStore::open(&dir.join("blobs")).map_err(state_err)?;
        reserve::ensure(&dir);
        let conn = Arc::new(Mutex::new(conn));
        let tm = TimeMachine {
            dir,
            reads: ReadBatch::new(conn.clone()),
            conn,
            blobs,
            workspace: ws.root().to_string_lossy().into_owned(),
            user: std::env::var("USER").unwrap_or_default(),
            retention,
            stats: Mutex::new(SnapshotStats::default()),
            synced: std::sync::atomic::AtomicBool::new(true),
        };
        // A live process holding the operation lock is in the middle of a change and
        // recovers, like every change, before its next one: opening does not wait for it,
        // so `history` and `audit` answer during a long call elsewhere.
        if let Some(_lock) = tm.try_lock()? {
            tm.recover_locked(ws)?;
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

    /// Files read and files skipped (unchanged) by snapshots so far.
    pub fn snapshot_stats(&self) -> SnapshotStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the image of `target`, saving contents in the blob store when `store` is set
    /// (only hashing otherwise); files unchanged since an earlier snapshot are not re-read.
    fn snap(&self, ws: &Workspace, target: &Path, store: bool) -> Result<Vec<Entry>, CapError> {
        let known = db::stat_cache(&self.conn()).map_err(state_err)?;
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
        let gone = cache.gone_under(&target.to_string_lossy());
        db::update_stat_cache(&mut self.conn(), &cache.updates, &gone).map_err(state_err)?;
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.files_read += cache.reads;
        stats.files_cached += cache.hits;
        Ok(img)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the workspace's operation lock if no other call holds it.
    fn try_lock(&self) -> Result<Option<File>, CapError> {
        let f = self.lock_file()?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(state_err(e)),
        }
    }

    fn lock_file(&self) -> Result<File, CapError> {
        lock_file(&self.dir.join("lock")).map_err(state_err)
    }

    /// Takes the workspace's operation lock (blocks while another call holds it).
    fn lock(&self) -> Result<File, CapError> {
        locked_file(&self.dir.join("lock")).map_err(state_err)
    }

    /// Takes the operation lock for a change, undo or redo: queued read records are
    /// written first (what was read before a change is on record before it starts), and
    /// calls a crash interrupted are rolled back under the lock.
    fn lock_for_change(&self, ws: &Workspace) -> Result<File, CapError> {
        self.reads.write(None).map_err(state_err)?;
        let lock = self.lock()?;
        self.recover_locked(ws)?;
        Ok(lock)
    }

    /// Finds calls interrupted by a crash and puts their before-images back; finishes
    /// interrupted undos and redos. The caller holds the operation lock, so whatever is
    /// still in progress was left by a process that died, perhaps after this one opened
    /// the state (another airun beside a long-running server).
    fn recover_locked(&self, ws: &Workspace) -> Result<(), CapError> {
        // No call is writing a blob now: any temp left is a killed writer's.
        self.blobs.sweep_temps().map_err(state_err)?;
        let pending: Vec<(OpId, String)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached("SELECT id, state FROM ops WHERE state IN ('pending', 'running', 'undoing', 'redoing') ORDER BY id DESC")
                .map_err(state_err)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(state_err)?
                .collect::<Result<_, _>>()
                .map_err(state_err)?
        };
        for (id, state) in pending {
            if state == "pending" {
                // The intent was recorded but the handler never started.
                self.forget(id)?;
                continue;
            }
            let (phase, end) = match state.as_str() {
                "running" => (Phase::Before, "interrupted"),
                "undoing" => (Phase::Before, "undone"),
                _ => (Phase::After, "done"),
            };
            if let Err(e) = self.put_back(ws, id, phase, &Default::default()) {
                // A lost or damaged saved copy: the op cannot be finished, and trying
                // again on every start would lock the state up. Everything else is put
                // back, and the op ends as `damaged`.
                let lost = self.lost_files(id, phase)?;
                let leave: std::collections::HashSet<String> =
                    lost.iter().map(|(p, _)| p.clone()).collect();
                let why = match self.put_back(ws, id, phase, &leave) {
                    Ok(()) if !lost.is_empty() => not_restored(&lost),
                    Ok(()) => e.message,
                    Err(again) => again.message,
                };
                self.mark_damaged(id, &state, &why)?;
                continue;
            }
            self.remove_stray_temps(ws, id)?;
            self.set_state(id, end)?;
            if end == "interrupted" {
                self.record_interrupted(id)?;
            }
        }
        Ok(())
    }

    /// Ends an op whose images cannot be put back in the terminal state `damaged`, with
    /// the reason in its summary and an audit record, so later commands work.
    fn mark_damaged(&self, id: OpId, was: &str, why: &str) -> Result<(), CapError> {
        tracing::warn!(op = id, error = why, "operation {id} could not be restored");
        eprintln!(
            "airun: operation {id} ({was}) could not be restored and is marked damaged: {why}"
        );
        let (capability, params, summary): (String, String, String) = self
            .conn()
            .query_row(
                "SELECT capability, params, summary FROM ops WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(state_err)?;
        let summary = format!("{summary} (damaged while {was}: {why})");
        {
            let mut conn = self.conn();
            let tx = conn.transaction().map_err(state_err)?;
            tx.execute(
                "UPDATE ops SET state = 'damaged', summary = ?1, finished = ?2 WHERE id = ?3",
                params![summary.trim_start(), now(), id],
            )
            .map_err(state_err)?;
            head::count_commit(&tx).map_err(state_err)?;
            tx.commit().map_err(state_err)?;
        }
        let record = self.journal_record(
            &capability,
            serde_json::from_str(&params).unwrap_or_default(),
            "recovered",
            "damaged",
            Some(id),
        );
        audit::append(&mut self.conn(), record).map_err(state_err)?;
        Ok(())
    }

    /// An audit record for a journal event (recovery, undo, redo, reset).
    fn journal_record(
        &self,
        capability: &str,
        params: serde_json::Value,
        decision: &str,
        outcome: &str,
        op: Option<OpId>,
    ) -> audit::Record {
        audit::Record {
            seq: 0,
            time: now(),
            user: self.user.clone(),
            workspace: self.workspace.clone(),
            capability: capability.to_string(),
            params,
            decision: decision.into(),
            outcome: outcome.into(),
            duration_ms: 0,
            op,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// The files of an op's images whose saved copies are missing or damaged, with what
    /// is wrong (each blob is read and hashed once).
    fn lost_files(&self, id: OpId, phase: Phase) -> Result<Vec<(String, BlobProblem)>, CapError> {
        let images = db::images(&self.conn(), id, phase).map_err(state_err)?;
        let mut checked: std::collections::HashMap<String, Result<(), BlobProblem>> =
            std::collections::HashMap::new();
        let mut lost = Vec::new();
        for e in images.iter().flatten() {
            let Some(hash) = e.blob.as_deref().filter(|_| e.kind == image::Kind::File) else {
                continue;
            };
            let verdict = checked
                .entry(hash.to_string())
                .or_insert_with(|| self.blobs.verify(hash, e.size));
            if let Err(p) = verdict {
                lost.push((e.path.clone(), p.clone()));
            }
        }
        Ok(lost)
    }

    /// After a failed undo or redo of `id` (from `from` toward the other phase): puts the
    /// op's `from` images back and settles it in `from_state`, so the workspace is as it
    /// was before the attempt; when even that fails, ends the op as `damaged`. Either way
    /// no later call is blocked by it.
    fn settle_failed(
        &self,
        ws: &Workspace,
        id: OpId,
        from: Phase,
        from_state: &str,
        was: &str,
        why: &str,
    ) -> Result<(), CapError> {
        match self.put_back(ws, id, from, &Default::default()) {
            Ok(()) => self.set_state(id, from_state),
            Err(e) => self.mark_damaged(
                id,
                was,
                &format!("{why}; putting it back failed too: {}", e.message),
            ),
        }
    }

    /// Removes the temporary files a killed call can leave next to its targets: a write's
    /// or a copy's `.<name>.airun-tmp-*` and a restore's `.<name>.airun-restore-*`. They lie
    /// beside the target, outside its image, so putting the image back leaves them. Runs
    /// under the operation lock, so no other call is writing one.
    fn remove_stray_temps(&self, ws: &Workspace, id: OpId) -> Result<(), CapError> {
        let images = db::images(&self.conn(), id, Phase::Before).map_err(state_err)?;
        for root in images.iter().filter_map(|img| img.first()) {
            let target = Path::new(&root.path);
            let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let parent = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let prefixes = [
                format!(".{name}.airun-tmp-"),
                format!(".{name}.airun-restore-"),
            ];
            let Ok(entries) = ws.dir().read_dir(parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let n = file_name.to_string_lossy();
                if prefixes.iter().any(|p| n.starts_with(p.as_str())) {
                    ws.dir().remove_file(parent.join(&file_name)).map_err(|e| {
                        CapError::execution(format!("could not remove the leftover `{n}`: {e}"))
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Gives an interrupted op its summary and its audit record: the call never finished,
    /// so neither was written.
    fn record_interrupted(&self, id: OpId) -> Result<(), CapError> {
        let (capability, params, targets): (String, String, String) = self
            .conn()
            .query_row(
                "SELECT capability, params, targets FROM ops WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(state_err)?;
        let targets: Vec<String> = serde_json::from_str(&targets).unwrap_or_default();
        let verb = capability
            .rsplit('.')
            .next()
            .unwrap_or(&capability)
            .replace('_', " ");
        let summary = format!("{verb} {} (interrupted, rolled back)", targets.join(", "));
        self.conn()
            .execute(
                "UPDATE ops SET summary = ?1 WHERE id = ?2",
                params![summary, id],
            )
            .map_err(state_err)?;
        let record = audit::Record {
            seq: 0,
            time: now(),
            user: self.user.clone(),
            workspace: self.workspace.clone(),
            capability,
            params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
            decision: "recovered".into(),
            outcome: "interrupted".into(),
            duration_ms: 0,
            op: Some(id),
            prev_hash: String::new(),
            hash: String::new(),
        };
        audit::append(&mut self.conn(), record).map_err(state_err)?;
        Ok(())
    }

    fn forget(&self, id: OpId) -> Result<(), CapError> {
        let conn = self.conn();
        conn.execute("DELETE FROM images WHERE op = ?1", [id])
            .map_err(state_err)?;
        conn.execute("DELETE FROM ops WHERE id = ?1", [id])
            .map_err(state_err)?;
        Ok(())
    }

    /// Moves an op to `state`; a terminal state is a journal commit (counted in the head,
    /// which the audit record that follows every change writes out).
    fn set_state(&self, id: OpId, state: &str) -> Result<(), CapError> {
        let terminal = !matches!(state, "undoing" | "redoing");
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(state_err)?;
        tx.execute(
            "UPDATE ops SET state = ?1, finished = ?2 WHERE id = ?3",
            params![state, now(), id],
        )
        .map_err(state_err)?;
        if terminal {
            head::count_commit(&tx).map_err(state_err)?;
        }
        tx.commit().map_err(state_err)?;
        Ok(())
    }

    /// Restores every target of an op to one of its images, last target first.
    /// Files in `leave` (whose saved copies are lost) are left as they are.
    fn put_back(
        &self,
        ws: &Workspace,
        id: OpId,
        phase: Phase,
        leave: &std::collections::HashSet<String>,
    ) -> Result<(), CapError> {
        let images = db::images(&self.conn(), id, phase).map_err(state_err)?;
        for img in images.iter().rev() {
            image::restore_skipping(ws.dir(), &self.blobs, img, ws.protected().state(), leave)
                .map_err(|e| {
                    CapError::execution(format!(
                        "could not restore `{}`: {e}",
                        img.first().map(|e| e.path.as_str()).unwrap_or("?")
                    ))
                })?;
        }
        Ok(())
    }

    /// Where the current state differs from an op's images, the first such path.
    fn drift(&self, ws: &Workspace, id: OpId, phase: Phase) -> Result<Option<String>, CapError> {
        let images = db::images(&self.conn(), id, phase).map_err(state_err)?;
        for img in &images {
            let Some(root) = img.first() else { continue };
            let current = self.snap(ws, Path::new(&root.path), false)?;
            if let Some(p) = image::first_difference(img, &current) {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    fn op_info(&self, ids: &[OpId]) -> Result<Vec<OpInfo>, CapError> {
        let conn = self.conn();
        let mut out = Vec::new();
        for id in ids {
            let info = conn
                .query_row(
                    "SELECT id, started, capability, summary, state, targets FROM ops WHERE id = ?1",
                    [id],
                    |r| {
                        let mut info = OpInfo {
                            op: r.get(0)?,
                            time: r.get(1)?,
                            capability: r.get(2)?,
                            summary: r.get(3)?,
                            state: r.get(4)?,
                        };
                        // An operation still under way has its summary only at commit:
                        // say what it is working on.
                        if info.summary.is_empty() && info.state == "running" {
                            let targets: Vec<String> =
                                serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default();
                            info.summary = format!("in progress: {}", targets.join(", "));
                        }
                        Ok(info)
                    },
                )
                .map_err(state_err)?;
            out.push(info);
        }
        Ok(out)
    }

    fn ids(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<OpId>, CapError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).map_err(state_err)?;
        stmt.query_map(args, |r| r.get(0))
            .map_err(state_err)?
            .collect::<Result<_, _>>()
            .map_err(state_err)
    }

    /// Moves the write-ahead log into the database and empties it when it has grown past
    /// [`WAL_TRIM_BYTES`]: every process that opens the database reads the whole log
    /// first. Servers do this in the background after opening.
    pub fn trim_wal(&self) -> Result<(), CapError> {
        let wal = self.dir.join("airun.db-wal");
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size > WAL_TRIM_BYTES {
            self.conn()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(state_err)?;
        }
        Ok(())
    }

    /// Expires the oldest undo points beyond the retention limits and removes blobs no
    /// image refers to. The audit log is never trimmed.
    pub fn gc(&self) -> Result<GcReport, CapError> {
        let _lock = self.lock()?;
        let mut report = self.gc_locked()?;
        report.removed_exec_temps = stray::sweep_exec_temps(&std::env::temp_dir());
        Ok(report)
    }

    fn gc_locked(&self) -> Result<GcReport, CapError> {
        let mut report = GcReport {
            removed_temps: self.blobs.sweep_temps().map_err(state_err)?,
            ..GcReport::default()
        };
        let kept: Vec<(OpId, i64)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id, bytes FROM ops WHERE state IN ('done', 'undone', 'interrupted', 'damaged') ORDER BY id")
                .map_err(state_err)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(state_err)?
                .collect::<Result<_, _>>()
                .map_err(state_err)?
        };
        let mut count = kept.len();
        let mut bytes: u64 = kept.iter().map(|(_, b)| *b as u64).sum();
        // Once over a limit, trim a tenth below it, so gc runs now and then rather than
        // on every call.
        let over = count > self.retention.max_ops || bytes > self.retention.max_bytes;
        let (max_ops, max_bytes) = if over {
            (
                self.retention.max_ops - self.retention.max_ops / 10,
                self.retention.max_bytes - self.retention.max_bytes / 10,
            )
        } else {
            (self.retention.max_ops, self.retention.max_bytes)
        };
        for (id, b) in &kept {
            if count <= max_ops && bytes <= max_bytes {
                break;
            }
            let conn = self.conn();
            conn.execute("DELETE FROM images WHERE op = ?1", [id])
                .map_err(state_err)?;
            conn.execute("UPDATE ops SET state = 'expired' WHERE id = ?1", [id])
                .map_err(state_err)?;
            count -= 1;
            bytes = bytes.saturating_sub(*b as u64);
            report.expired_ops += 1;
        }
        let referenced: std::collections::HashSet<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT DISTINCT blob FROM images WHERE blob IS NOT NULL")
                .map_err(state_err)?;
            stmt.query_map([], |r| r.get(0))
                .map_err(state_err)?
                .collect::<Result<_, _>>()
                .map_err(state_err)?
        };
        for blob in self.blobs.list().map_err(state_err)? {
            if !referenced.contains(&blob) {
                self.blobs.remove(&blob).map_err(state_err)?;
                report.removed_blobs += 1;
            }
        }
        Ok(report)
    }

    /// Audit records, oldest first (`limit` keeps the newest).
    pub fn audit_records(&self, limit: Option<usize>) -> Result<Vec<audit::Record>, CapError> {
        self.reads.write(None).map_err(state_err)?;
        audit::list(&self.conn(), limit).map_err(state_err)
    }

    /// Checks the audit chain: the number of records, or the first bad one.
    pub fn audit_verify(&self) -> Result<Result<usize, String>, CapError> {
        self.reads.write(None).map_err(state_err)?;
        let conn = self.conn();
        match audit::verify(&conn).map_err(state_err)? {
            Ok(n) => Ok(head::check(&conn, &self.dir).map(|()| n)),
            bad => Ok(bad),
        }
    }

    /// Writes the audit record of a journal command the operator ran (`airun undo`,
    /// `redo`): allowed, with its outcome; an error when the record cannot be written.
    pub fn record_event(
        &self,
        capability: &str,
        params: serde_json::Value,
        outcome: &str,
        duration_ms: u64,
    ) -> Result<(), CapError> {
        let mut record = self.journal_record(capability, params, "allowed", outcome, None);
        record.duration_ms = i64::try_from(duration_ms).unwrap_or(i64::MAX);
        self.reads.write(Some(record)).map_err(state_err)
    }

    /// Turns syncing every commit off or on (on by default). Only the journal benchmark
    /// turns it off, to measure what durable commits cost.
    #[doc(hidden)]
    pub fn set_synced_commits(&self, on: bool) -> Result<(), CapError> {
        self.synced.store(on, std::sync::atomic::Ordering::Relaxed);
        self.conn()
            .pragma_update(None, "synchronous", self.sync_level())
            .map_err(state_err)
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

/// Commits a finished change: its after-images and its `done` state, in one transaction.
fn commit_done(
    conn: &mut Connection,
    id: OpId,
    after: &[Vec<Entry>],
    summary: &str,
    bytes: u64,
) -> rusqlite::Result<()> {
    // Tests make the commit fail as on a full disk.
    fail::fail_point!("tm_commit_fails", |_| Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("database or disk is full".into())
    )));
    let tx = conn.transaction()?;
    for (i, img) in after.iter().enumerate() {
        db::put_image(&tx, id, Phase::After, i, img)?;
    }
    tx.execute(
        "UPDATE ops SET state = 'done', summary = ?1, finished = ?2, bytes = ?3 WHERE id = ?4",
        params![summary, now(), bytes as i64, id],
    )?;
    head::count_commit(&tx)?;
    tx.commit()
}

/// Records a change's intent and before-images in one transaction; returns its op id.
fn write_intent(
    conn: &mut Connection,
    cap: &crate::Capability,
    intent: &CallIntent<'_>,
    irreversible: bool,
    targets: &[PathBuf],
    images: &[Vec<Entry>],
) -> Result<OpId, CapError> {
    let tx = conn.transaction().map_err(state_err)?;
    tx.prepare_cached(
        "INSERT INTO ops (started, capability, params, state, targets) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut st| {
        st.execute(params![
            now(),
            cap.id,
            intent.params.to_string(),
            if irreversible {
                "irreversible"
            } else {
                "running"
            },
            serde_json::to_string(targets).unwrap_or_default()
        ])
    })
    .map_err(state_err)?;
    let id = tx.last_insert_rowid();
    for (i, img) in images.iter().enumerate() {
        db::put_image(&tx, id, Phase::Before, i, img).map_err(state_err)?;
    }
    tx.commit().map_err(state_err)?;
    Ok(id)
}

/// What a partial restore left out.
fn not_restored(lost: &[(String, BlobProblem)]) -> String {
    let files: Vec<String> = lost
        .iter()
        .map(|(p, why)| format!("`{p}` ({why})"))
        .collect();
    format!("partly restored; not restored: {}", files.join(", "))
}

/// The refusal to undo or redo an op some of whose saved copies are lost.
/// Opens (creating it when missing) a file of the state folder used only as a lock.
fn lock_file(path: &Path) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// [`lock_file`], locked exclusively (blocks while another process holds it).
fn locked_file(path: &Path) -> std::io::Result<File> {
    let f = lock_file(path)?;
    f.lock()?;
    Ok(f)
}

/// Adds to an undo's refusal how many newer operations it had already undone.
fn after_undone(mut err: CapError, undone: usize) -> CapError {
    if undone > 0 {
        err.message
            .push_str(&format!(" ({undone} newer operation(s) were undone first)"));
    }
    err
}

fn lost_error(id: OpId, verb: &str, lost: &[(String, BlobProblem)]) -> CapError {
    let shown: Vec<String> = lost
        .iter()
        .take(5)
        .map(|(p, why)| format!("`{p}`: {why}"))
        .collect();
    let more = if lost.len() > 5 {
        format!(" (and {} more)", lost.len() - 5)
    } else {
        String::new()
    };
    CapError::execution(format!(
        "operation {id} cannot be {verb} exactly: {}{more}; nothing was changed",
        shown.join("; ")
    ))
}

/// The first missing path on the way to `target`, so undoing a call that created
/// `a/b/c` (and `a`, `a/b`) removes everything it created.
fn topmost_missing(ws: &Workspace, target: &Resolved) -> PathBuf {
    let mut p = target.rel().to_path_buf();
    if ws.dir().symlink_metadata(&p).is_ok() {
        return p;
    }
    while let Some(parent) = p.parent() {
        if parent.as_os_str().is_empty() || ws.dir().symlink_metadata(parent).is_ok() {
            break;
        }
        p = parent.to_path_buf();
    }
    p
}

/// A recorded operation between intent and commit.
struct Op<'a> {
    tm: &'a TimeMachine,
    id: OpId,
    targets: Vec<PathBuf>,
    capability: &'static crate::Capability,
    params: serde_json::Value,
    _lock: File,
}

impl Journal for TimeMachine {
    fn begin<'a>(
        &'a self,
        ws: &'a Workspace,
        intent: &CallIntent<'_>,
    ) -> Result<Option<Box<dyn JournalOp + 'a>>, CapError> {
        let lock = self.lock_for_change(ws)?;
        let cap = intent.capability;
        let mut targets: Vec<PathBuf> = Vec::new();
        for (_, r) in &intent.undo_targets {
            let t = topmost_missing(ws, r);
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        let irreversible = cap.undo_strategy == UndoStrategy::Irreversible;
        // Before-images first (their blobs are content-addressed, so a crash here leaves
        // at most unreferenced blobs for gc), then the intent and the images in one
        // transaction: the handler runs only once both are durable.
        let mut images = Vec::new();
        if !irreversible {
            for t in &targets {
                images.push(self.snap(ws, t, true).map_err(|e| {
                    let mut err = CapError::execution(format!(
                        "could not save the before-image of `{}`: {}",
                        t.display(),
                        e.message
                    ));
                    err.hint = e.hint;
                    err
                })?);
            }
        }
        crash_point!("tm_after_intent");
        let id: OpId = {
            let mut conn = self.conn();
            // The intent is not synced: a power cut may lose it together with the call,
            // which was not answered yet. Every commit of an answered change is synced.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(state_err)?;
            let res = write_intent(&mut conn, cap, intent, irreversible, &targets, &images);
            conn.pragma_update(None, "synchronous", self.sync_level())
                .map_err(state_err)?;
            res?
        };
        crash_point!("tm_after_before_images");
        Ok(Some(Box::new(Op {
            tm: self,
            id,
            targets,
            capability: cap,
            params: intent.params.clone(),
            _lock: lock,
        })))
    }

    fn undo(&self, ws: &Workspace, req: UndoRequest) -> Result<Vec<OpInfo>, CapError> {
        let _lock = self.lock_for_change(ws)?;
        let ids = match req.to {
            Some(to) => self.ids(
                "SELECT id FROM ops WHERE state = 'done' AND id >= ?1 ORDER BY id DESC",
                [to],
            )?,
            None => self.ids(
                "SELECT id FROM ops WHERE state = 'done' ORDER BY id DESC LIMIT ?1",
                [req.steps.max(1) as i64],
            )?,
        };
        let mut undone = Vec::new();
        for id in ids {
            if !req.force
                && let Some(path) = self.drift(ws, id, Phase::After)?
            {
                let msg = format!(
                    "`{path}` changed after operation {id}; undoing it would overwrite that change"
                );
                let err = CapError::new(ErrorKind::Execution, msg).with_hint(
                    "look at the file, then run `airun undo --force` to restore it anyway",
                );
                return Err(after_undone(err, undone.len()));
            }
            let lost = self.lost_files(id, Phase::Before)?;
            if !lost.is_empty() && !req.force {
                let err = lost_error(id, "undone", &lost).with_hint(
                    "run `airun undo --force` to restore everything else and leave these files as they are now",
                );
                return Err(after_undone(err, undone.len()));
            }
            let leave: std::collections::HashSet<String> =
                lost.iter().map(|(p, _)| p.clone()).collect();
            self.set_state(id, "undoing")?;
            crash_point!("tm_undo_before_restore");
            if let Err(e) = self.put_back(ws, id, Phase::Before, &leave) {
                self.settle_failed(ws, id, Phase::After, "done", "undoing", &e.message)?;
                return Err(e);
            }
            if lost.is_empty() {
                self.set_state(id, "undone")?;
            } else {
                self.mark_damaged(id, "undoing", &not_restored(&lost))?;
            }
            undone.push(id);
        }
        self.op_info(&undone)
    }

    fn redo(&self, ws: &Workspace, steps: usize) -> Result<Vec<OpInfo>, CapError> {
        let _lock = self.lock_for_change(ws)?;
        let ids = self.ids(
            "SELECT id FROM ops WHERE state = 'undone' AND id > COALESCE((SELECT MAX(id) FROM ops WHERE state IN ('done', 'irreversible', 'interrupted', 'damaged')), 0) ORDER BY id ASC LIMIT ?1",
            [steps.max(1) as i64],
        )?;
        let mut redone = Vec::new();
        for id in ids {
            if let Some(path) = self.drift(ws, id, Phase::Before)? {
                return Err(CapError::execution(format!(
                    "`{path}` changed after operation {id} was undone; redoing it would overwrite that change"
                ))
                .with_hint("look at the file and undo or move your change first"));
            }
            let lost = self.lost_files(id, Phase::After)?;
            if !lost.is_empty() {
                return Err(lost_error(id, "redone", &lost)
                    .with_hint("the operation cannot be redone; its undone state stays as it is"));
            }
            self.set_state(id, "redoing")?;
            if let Err(e) = self.put_back(ws, id, Phase::After, &Default::default()) {
                self.settle_failed(ws, id, Phase::Before, "undone", "redoing", &e.message)?;
                return Err(e);
            }
            self.set_state(id, "done")?;
            redone.push(id);
        }
        self.op_info(&redone)
    }

    fn undoable(&self) -> Result<usize, CapError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM ops WHERE state = 'done'", [], |r| {
                r.get(0)
            })
            .map_err(state_err)?;
        Ok(n as usize)
    }

    fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        let ids = self.ids(
            "SELECT id FROM ops WHERE state NOT IN ('pending') ORDER BY id DESC LIMIT ?1",
            [limit as i64],
        )?;
        self.op_info(&ids)
    }
}

impl JournalOp for Op<'_> {
    fn id(&self) -> OpId {
        self.id
    }

    fn finish(
        self: Box<Self>,
        ws: &Workspace,
        outcome: Result<&serde_json::Value, &CapError>,
    ) -> Result<(), CapError> {
        let tm = self.tm;
        crash_point!("tm_before_after_images");
        if self.capability.undo_strategy == UndoStrategy::Irreversible {
            if outcome.is_err() {
                tm.forget(self.id)?;
            } else {
                let summary = summary::line(self.capability, &self.params, &[], &[]);
                tm.conn()
                    .execute(
                        "UPDATE ops SET summary = ?1, finished = ?2 WHERE id = ?3",
                        params![summary, now(), self.id],
                    )
                    .map_err(state_err)?;
            }
            return Ok(());
        }
        if outcome.is_err() {
            // A failed call leaves the workspace as it was.
            if tm.drift(ws, self.id, Phase::Before)?.is_some() {
                tm.put_back(ws, self.id, Phase::Before, &Default::default())?;
            }
            return tm.forget(self.id);
        }
        let mut after = Vec::new();
        for t in &self.targets {
            match tm.snap(ws, t, true) {
                Ok(img) => after.push(img),
                Err(e) => {
                    // Without its after-image the change could not be redone: it is rolled
                    // back, so the failed call leaves the workspace as it was.
                    tm.put_back(ws, self.id, Phase::Before, &Default::default())?;
                    tm.forget(self.id)?;
                    let mut err = CapError::execution(format!(
                        "could not save the after-image of `{}`: {}; the change was rolled back",
                        t.display(),
                        e.message
                    ));
                    err.hint = e.hint;
                    return Err(err);
                }
            }
        }
        crash_point!("tm_after_after_images");
        let before = db::images(&tm.conn(), self.id, Phase::Before).map_err(state_err)?;
        let summary = summary::line(self.capability, &self.params, &before, &after);
        // What the op costs to keep: the content that differs between its images (a
        // snapshot of a whole tree that changed one file costs that file, not the tree).
        let pairs = |imgs: &[Vec<Entry>]| -> std::collections::HashSet<(String, Option<String>)> {
            imgs.iter()
                .flatten()
                .map(|e| (e.path.clone(), e.blob.clone()))
                .collect()
        };
        let (in_before, in_after) = (pairs(&before), pairs(&after));
        let bytes: u64 = before
            .iter()
            .flatten()
            .filter(|e| !in_after.contains(&(e.path.clone(), e.blob.clone())))
            .chain(
                after
                    .iter()
                    .flatten()
                    .filter(|e| !in_before.contains(&(e.path.clone(), e.blob.clone()))),
            )
            .map(|e: &Entry| e.size)
            .sum();
        {
            let mut conn = tm.conn();
            if let Err(e) = commit_done(&mut conn, self.id, &after, &summary, bytes) {
                drop(conn);
                // The change cannot be recorded (a full disk): it is rolled back, so the
                // failed call leaves the workspace as it was. Should forgetting the op
                // fail too, the next start finds it interrupted and rolls back again.
                tm.put_back(ws, self.id, Phase::Before, &Default::default())?;
                let _ = tm.forget(self.id);
                let mut err = state_err(e);
                err.message.push_str("; the change was rolled back");
                return Err(err);
            }
        }
        crash_point!("tm_after_commit");
        let over: i64 = tm
            .conn()
            .query_row(
                "SELECT COUNT(*) > ?1 OR COALESCE(SUM(bytes), 0) > ?2 FROM ops WHERE state IN ('done', 'undone', 'interrupted')",
                params![
                    i64::try_from(tm.retention.max_ops).unwrap_or(i64::MAX),
                    i64::try_from(tm.retention.max_bytes).unwrap_or(i64::MAX)
                ],
                |r| r.get(0),
            )
            .map_err(state_err)?;
        if over != 0 {
            tm.gc_locked()?;
        }
        Ok(())
    }
}

impl TimeMachine {
    fn audit_record(&self, event: &AuditEvent<'_>) -> audit::Record {
        let decision = match event.decision {
            Decision::Approved(by) => format!(
                "approved_by_{}",
                serde_json::to_value(by)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        audit::Record {
            seq: 0,
            time: now(),
            user: self.user.clone(),
            workspace: self.workspace.clone(),
            capability: event.capability.to_string(),
            params: audit::shrink(event.params.clone()),
            decision,
            outcome: event.outcome.to_string(),
            duration_ms: event.duration_ms as i64,
            op: event.op,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

impl AuditSink for TimeMachine {
    fn tail(&self, limit: usize) -> Result<Vec<serde_json::Value>, CapError> {
        Ok(self
            .audit_records(Some(limit))?
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect())
    }

    fn record(&self, event: &AuditEvent<'_>) {
        if let Err(e) = self.reads.write(Some(self.audit_record(event))) {
            eprintln!("airun: could not write the audit record: {e}");
        }
    }

    fn record_read(&self, event: &AuditEvent<'_>) {
        self.reads.push(self.audit_record(event));
    }

    fn flush(&self) {
        if let Err(e) = self.reads.write(None) {
            eprintln!("airun: could not write the audit records: {e}");
        }
    }
}

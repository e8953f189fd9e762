//! One operation of the journal: begin (the intent and the before-images, durable before
//! the handler runs), then commit (the after-images and `done`) or abort (the workspace
//! put back as it was, the op forgotten); and the steps undo, redo and recovery share.

use super::db::{self, Phase};
use super::folders;
use super::image::{self, Entry};
use super::lock::Scope;
use super::{TimeMachine, now, state_err, summary};
use crate::catalog::{SideEffect, UndoStrategy};
use crate::error::CapError;
use crate::failpoint::crash_point;
use crate::hooks::{
    CallIntent, Journal, JournalOp, OpId, OpInfo, PrincipalSummary, SessionSummary, UndoRequest,
};
use crate::sandbox::{Resolved, Workspace};
use crate::types::OpState;
use rusqlite::Connection;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A recorded operation between intent and commit.
struct Op<'a> {
    tm: &'a TimeMachine,
    id: OpId,
    targets: Vec<PathBuf>,
    capability: &'static crate::Capability,
    params: serde_json::Value,
    /// The before-images, as recorded.
    before: Vec<Vec<Entry>>,
    /// The claim on the operation lock: its targets (and what lies beneath them).
    lock: super::lock::OpLock<'a>,
    /// The intent's number in the log's syncs (none for an irreversible change, which
    /// keeps no undo point).
    intent: Option<u64>,
    /// Whether the change's commit keeps what it writes (see [`JournalOp::keeps_content`]).
    keeps: bool,
}

impl Journal for TimeMachine {
    fn begin<'a>(
        &'a self,
        ws: &'a Workspace,
        intent: &CallIntent<'_>,
    ) -> Result<Option<Box<dyn JournalOp + 'a>>, CapError> {
        let cap = intent.capability;
        let (mut lock, targets) = self.claim_targets(ws, intent)?;
        let irreversible = cap.undo_strategy == UndoStrategy::Irreversible;
        if irreversible {
            // The journal cannot finish this change after a power cut, nor tell it from
            // what an earlier one wrote: the files earlier changes wrote go to disk first.
            self.settle.now_or_report();
        }
        // Small contents an earlier call on this thread collected and did not record
        // (its snapshot failed) are not this call's.
        self.blobs.take_new();
        // Before-images first (their file blobs are content-addressed, so a crash here
        // leaves at most unreferenced blobs for gc), then the intent, the images and the
        // small contents they refer to in one transaction: the handler's first change the
        // workspace shows waits until they are durable (`before_change`).
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
        let rows = self.blobs.take_new();
        let (id, log) = {
            let mut conn = self.conn();
            // The log's handle syncs the intent beside the handler's work (queued below);
            // without it (no file handle to be had), the intent is committed synced, as
            // any commit is. An irreversible change keeps no undo point to wait for.
            let log = if irreversible {
                None
            } else {
                self.reads.log(&conn)
            };
            let write = |c: &mut Connection| {
                write_intent(c, cap, intent, irreversible, &targets, &images, &rows)
            };
            // Without a sync, when one follows: a power cut before it may lose the
            // intent together with the call, which was not answered yet.
            let id = if log.is_some() || irreversible {
                db::unsynced(&mut conn, write).map_err(state_err)??
            } else {
                write(&mut conn)?
            };
            (id, log)
        };
        let intent_sync = log.map(|log| {
            let n = self.reads.log_syncs().written();
            self.sync_intent(log, n);
            n
        });
        crash_point!("tm_after_before_images");
        Ok(Some(Box::new(Op {
            tm: self,
            id,
            targets,
            capability: cap,
            params: intent.params.clone(),
            before: images,
            lock: {
                lock.starts_change();
                lock
            },
            intent: intent_sync,
            keeps: !irreversible && !super::settle::boot_id().is_empty(),
        })))
    }

    fn durable(&self, op: OpId) {
        self.wait_folders(op);
    }

    fn undo(&self, ws: &Workspace, req: UndoRequest) -> Result<Vec<OpInfo>, CapError> {
        let _lock = self.lock_for_change(ws)?;
        // What undo puts back is synced before its answer; what the changes it undoes
        // wrote goes to disk before it.
        self.settle.now_or_report();
        let undone = self.undo_locked(ws, req)?;
        self.op_info(&undone)
    }

    fn redo(&self, ws: &Workspace, steps: usize) -> Result<Vec<OpInfo>, CapError> {
        self.redo_of(ws, steps, None)
    }

    fn redo_of(
        &self,
        ws: &Workspace,
        steps: usize,
        principal: Option<&str>,
    ) -> Result<Vec<OpInfo>, CapError> {
        let _lock = self.lock_for_change(ws)?;
        self.settle.now_or_report();
        let redone = self.redo_locked(ws, steps, principal)?;
        self.op_info(&redone)
    }

    fn undoable(&self) -> Result<usize, CapError> {
        db::count_done(&self.conn()).map_err(state_err)
    }

    fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        self.history_of(None, limit)
    }

    fn history_of(&self, principal: Option<&str>, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        let ids = db::history(&self.conn(), limit, principal).map_err(state_err)?;
        self.op_info(&ids)
    }

    fn session_history(&self, session: &str, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        let ids = db::session_history(&self.conn(), session, limit).map_err(state_err)?;
        self.op_info(&ids)
    }

    fn sessions(&self) -> Result<Vec<SessionSummary>, CapError> {
        self.sessions_of(None)
    }

    fn sessions_of(&self, principal: Option<&str>) -> Result<Vec<SessionSummary>, CapError> {
        db::sessions(&self.conn(), principal).map_err(state_err)
    }

    fn principals(&self) -> Result<Vec<PrincipalSummary>, CapError> {
        db::principals(&self.conn()).map_err(state_err)
    }
}

impl JournalOp for Op<'_> {
    fn id(&self) -> OpId {
        self.id
    }

    fn keeps_content(&self) -> bool {
        self.keeps
    }

    fn before_change(&self) -> Result<(), CapError> {
        // Once a sync carried it, waiting returns at once.
        let Some(n) = self.intent else {
            return Ok(());
        };
        self.tm.reads.log_syncs().wait(n).map_err(|e| {
            CapError::execution(format!(
                "could not write the undo point to disk before the change: {e}; nothing was changed"
            ))
            .with_hint("check the state folder's disk (space, errors) and try again")
        })
    }

    fn finish(
        mut self: Box<Self>,
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
                db::settle(
                    &tm.conn(),
                    self.id,
                    OpState::Irreversible,
                    &summary,
                    &now(),
                    None,
                )
                .map_err(state_err)?;
            }
            self.lock.settled();
            return Ok(());
        }
        if outcome.is_err() {
            // A failed call leaves the workspace as it was.
            if tm.drift(ws, self.id, Phase::Before)?.is_some() {
                tm.put_back(ws, self.id, Phase::Before, &HashSet::new())?;
            }
            tm.forget(self.id)?;
            self.lock.settled();
            return Ok(());
        }
        let mut after = Vec::new();
        for t in &self.targets {
            match tm.snap(ws, t, true) {
                Ok(img) => after.push(img),
                Err(e) => {
                    // Without its after-image the change could not be redone: it is rolled
                    // back, so the failed call leaves the workspace as it was.
                    tm.put_back(ws, self.id, Phase::Before, &HashSet::new())?;
                    tm.forget(self.id)?;
                    self.lock.settled();
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
        // With its content kept, the change's files are synced once changes pause
        // (`settle`): its commit, synced before the answer, lists it as unsynced. Else the
        // folders it altered are synced while the change commits and its audit record is
        // written; the answer waits for them (`Journal::durable`).
        let altered = folders::altered(&self.before, &after);
        if self.keeps {
            tm.settle.note(ws, &altered);
        } else {
            tm.sync_folders(ws, self.id, &altered);
        }
        let unsynced = self.keeps.then(super::settle::boot_id);
        let summary = summary::line(self.capability, &self.params, &self.before, &after);
        let bytes = changed_bytes(&self.before, &after);
        let rows = tm.blobs.take_new();
        {
            let mut conn = tm.conn();
            // Not synced here: the audit record the pipeline writes before the answer
            // is, and a sync of the write-ahead log carries every commit before it (see
            // `TimeMachine::record`, which syncs the log itself should that record fail).
            // The small contents of the after-images go in the same transaction.
            let committed = db::unsynced(&mut conn, |c| {
                commit_done(c, self.id, &after, &rows, &summary, bytes, unsynced)
            })
            .and_then(|r| r);
            if let Err(e) = committed {
                drop(conn);
                // The change cannot be recorded (a full disk): it is rolled back, so the
                // failed call leaves the workspace as it was. Should forgetting the op
                // fail too, the next start finds it interrupted and rolls back again.
                tm.wait_folders(self.id);
                tm.put_back(ws, self.id, Phase::Before, &HashSet::new())?;
                let _ = tm.forget(self.id);
                self.lock.settled();
                let mut err = state_err(e);
                err.message.push_str("; the change was rolled back");
                return Err(err);
            }
        }
        crash_point!("tm_after_commit");
        if self.keeps {
            tm.settle.changed();
        }
        self.lock.settled();
        // gc claims the whole lock: this change's claim ends first.
        drop(self);
        tm.gc_if_over(bytes)
    }
}

impl TimeMachine {
    /// Claims a change's targets on the operation lock (the whole workspace for a change
    /// that runs programs, which may touch any file), and returns them: each undo target,
    /// or the first missing folder above it. What is missing may change while the claim
    /// waits: a claim that no longer covers the targets is made again.
    fn claim_targets<'a>(
        &'a self,
        ws: &Workspace,
        intent: &CallIntent<'_>,
    ) -> Result<(super::lock::OpLock<'a>, Vec<PathBuf>), CapError> {
        let whole = intent
            .capability
            .side_effects
            .iter()
            .any(|e| matches!(e, SideEffect::SystemExec | SideEffect::StateMutation));
        let mut targets = targets_of(ws, intent);
        let mut attempts = 0;
        loop {
            let scope = if whole || attempts >= 3 {
                Scope::All
            } else {
                Scope::paths(targets.clone())
            };
            let lock = self.claim(scope, Some(ws))?;
            let now = targets_of(ws, intent);
            if lock.scope().covers(&now) {
                return Ok((lock, now));
            }
            targets = now;
            attempts += 1;
        }
    }

    /// Removes an op that changed nothing (or whose change was rolled back).
    pub(super) fn forget(&self, id: OpId) -> Result<(), CapError> {
        db::forget(&self.conn(), id).map_err(state_err)
    }

    /// Moves an op to `state`; a terminal state is a journal commit (counted in the head,
    /// which the audit record that follows every change writes out).
    pub(super) fn set_state(&self, id: OpId, state: OpState) -> Result<(), CapError> {
        let terminal = !matches!(state, OpState::Undoing | OpState::Redoing);
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(state_err)?;
        db::set_state(&tx, id, state, &now()).map_err(state_err)?;
        if terminal {
            db::count_commit(&tx).map_err(state_err)?;
        }
        tx.commit().map_err(state_err)?;
        Ok(())
    }

    /// Restores every target of an op to one of its images, last target first.
    /// Files in `leave` (whose saved copies are lost) are left as they are.
    pub(super) fn put_back(
        &self,
        ws: &Workspace,
        id: OpId,
        phase: Phase,
        leave: &HashSet<String>,
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
        // The restored entries reach the disk with their folders' syncs.
        folders::sync_now(ws, &folders::restored(&images)).map_err(|e| {
            CapError::execution(format!("could not sync the restored folders to disk: {e}"))
        })
    }

    /// Where the current state differs from an op's images, the first such path.
    pub(super) fn drift(
        &self,
        ws: &Workspace,
        id: OpId,
        phase: Phase,
    ) -> Result<Option<String>, CapError> {
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

    /// The ops as history shows them.
    fn op_info(&self, ids: &[OpId]) -> Result<Vec<OpInfo>, CapError> {
        let conn = self.conn();
        let mut out = Vec::new();
        for id in ids {
            let (mut info, targets) = db::op_info(&conn, *id).map_err(state_err)?;
            // An operation still under way has its summary only at commit: say what it
            // is working on.
            if info.summary.is_empty() && info.state == OpState::Running {
                let targets: Vec<String> = serde_json::from_str(&targets).unwrap_or_default();
                info.summary = format!("in progress: {}", targets.join(", "));
            }
            out.push(info);
        }
        Ok(out)
    }
}

/// What an op costs to keep: the content that differs between its images (a snapshot of
/// a whole tree that changed one file costs that file, not the tree).
fn changed_bytes(before: &[Vec<Entry>], after: &[Vec<Entry>]) -> u64 {
    let pairs = |imgs: &[Vec<Entry>]| -> HashSet<(String, Option<String>)> {
        imgs.iter()
            .flatten()
            .map(|e| (e.path.clone(), e.blob.clone()))
            .collect()
    };
    let (in_before, in_after) = (pairs(before), pairs(after));
    let only_in = |imgs: &[Vec<Entry>], other: &HashSet<(String, Option<String>)>| -> u64 {
        imgs.iter()
            .flatten()
            .filter(|e| !other.contains(&(e.path.clone(), e.blob.clone())))
            .map(|e| e.size)
            .sum()
    };
    only_in(before, &in_after) + only_in(after, &in_before)
}

/// A change's targets: each undo target, or the first missing folder above it (once each).
fn targets_of(ws: &Workspace, intent: &CallIntent<'_>) -> Vec<PathBuf> {
    let mut targets: Vec<PathBuf> = Vec::new();
    for (_, r) in &intent.undo_targets {
        let t = topmost_missing(ws, r);
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    targets
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

/// Commits a finished change: its after-images, the small contents they bring (`rows`)
/// and its `done` state, in one transaction; with `unsynced` (this boot's id), the change
/// is listed as one whose files are not synced yet (see [`super::settle`]).
fn commit_done(
    conn: &mut Connection,
    id: OpId,
    after: &[Vec<Entry>],
    rows: &[(String, Vec<u8>)],
    summary: &str,
    bytes: u64,
    unsynced: Option<&str>,
) -> rusqlite::Result<()> {
    // Tests make the commit fail as on a full disk.
    fail::fail_point!("tm_commit_fails", |_| Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("database or disk is full".into())
    )));
    let tx = conn.transaction()?;
    db::put_blobs(&tx, rows)?;
    for (i, img) in after.iter().enumerate() {
        db::put_image(&tx, id, Phase::After, i, img)?;
    }
    db::settle(&tx, id, OpState::Done, summary, &now(), Some(bytes))?;
    if let Some(boot) = unsynced {
        db::add_unsynced(&tx, id, boot, std::process::id())?;
    }
    db::count_commit(&tx)?;
    tx.commit()
}

/// Records a change's intent, its before-images and the small contents they bring
/// (`rows`) in one transaction; returns its op id.
fn write_intent(
    conn: &mut Connection,
    cap: &crate::Capability,
    intent: &CallIntent<'_>,
    irreversible: bool,
    targets: &[PathBuf],
    images: &[Vec<Entry>],
    rows: &[(String, Vec<u8>)],
) -> Result<OpId, CapError> {
    let tx = conn.transaction().map_err(state_err)?;
    db::put_blobs(&tx, rows).map_err(state_err)?;
    let state = if irreversible {
        OpState::Irreversible
    } else {
        OpState::Running
    };
    let targets = serde_json::to_string(targets).unwrap_or_default();
    let params = intent.params.to_string();
    let id = db::insert_op(
        &tx,
        &db::NewOp {
            started: &now(),
            capability: cap.id,
            params: &params,
            state,
            targets: &targets,
            session: intent.session,
            principal: intent.principal,
        },
    )
    .map_err(state_err)?;
    for (i, img) in images.iter().enumerate() {
        db::put_image(&tx, id, Phase::Before, i, img).map_err(state_err)?;
    }
    // Tests make the intent fail as on a full disk, its rows written but not committed.
    fail::fail_point!("tm_intent_fails", |_| Err(state_err(
        "database or disk is full"
    )));
    tx.commit().map_err(state_err)?;
    Ok(id)
}

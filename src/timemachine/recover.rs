//! Crash recovery: calls a crash interrupted between intent and commit are rolled back to
//! their before-images, undos and redos a crash interrupted are finished, changes whose
//! files a power cut kept from the disk are finished from their after-images, and an op whose
//! saved copies are lost ends as `damaged` instead of blocking every later start.

use super::blobs::BlobProblem;
use super::db::{self, Phase};
use super::{TimeMachine, folders, image, now, settle, state_err};
use crate::error::CapError;
use crate::fsutil::temp_name;
use crate::hooks::OpId;
use crate::sandbox::Workspace;
use crate::types::OpState;
use std::collections::{HashMap, HashSet};
use std::path::Path;

impl TimeMachine {
    /// Finds calls interrupted by a crash and puts their before-images back; finishes
    /// interrupted undos and redos. The caller holds the operation lock, so whatever is
    /// still in progress was left by a process that died, perhaps after this one opened
    /// the state (another airun beside a long-running server). Partly written blobs are
    /// removed when `sweep` is set (on opening) or anything was interrupted; others a
    /// killed process left meanwhile wait for the next start or `gc`.
    pub(super) fn recover_locked(&self, ws: &Workspace, sweep: bool) -> Result<(), CapError> {
        if sweep {
            self.finish_unsynced(ws)?;
        }
        let unsettled = db::unsettled(&self.conn()).map_err(state_err)?;
        if sweep || !unsettled.is_empty() {
            // No call is writing a blob now: any temp left is a killed writer's.
            self.blobs.sweep_temps().map_err(state_err)?;
        }
        for (id, state) in unsettled {
            let (phase, end) = match state {
                // The intent was recorded but the handler never started.
                OpState::Pending => {
                    self.forget(id)?;
                    continue;
                }
                OpState::Running => (Phase::Before, OpState::Interrupted),
                OpState::Undoing => (Phase::Before, OpState::Undone),
                _ => (Phase::After, OpState::Done),
            };
            if let Err(e) = self.put_back(ws, id, phase, &HashSet::new()) {
                // A lost or damaged saved copy: the op cannot be finished, and trying
                // again on every start would lock the state up. Everything else is put
                // back, and the op ends as `damaged`.
                let lost = self.lost_files(id, phase)?;
                let leave: HashSet<String> = lost.iter().map(|(p, _)| p.clone()).collect();
                let why = match self.put_back(ws, id, phase, &leave) {
                    Ok(()) if !lost.is_empty() => not_restored(&lost),
                    Ok(()) => e.message,
                    Err(again) => again.message,
                };
                self.mark_damaged(id, state, &why)?;
                continue;
            }
            self.remove_stray_temps(ws, id)?;
            self.set_state(id, end)?;
            if end == OpState::Interrupted {
                self.record_interrupted(id)?;
            }
        }
        Ok(())
    }

    /// Settles the changes whose files were listed as unsynced (see [`super::settle`])
    /// when their process ended. Listed in an earlier boot, a done change's files may have
    /// missed the disk in a power cut: its after-images are put back (synced), oldest
    /// change first, unless a later change's files are known to be on disk (it, or
    /// whatever else changed them since, would be overwritten). Listed in this boot, the
    /// files are in the system's cache: one sync of each file system they are on takes
    /// them to disk.
    fn finish_unsynced(&self, ws: &Workspace) -> Result<(), CapError> {
        let listed = db::unsynced_changes(&self.conn()).map_err(state_err)?;
        if listed.is_empty() {
            return Ok(());
        }
        let boot = settle::boot_id();
        for change in listed.iter().filter(|c| c.boot != boot) {
            if change.state != Some(OpState::Done) {
                continue;
            }
            if change.superseded {
                tracing::warn!(
                    op = change.op,
                    "a change after operation {} is on disk: its files are left as they are",
                    change.op
                );
                continue;
            }
            tracing::info!(
                op = change.op,
                "finishing operation {} from the journal",
                change.op
            );
            if let Err(e) = self.put_back(ws, change.op, Phase::After, &HashSet::new()) {
                // Its answer went out: the op stays done, what could be put back is.
                eprintln!(
                    "airun: operation {} could not be finished from the journal after a restart: {}",
                    change.op, e.message
                );
                tracing::error!(op = change.op, error = %e.message, "cannot finish an operation");
                continue;
            }
            self.remove_stray_temps(ws, change.op)?;
        }
        let this_boot = listed.iter().filter(|c| c.boot == boot).map(|c| c.op);
        self.sync_file_systems_of(ws, this_boot).map_err(|e| {
            CapError::execution(format!(
                "could not sync the files earlier changes wrote to disk: {e}"
            ))
        })?;
        let ops: Vec<OpId> = listed.iter().map(|c| c.op).collect();
        db::remove_unsynced(&self.conn(), &ops).map_err(state_err)
    }

    /// Syncs once each file system the folders changes `ops` altered are on (the
    /// workspace's, and any mounted inside it), when there are any.
    fn sync_file_systems_of(
        &self,
        ws: &Workspace,
        ops: impl Iterator<Item = OpId>,
    ) -> std::io::Result<()> {
        let mut file_systems = HashMap::new();
        for op in ops {
            let images = |phase| db::images(&self.conn(), op, phase);
            let altered = match (images(Phase::Before), images(Phase::After)) {
                (Ok(before), Ok(after)) => folders::altered(&before, &after),
                _ => Vec::new(),
            };
            settle::file_systems(ws, &altered, &mut file_systems)?;
        }
        file_systems
            .values()
            .try_for_each(|fs| settle::sync_file_system(fs))
    }

    /// Ends an op whose images cannot be put back in the terminal state `damaged`, with
    /// the reason in its summary and an audit record, so later commands work.
    pub(super) fn mark_damaged(&self, id: OpId, was: OpState, why: &str) -> Result<(), CapError> {
        tracing::warn!(op = id, error = why, "operation {id} could not be restored");
        eprintln!(
            "airun: operation {id} ({was}) could not be restored and is marked damaged: {why}"
        );
        let row = db::op_row(&self.conn(), id).map_err(state_err)?;
        let summary = format!("{} (damaged while {was}: {why})", row.summary);
        {
            let mut conn = self.conn();
            let tx = conn.transaction().map_err(state_err)?;
            db::settle(
                &tx,
                id,
                OpState::Damaged,
                summary.trim_start(),
                &now(),
                None,
            )
            .map_err(state_err)?;
            db::count_commit(&tx).map_err(state_err)?;
            tx.commit().map_err(state_err)?;
        }
        self.record_recovered(&row, "damaged", id)
    }

    /// Gives an interrupted op its summary and its audit record: the call never finished,
    /// so neither was written.
    fn record_interrupted(&self, id: OpId) -> Result<(), CapError> {
        let row = db::op_row(&self.conn(), id).map_err(state_err)?;
        let targets: Vec<String> = serde_json::from_str(&row.targets).unwrap_or_default();
        let verb = row
            .capability
            .rsplit('.')
            .next()
            .unwrap_or(&row.capability)
            .replace('_', " ");
        let summary = format!("{verb} {} (interrupted, rolled back)", targets.join(", "));
        db::set_summary(&self.conn(), id, &summary).map_err(state_err)?;
        self.record_recovered(&row, "interrupted", id)
    }

    /// The files of an op's images whose saved copies are missing or damaged, with what
    /// is wrong (each blob is read and hashed once).
    pub(super) fn lost_files(
        &self,
        id: OpId,
        phase: Phase,
    ) -> Result<Vec<(String, BlobProblem)>, CapError> {
        let images = db::images(&self.conn(), id, phase).map_err(state_err)?;
        let mut checked: HashMap<String, Result<(), BlobProblem>> = HashMap::new();
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

    /// Removes the temporary files a killed call can leave next to its targets (a write's,
    /// a copy's or a restore's). They lie beside the target, outside its image, so putting
    /// the image back leaves them. Runs under the operation lock, so no other call is
    /// writing one.
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
            let Ok(entries) = ws.dir().read_dir(parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let n = file_name.to_string_lossy();
                if temp_name::is_temp_of(&n, &name) {
                    ws.dir().remove_file(parent.join(&file_name)).map_err(|e| {
                        CapError::execution(format!("could not remove the leftover `{n}`: {e}"))
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// What a partial restore left out.
pub(super) fn not_restored(lost: &[(String, BlobProblem)]) -> String {
    let files: Vec<String> = lost
        .iter()
        .map(|(p, why)| format!("`{p}` ({why})"))
        .collect();
    format!("partly restored; not restored: {}", files.join(", "))
}

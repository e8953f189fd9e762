//! Undo and redo: an op's before- or after-images put back, refused when the files
//! changed since (unless forced) or when saved copies are lost, and settled so a failed
//! attempt leaves the workspace as before it.

use super::blobs::BlobProblem;
use super::db::{self, Phase};
use super::recover::not_restored;
use super::{TimeMachine, state_err};
use crate::error::{CapError, ErrorKind};
use crate::failpoint::crash_point;
use crate::hooks::{OpId, UndoRequest};
use crate::sandbox::Workspace;
use crate::types::OpState;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

impl TimeMachine {
    /// Undoes what `req` asks for, newest first, under the operation lock the caller
    /// holds; returns the ops undone.
    pub(super) fn undo_locked(
        &self,
        ws: &Workspace,
        req: UndoRequest,
    ) -> Result<Vec<OpId>, CapError> {
        let principal = req.principal.as_deref();
        let ids = match (&req.session, req.to) {
            (Some(session), to) => {
                if !db::session_known(&self.conn(), session).map_err(state_err)? {
                    return Err(CapError::new(
                        ErrorKind::NotFound,
                        format!("there is no session `{session}` in this workspace's history"),
                    )
                    .with_hint("`airun history --sessions` lists the sessions and their ids"));
                }
                db::session_done(&self.conn(), session, to, principal)
            }
            (None, Some(to)) => db::done_since(&self.conn(), to, principal),
            (None, None) => db::newest_done(&self.conn(), req.steps.max(1), principal),
        }
        .map_err(state_err)?;
        let retry = retry_command(&req);
        let mut undone = Vec::new();
        for id in ids {
            if !req.force
                && let Some(path) = self.drift(ws, id, Phase::After)?
            {
                let by = match self.later_change(id, &path)? {
                    Some((op, who)) => format!(" (by operation {op} of {who})"),
                    None => String::new(),
                };
                let msg = format!(
                    "`{path}` changed after operation {id}{by}; undoing it would overwrite that change"
                );
                let err = CapError::new(ErrorKind::Execution, msg).with_hint(format!(
                    "look at the file, then run `{retry}` to restore it anyway"
                ));
                return Err(after_undone(err, &undone));
            }
            let lost = self.lost_files(id, Phase::Before)?;
            if !lost.is_empty() && !req.force {
                let err = lost_error(id, "undone", &lost).with_hint(format!(
                    "run `{retry}` to restore everything else and leave these files as they are now"
                ));
                return Err(after_undone(err, &undone));
            }
            let leave: HashSet<String> = lost.iter().map(|(p, _)| p.clone()).collect();
            self.set_state(id, OpState::Undoing)?;
            crash_point!("tm_undo_before_restore");
            if let Err(e) = self.put_back(ws, id, Phase::Before, &leave) {
                self.settle_failed(
                    ws,
                    id,
                    Phase::After,
                    OpState::Done,
                    OpState::Undoing,
                    &e.message,
                )?;
                return Err(e);
            }
            if lost.is_empty() {
                self.set_state(id, OpState::Undone)?;
            } else {
                self.mark_damaged(id, OpState::Undoing, &not_restored(&lost))?;
            }
            undone.push(id);
        }
        Ok(undone)
    }

    /// Redoes up to `steps` undone ops, oldest first, under the operation lock the caller
    /// holds; returns the ops redone.
    pub(super) fn redo_locked(
        &self,
        ws: &Workspace,
        steps: usize,
        principal: Option<&str>,
    ) -> Result<Vec<OpId>, CapError> {
        let ids = db::redoable(&self.conn(), steps.max(1), principal).map_err(state_err)?;
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
            self.set_state(id, OpState::Redoing)?;
            if let Err(e) = self.put_back(ws, id, Phase::After, &HashSet::new()) {
                self.settle_failed(
                    ws,
                    id,
                    Phase::Before,
                    OpState::Undone,
                    OpState::Redoing,
                    &e.message,
                )?;
                return Err(e);
            }
            self.set_state(id, OpState::Done)?;
            redone.push(id);
        }
        Ok(redone)
    }

    /// The newest later operation whose change stands and whose undo targets hold `path`
    /// (a workspace-relative path): its id and who made it. In a shared workspace, whose
    /// change an undo of `id` would overwrite.
    fn later_change(&self, id: OpId, path: &str) -> Result<Option<(OpId, String)>, CapError> {
        let path = Path::new(path);
        let later = db::standing_after(&self.conn(), id).map_err(state_err)?;
        Ok(later.into_iter().find_map(|(op, who, targets)| {
            let targets: Vec<PathBuf> = serde_json::from_str(&targets).unwrap_or_default();
            targets
                .iter()
                .any(|t| {
                    t.as_os_str().is_empty()
                        || t == Path::new(".")
                        || path.starts_with(t)
                        || t.starts_with(path)
                })
                .then_some((op, who))
        }))
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
        from_state: OpState,
        was: OpState,
        why: &str,
    ) -> Result<(), CapError> {
        match self.put_back(ws, id, from, &HashSet::new()) {
            Ok(()) => self.set_state(id, from_state),
            Err(e) => self.mark_damaged(
                id,
                was,
                &format!("{why}; putting it back failed too: {}", e.message),
            ),
        }
    }
}

/// The command that retries an undo with force, for the refusals' hints.
fn retry_command(req: &UndoRequest) -> String {
    let mut retry = "airun undo".to_string();
    if let Some(principal) = &req.principal {
        retry.push_str(&format!(" --user {principal}"));
    }
    if let Some(session) = &req.session {
        retry.push_str(&format!(" --session {session}"));
    }
    retry + " --force"
}

/// Adds to an undo's refusal which newer operations it had already undone.
fn after_undone(mut err: CapError, undone: &[OpId]) -> CapError {
    if !undone.is_empty() {
        let ids: Vec<String> = undone.iter().map(|id| id.to_string()).collect();
        err.message.push_str(&format!(
            " ({} newer operation(s) were undone first: {})",
            undone.len(),
            ids.join(", ")
        ));
    }
    err
}

/// The refusal to undo or redo an op some of whose saved copies are lost.
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

//! The locks of a state folder: files locked exclusively, held across processes. The
//! operation lock orders mutating calls, undos and redos; `init.lock` orders setting the
//! database up; `head.lock` orders writes of the head file.

use super::{TimeMachine, state_err};
use crate::error::CapError;
use crate::sandbox::Workspace;
use std::fs::File;
use std::path::Path;
use std::sync::MutexGuard;

/// Opens (creating it when missing) a file of the state folder used only as a lock.
pub(super) fn lock_file(path: &Path) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// [`lock_file`], locked exclusively (blocks while another process holds it).
pub(super) fn locked_file(path: &Path) -> std::io::Result<File> {
    let f = lock_file(path)?;
    f.lock()?;
    Ok(f)
}

/// The workspace's operation lock, held: the file lock (across processes) on the state
/// folder's `lock` file, opened once per time machine, and the mutex that orders this
/// process's threads (a file lock is shared by everything using the same open file).
pub(super) struct OpLock<'a> {
    file: MutexGuard<'a, File>,
}

impl Drop for OpLock<'_> {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl TimeMachine {
    fn op_file(&self) -> MutexGuard<'_, File> {
        self.op_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the workspace's operation lock if no other call holds it.
    pub(super) fn try_lock(&self) -> Result<Option<OpLock<'_>>, CapError> {
        let file = match self.op_lock.try_lock() {
            Ok(f) => f,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
        };
        match file.try_lock() {
            Ok(()) => Ok(Some(OpLock { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(state_err(e)),
        }
    }

    /// Takes the workspace's operation lock (blocks while another call holds it).
    pub(super) fn lock(&self) -> Result<OpLock<'_>, CapError> {
        let file = self.op_file();
        file.lock().map_err(state_err)?;
        Ok(OpLock { file })
    }

    /// Takes the operation lock for a change, undo or redo, and rolls back calls a crash
    /// interrupted. Read records still queued need not be written first: every record
    /// goes through one queue, so they reach the log ahead of the change's record.
    pub(super) fn lock_for_change(&self, ws: &Workspace) -> Result<OpLock<'_>, CapError> {
        let lock = self.lock()?;
        self.recover_locked(ws, false)?;
        Ok(lock)
    }
}

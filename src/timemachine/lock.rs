//! The locks of a state folder: files locked exclusively, held across processes. The
//! operation lock orders mutating calls, undos and redos; `init.lock` orders setting the
//! database up; `head.lock` orders writes of the head file.

use super::{TimeMachine, state_err};
use crate::error::CapError;
use crate::sandbox::Workspace;
use std::fs::File;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

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

/// The workspace's operation lock: the state folder's `lock` file, opened once per time
/// machine and locked exclusively (across processes) by the holder, and a queue that
/// hands it to this process's threads in the order they asked (a file lock is shared by
/// everything using the same open file, and wakes waiters in no order: under load, a
/// change could wait behind dozens that asked after it).
#[derive(Debug)]
pub(super) struct OpLockFile {
    file: File,
    /// (tickets handed out, ticket being served).
    queue: Mutex<(u64, u64)>,
    turn: Condvar,
}

impl OpLockFile {
    /// The operation lock of the state folder `dir`.
    pub(super) fn open(dir: &Path) -> std::io::Result<OpLockFile> {
        Ok(OpLockFile {
            file: lock_file(&dir.join("lock"))?,
            queue: Mutex::new((0, 0)),
            turn: Condvar::new(),
        })
    }

    fn queue(&self) -> MutexGuard<'_, (u64, u64)> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends this thread's turn, letting the next in line go.
    fn next_turn(&self) {
        self.queue().1 += 1;
        self.turn.notify_all();
    }
}

/// The operation lock, held.
pub(super) struct OpLock<'a> {
    of: &'a OpLockFile,
}

impl Drop for OpLock<'_> {
    fn drop(&mut self) {
        let _ = self.of.file.unlock();
        self.of.next_turn();
    }
}

impl TimeMachine {
    /// Takes the workspace's operation lock if no other call holds it.
    pub(super) fn try_lock(&self) -> Result<Option<OpLock<'_>>, CapError> {
        let of = &self.op_lock;
        {
            let mut q = of.queue();
            if q.0 != q.1 {
                return Ok(None);
            }
            q.0 += 1;
        }
        match of.file.try_lock() {
            Ok(()) => Ok(Some(OpLock { of })),
            Err(e) => {
                of.next_turn();
                match e {
                    std::fs::TryLockError::WouldBlock => Ok(None),
                    std::fs::TryLockError::Error(e) => Err(state_err(e)),
                }
            }
        }
    }

    /// Takes the workspace's operation lock (waits while another call holds it; this
    /// process's calls get it in the order they asked).
    pub(super) fn lock(&self) -> Result<OpLock<'_>, CapError> {
        let of = &self.op_lock;
        {
            let mut q = of.queue();
            let mine = q.0;
            q.0 += 1;
            while q.1 != mine {
                q = of.turn.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        }
        if let Err(e) = of.file.lock() {
            of.next_turn();
            return Err(state_err(e));
        }
        Ok(OpLock { of })
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

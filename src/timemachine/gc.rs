//! Retention: the oldest undo points expire once the journal keeps more operations or
//! bytes than the operator's limits, and blobs no image refers to are removed. The audit
//! log is never trimmed.

use super::{TimeMachine, db, state_err, stray};
use crate::error::CapError;

/// Size past which a server empties the write-ahead log after opening the database.
pub const WAL_TRIM_BYTES: u64 = 1 << 20;

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

impl TimeMachine {
    /// Moves the write-ahead log into the database and empties it when it has grown past
    /// [`WAL_TRIM_BYTES`]: every process that opens the database reads the whole log
    /// first. Servers do this in the background after opening.
    pub fn trim_wal(&self) -> Result<(), CapError> {
        let wal = self.dir.join("airun.db-wal");
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size > WAL_TRIM_BYTES {
            db::checkpoint_wal(&self.conn()).map_err(state_err)?;
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

    /// Runs [`gc`](Self::gc)'s work (under the operation lock the caller holds) when the
    /// journal is over a retention limit.
    pub(super) fn gc_if_over(&self) -> Result<(), CapError> {
        let over = db::over_limits(
            &self.conn(),
            self.retention.max_ops,
            self.retention.max_bytes,
        )
        .map_err(state_err)?;
        if over {
            self.gc_locked()?;
        }
        Ok(())
    }

    fn gc_locked(&self) -> Result<GcReport, CapError> {
        let mut report = GcReport {
            removed_temps: self.blobs.sweep_temps().map_err(state_err)?,
            ..GcReport::default()
        };
        let kept = db::kept_ops(&self.conn()).map_err(state_err)?;
        let mut count = kept.len();
        let mut bytes: u64 = kept.iter().map(|(_, b)| *b).sum();
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
            db::expire(&self.conn(), *id).map_err(state_err)?;
            count -= 1;
            bytes = bytes.saturating_sub(*b);
            report.expired_ops += 1;
        }
        let referenced = db::referenced_blobs(&self.conn()).map_err(state_err)?;
        for blob in self.blobs.list().map_err(state_err)? {
            if !referenced.contains(&blob) {
                self.blobs.remove(&blob).map_err(state_err)?;
                report.removed_blobs += 1;
            }
        }
        Ok(report)
    }
}

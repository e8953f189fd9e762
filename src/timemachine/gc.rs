//! Retention: the oldest undo points expire once the journal keeps more operations or
//! bytes than the operator's limits, and blobs no image refers to are removed (by `gc`,
//! and after every few expiries when the operation lock is next taken whole). The audit
//! log is never trimmed.

use super::lock::Scope;
use super::{TimeMachine, db, state_err, stray};
use crate::error::CapError;
use std::sync::atomic::Ordering;

/// Size past which a server empties the write-ahead log after opening the database.
pub const WAL_TRIM_BYTES: u64 = 1 << 20;

/// Changes after which the journal's totals are counted again (see
/// [`TimeMachine::gc_if_over`]).
pub const RECOUNT_EVERY: u32 = 32;

/// Undo points expired per transaction off the answer's path (see
/// [`TimeMachine::retain`]).
pub const EXPIRE_STEP: usize = 16;

/// Pause between two such transactions.
const STEP_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// Expiries of undo points (each trimming a tenth of the limit) after which the blobs they
/// left are removed (see [`TimeMachine::sweep_if_due`]).
pub const SWEEP_EVERY: u32 = 4;

/// What the journal keeps, as last counted and estimated since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    ops: usize,
    bytes: u64,
    /// Changes this process made since the count.
    changes: u32,
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

    /// Runs [`gc`](Self::gc)'s work when the journal is over a retention limit, after a
    /// change that keeps `bytes`; it claims the whole operation lock, so the caller must
    /// not hold any claim.
    ///
    /// Counting what the journal keeps reads every op holding an undo point, so it is not
    /// done after every change: the totals last counted, plus what this process's changes
    /// added since, are an estimate; the journal is counted again once that estimate
    /// passes a limit or [`RECOUNT_EVERY`] changes after the last count (other processes
    /// add changes this one does not see). Expiring leaves the journal a tenth below the
    /// limit, where a long-running server then stays: counting there on every change
    /// would read a thousand ops per change while holding the database.
    pub(super) fn gc_if_over(&self, bytes: u64) -> Result<(), CapError> {
        if !self.count_due(bytes) {
            return Ok(());
        }
        if self.housekeeping.call() {
            return Ok(());
        }
        self.retain()
    }

    /// Adds a change of `bytes` to the estimate of what the journal keeps; true when the
    /// journal is to be counted (see [`gc_if_over`](Self::gc_if_over)).
    fn count_due(&self, bytes: u64) -> bool {
        let r = &self.retention;
        let mut est = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let Some(k) = est.as_mut() else {
            return true;
        };
        k.ops += 1;
        k.bytes = k.bytes.saturating_add(bytes);
        k.changes += 1;
        k.ops > r.max_ops || k.bytes > r.max_bytes || k.changes >= RECOUNT_EVERY
    }

    /// Counts what the journal keeps and, when that is over a retention limit, expires
    /// the oldest undo points. It claims the operation lock (no path), so the caller must
    /// not hold any claim.
    pub(super) fn retain(&self) -> Result<(), CapError> {
        let r = &self.retention;
        let mut est = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        self.counts.fetch_add(1, Ordering::Relaxed);
        let (ops, kept) = db::kept_totals(&self.conn()).map_err(state_err)?;
        if ops > r.max_ops || kept > r.max_bytes {
            // Expiring undo points changes only the journal's rows: it runs beside
            // changes under way (a claim on no path waits only for undo, redo and gc).
            // Removing the blobs they leave needs the whole lock: it is done now and then,
            // when the lock is next taken with no change under way.
            *est = None;
            drop(est);
            let _claim = self.claim(Scope::Paths(Vec::new()), None)?;
            if self.housekeeping.is_on() {
                // Off the answer's path: in small transactions, so a change waits for
                // the database at most one of them, then synced before any sweep.
                self.expire_over(EXPIRE_STEP, false)?;
                self.sync_log();
            } else {
                self.expire_over(usize::MAX, true)?;
            }
            self.sweeps_due.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        *est = Some(Kept {
            ops,
            bytes: kept,
            changes: 0,
        });
        Ok(())
    }

    fn gc_locked(&self) -> Result<GcReport, CapError> {
        let removed_temps = self.blobs.sweep_temps().map_err(state_err)?;
        let expired_ops = self.expire_over(usize::MAX, true)?;
        self.sweeps_due.store(0, Ordering::Relaxed);
        Ok(GcReport {
            removed_temps,
            expired_ops,
            removed_blobs: self.sweep_blobs()?,
            ..GcReport::default()
        })
    }

    /// Expires the oldest undo points beyond the retention limits (once over a limit, a
    /// tenth below it, so this runs now and then rather than on every call), `step` of
    /// them per transaction; commits are `synced` or left to the log's next sync. Returns
    /// how many expired.
    fn expire_over(&self, step: usize, synced: bool) -> Result<usize, CapError> {
        let kept = db::kept_ops(&self.conn()).map_err(state_err)?;
        let mut count = kept.len();
        let mut bytes: u64 = kept.iter().map(|(_, b)| *b).sum();
        let over = count > self.retention.max_ops || bytes > self.retention.max_bytes;
        let (max_ops, max_bytes) = if over {
            (
                self.retention.max_ops - self.retention.max_ops / 10,
                self.retention.max_bytes - self.retention.max_bytes / 10,
            )
        } else {
            (self.retention.max_ops, self.retention.max_bytes)
        };
        let mut expiring = Vec::new();
        for (id, b) in &kept {
            if count <= max_ops && bytes <= max_bytes {
                break;
            }
            expiring.push(*id);
            count -= 1;
            bytes = bytes.saturating_sub(*b);
        }
        for (n, ids) in expiring.chunks(step.max(1)).enumerate() {
            if n > 0 {
                // Lets a change waiting for the database take it between two steps.
                std::thread::sleep(STEP_PAUSE);
            }
            let mut conn = self.conn();
            let expire = |c: &mut rusqlite::Connection| -> rusqlite::Result<()> {
                let tx = c.transaction()?;
                for id in ids {
                    db::expire(&tx, *id)?;
                }
                tx.commit()
            };
            if synced {
                expire(&mut conn)
            } else {
                db::unsynced(&mut conn, expire).and_then(|r| r)
            }
            .map_err(state_err)?;
        }
        Ok(expiring.len())
    }

    /// Removes the blobs no image refers to: rows in one statement, then files. Only
    /// under the whole operation lock (a change under way may have written blobs its
    /// images do not yet refer to). Returns how many were removed.
    fn sweep_blobs(&self) -> Result<usize, CapError> {
        let mut removed = db::remove_unreferenced_blobs(&self.conn()).map_err(state_err)?;
        let referenced = db::referenced_blobs(&self.conn()).map_err(state_err)?;
        for blob in self.blobs.list_files().map_err(state_err)? {
            if !referenced.contains(&blob) {
                self.blobs.remove(&blob).map_err(state_err)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the blobs expired undo points left, once [`SWEEP_EVERY`] expiries are
    /// due; called when the operation lock is taken with no change of this process under
    /// way. A failure is logged: the blobs are removed at the next sweep or `gc`.
    pub(super) fn sweep_if_due(&self) {
        if self.sweeps_due.load(Ordering::Relaxed) < SWEEP_EVERY {
            return;
        }
        self.sweeps_due.store(0, Ordering::Relaxed);
        if let Err(e) = self.sweep_blobs() {
            tracing::warn!(error = %e.message, "cannot remove the blobs of expired undo points");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RECOUNT_EVERY;
    use crate::timemachine::{Retention, TimeMachine};
    use std::sync::atomic::Ordering;

    fn change(tm: &TimeMachine, bytes: u64) {
        crate::timemachine::test_change(tm, bytes);
    }

    #[test]
    fn at_the_limit_the_journal_is_counted_now_and_then_not_on_every_change() {
        let (_tmp, _ws, tm) = crate::timemachine::test_machine(Retention {
            max_ops: 100,
            max_bytes: 1 << 30,
        });
        let undoable = |tm: &TimeMachine| crate::hooks::Journal::undoable(tm).unwrap();
        for _ in 0..100 {
            change(&tm, 10);
        }
        assert_eq!(undoable(&tm), 100);
        // Past the limit: the oldest tenth expires, and the journal stays under the limit
        // from then on.
        let before = tm.counts.load(Ordering::Relaxed);
        for n in 0..300 {
            change(&tm, 10);
            assert!(
                undoable(&tm) <= 100,
                "over the limit after {n} more changes"
            );
        }
        assert!(undoable(&tm) >= 90);
        let counts = tm.counts.load(Ordering::Relaxed) - before;
        // A count every RECOUNT_EVERY changes, and two for each expiry (once past the
        // limit, once after it; an expiry every tenth of the limit), not one per change.
        assert!(
            counts as usize <= 300 / RECOUNT_EVERY as usize + 2 * 300 / 10 + 2,
            "the journal was counted {counts} times in 300 changes"
        );
    }
}

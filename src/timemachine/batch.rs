//! Audit records of local reads, written in batches.
//!
//! A record costs one SQLite transaction; an agent reading many small files would spend
//! most of each call on it. Records of calls that succeeded and could only read local
//! files or facts are queued (before their answer goes out, so a later call's record can
//! never be written ahead of them) and written together on a thread of their own: when
//! [`MAX_PENDING`] are queued,
//! [`MAX_DELAY`] after the first one, before any other record (so the log keeps the
//! order calls finished in), before a change starts, before the log is read, and when
//! the time machine closes. A refused, failed, mutating, networked or executing call is
//! never queued: its record is written before its answer.

use super::audit::{self, Record};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most records kept queued; the one that fills the queue writes it.
pub const MAX_PENDING: usize = 16;
/// Longest a queued record waits for its batch.
pub const MAX_DELAY: Duration = Duration::from_millis(100);

struct Shared {
    conn: Arc<Mutex<Connection>>,
    /// Held while records are written, so batches reach the log in the order they were
    /// taken from the queue; the queue itself is only held to push or take, never while
    /// writing, so a call queueing its record never waits for the disk.
    order: Mutex<()>,
    pending: Mutex<Vec<Record>>,
    wake: Condvar,
    closed: AtomicBool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Vec<Record>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a batch of records (the caller holds `order`, so nothing jumps ahead).
    /// A batch of read records only (`durable` false) is committed without a sync and
    /// leaves the head file to the next change: a power cut may lose such records, as a
    /// kill may lose the queued ones, never an answered change's.
    fn write(&self, pending: &mut Vec<Record>, durable: bool) -> rusqlite::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if durable {
            return self.append(&mut conn, pending, true);
        }
        super::db::unsynced(&mut conn, |c| self.append(c, pending, false))?
    }

    /// Appends `pending`, into the reserved space when the disk is full.
    fn append(
        &self,
        conn: &mut Connection,
        pending: &mut Vec<Record>,
        publish: bool,
    ) -> rusqlite::Result<()> {
        let mut written = audit::append_records(conn, pending, publish);
        // A full disk: give up the reserved space and write the records into it.
        if let Err(e) = &written
            && super::reserve::is_full(e)
            && let Some(dir) = conn
                .path()
                .map(|p| std::path::Path::new(p).with_file_name(""))
            && super::reserve::release(&dir)
        {
            tracing::warn!("the disk is full: writing the audit log into the reserved space");
            written = audit::append_records(conn, pending, publish);
        }
        pending.clear();
        written
    }

    /// Takes every queued record, adds `extra`, and writes them, in the order batches
    /// were taken.
    fn flush(&self, extra: Option<Record>) -> rusqlite::Result<()> {
        let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let durable = extra.is_some();
        let mut batch = {
            let mut pending = self.pending();
            pending.extend(extra);
            std::mem::take(&mut *pending)
        };
        self.write(&mut batch, durable)
    }

    fn flusher(&self) {
        loop {
            let mut pending = self.pending();
            if pending.is_empty() {
                if self.closed.load(Ordering::Acquire) {
                    return;
                }
                drop(self.wake.wait(pending).unwrap_or_else(|p| p.into_inner()));
                continue;
            }
            if !self.closed.load(Ordering::Acquire) && pending.len() < MAX_PENDING {
                pending = self
                    .wake
                    .wait_timeout(pending, MAX_DELAY)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            drop(pending);
            if let Err(e) = self.flush(None) {
                report(&e);
            }
        }
    }
}

fn report(e: &rusqlite::Error) {
    eprintln!("airun: could not write the audit records: {e}");
}

/// The queue of read records of one time machine.
pub struct ReadBatch {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl ReadBatch {
    /// A queue writing through `conn`.
    pub fn new(conn: Arc<Mutex<Connection>>) -> Self {
        ReadBatch {
            shared: Arc::new(Shared {
                conn,
                order: Mutex::new(()),
                pending: Mutex::new(Vec::new()),
                wake: Condvar::new(),
                closed: AtomicBool::new(false),
            }),
            flusher: Mutex::new(None),
        }
    }

    /// Queues the record of a local read (never writes, so a caller can queue it before
    /// its answer goes out); a full batch wakes the writer thread at once.
    pub fn push(&self, record: Record) {
        let mut pending = self.shared.pending();
        pending.push(record);
        let first = pending.len() == 1;
        let full = pending.len() >= MAX_PENDING;
        drop(pending);
        if first {
            self.start_flusher();
        }
        if first || full {
            self.shared.wake.notify_one();
        }
    }

    /// Writes the queued records and then `record`, in one transaction.
    pub fn write(&self, record: Option<Record>) -> rusqlite::Result<()> {
        self.shared.flush(record)
    }

    fn start_flusher(&self) {
        let mut flusher = self.flusher.lock().unwrap_or_else(|p| p.into_inner());
        if flusher.is_none() {
            let shared = self.shared.clone();
            *flusher = std::thread::Builder::new()
                .name("airun-audit".into())
                .spawn(move || shared.flusher())
                .ok();
        }
    }
}

impl Drop for ReadBatch {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        {
            // Taking the queue's lock orders this wake-up after the flusher's check.
            let _pending = self.shared.pending();
            self.shared.wake.notify_all();
        }
        let flusher = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(f) = flusher {
            let _ = f.join();
        }
        if let Err(e) = self.write(None) {
            report(&e);
        }
    }
}

//! The queue every audit record of a time machine goes through, written in batches.
//!
//! A record costs one SQLite transaction and a durable one a sync; an agent reading many
//! small files would spend most of each call on it, and concurrent changes would queue
//! behind each other's syncs. So records are appended to one queue, in the order calls
//! finished, and whoever writes takes everything queued and writes it in one transaction
//! (group commit): a call whose record must be on disk before its answer (a refused,
//! failed, mutating, networked or executing call) queues it and waits until a batch that
//! holds it is written and synced, writing that batch itself when no other writer is at
//! work; records of calls that succeeded and could only read local files or facts are
//! queued without waiting (before their answer goes out, so a later call's record can
//! never be written ahead of them) and written on a thread of their own: when
//! [`MAX_PENDING`] are queued, [`MAX_DELAY`] after the first one, with the next durable
//! record, before the log is read, and when the time machine closes. A batch holding a durable record is synced and publishes the head file; a
//! batch of read records only is not (a power cut may lose such records, as a kill may
//! lose the queued ones, never an answered change's).

use super::audit::{self, Record};
use super::checkpoint::Checkpointer;
use super::head;
use super::logsync::LogSyncs;
use rusqlite::Connection;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most read records kept queued; the one that fills the queue wakes the writer thread.
pub const MAX_PENDING: usize = 16;
/// Longest a queued read record waits for its batch.
pub const MAX_DELAY: Duration = Duration::from_millis(100);

/// Failed batches remembered, so a caller whose record was in one learns of it.
const KEPT_FAILURES: usize = 16;

/// The queue and how far it has been written. Records are numbered in the order they
/// were queued, from 1.
#[derive(Default)]
struct Queue {
    records: Vec<Record>,
    /// True when a queued record must be synced before its caller answers.
    durable: bool,
    /// How many records were ever queued.
    queued: u64,
    /// Every record numbered up to this one is written (or its batch failed).
    written: u64,
    /// A writer is writing a batch (taken from the queue) now.
    writing: bool,
    /// Numbers (first, last) of recent failed batches, with what went wrong.
    failures: Vec<(u64, u64, Failure)>,
    closed: bool,
}

/// What went wrong with a batch, kept to hand to every caller whose record was in it.
#[derive(Clone)]
struct Failure {
    code: Option<rusqlite::ffi::Error>,
    message: String,
}

impl Failure {
    fn of(e: &rusqlite::Error) -> Failure {
        let code = match e {
            rusqlite::Error::SqliteFailure(code, _) => Some(*code),
            _ => None,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }

    fn error(&self) -> rusqlite::Error {
        let code = self
            .code
            .unwrap_or_else(|| rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR));
        rusqlite::Error::SqliteFailure(code, Some(self.message.clone()))
    }
}

struct Shared {
    conn: Arc<Mutex<Connection>>,
    /// Writes the head file of the state folder after each durable batch.
    head: Arc<head::Writer>,
    /// The write-ahead log, once opened (see [`Shared::log`]).
    wal: Mutex<Option<Arc<std::fs::File>>>,
    /// What of the log is on disk (intents a sync carried).
    log_syncs: Arc<LogSyncs>,
    /// Checkpoints the log in the background, once a server started it.
    checkpoints: OnceLock<Checkpointer>,
    queue: Mutex<Queue>,
    /// Wakes the writer thread (a read record was queued, or the queue closes).
    wake: Condvar,
    /// Wakes callers waiting for their record (a batch was written).
    written: Condvar,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a batch of records. A durable batch is synced and publishes the head file;
    /// one of read records only is committed without a sync and leaves the head file to
    /// the next durable batch.
    fn write(&self, batch: &mut Vec<Record>, durable: bool) -> rusqlite::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if !durable {
            return super::db::unsynced(&mut conn, |c| self.append(c, batch))?.map(|_| ());
        }
        // Committed without a sync, then the log synced without holding the database: a
        // change under way goes on with its own transactions meanwhile, instead of
        // waiting for the disk. The sync carries every commit written before it. Without
        // the log's handle (no file handle to be had), the commit syncs itself.
        let log = if super::db::synced(&conn)? {
            self.log(&conn)
        } else {
            None
        };
        let head = if log.is_some() {
            super::db::unsynced(&mut conn, |c| self.append(c, batch))??
        } else {
            self.append(&mut conn, batch)?
        };
        drop(conn);
        if let Some(log) = log {
            self.log_syncs.sync(&log).map_err(io_failure)?;
        }
        // The head of the commit now on disk.
        if let Some(head) = head
            && let Err(e) = self.head.write(&head)
        {
            tracing::warn!(error = %e, "cannot write the state's head file");
        }
        if let Some(c) = self.checkpoints.get() {
            c.committed();
        }
        Ok(())
    }

    /// The database's write-ahead log, opened once (to sync it outside the database's
    /// lock); `None` when it cannot be opened (no file handle to be had), and then a
    /// commit that must be durable is committed synced instead.
    fn log(&self, conn: &Connection) -> Option<Arc<std::fs::File>> {
        let mut log = self.wal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = &*log {
            return Some(f.clone());
        }
        let open = || -> std::io::Result<std::fs::File> {
            // Tests make opening it fail, as when the process has no file handle left.
            fail::fail_point!("tm_log_open", |_| Err(std::io::Error::other(
                "the log could not be opened (injected)"
            )));
            std::fs::File::open(format!("{}-wal", conn.path().unwrap_or_default()))
        };
        match open() {
            Ok(f) => Some(log.insert(Arc::new(f)).clone()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the state database's log: durable commits are synced by SQLite instead");
                None
            }
        }
    }

    /// Appends `batch`, into the reserved space when the disk is full.
    fn append(
        &self,
        conn: &mut Connection,
        batch: &mut Vec<Record>,
    ) -> rusqlite::Result<Option<head::Head>> {
        let mut written = audit::append_records(conn, batch);
        // A full disk: give up the reserved space and write the records into it.
        if let Err(e) = &written
            && super::reserve::is_full(e)
            && let Some(dir) = conn
                .path()
                .map(|p| std::path::Path::new(p).with_file_name(""))
            && super::reserve::release(&dir)
        {
            tracing::warn!("the disk is full: writing the audit log into the reserved space");
            written = audit::append_records(conn, batch);
        }
        batch.clear();
        written
    }

    /// Queues `extra` (when given) and returns once every record queued so far is
    /// written: by this caller, which takes the whole queue when no other writer is at
    /// work, or by the writer before it.
    fn flush(&self, extra: Option<Record>) -> rusqlite::Result<()> {
        let mut q = self.queue();
        if let Some(r) = extra {
            q.records.push(r);
            q.queued += 1;
            q.durable = true;
        }
        let mine = q.queued;
        loop {
            if q.written >= mine {
                return match q
                    .failures
                    .iter()
                    .find(|(lo, hi, _)| *lo <= mine && mine <= *hi)
                {
                    Some((_, _, f)) => Err(f.error()),
                    None => Ok(()),
                };
            }
            if q.writing {
                q = self.written.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Nobody is writing: this caller writes everything queued, in one batch.
            q.writing = true;
            let mut batch = std::mem::take(&mut q.records);
            let durable = std::mem::take(&mut q.durable);
            let (first, last) = (q.written + 1, q.queued);
            drop(q);
            let res = self.write(&mut batch, durable);
            q = self.queue();
            q.writing = false;
            q.written = last;
            if let Err(e) = &res {
                if q.failures.len() == KEPT_FAILURES {
                    q.failures.remove(0);
                }
                q.failures.push((first, last, Failure::of(e)));
            }
            self.written.notify_all();
        }
    }

    /// The writer thread of read records: writes them when enough are queued or the
    /// first has waited [`MAX_DELAY`].
    fn flusher(&self) {
        loop {
            let mut q = self.queue();
            if q.records.is_empty() {
                if q.closed {
                    return;
                }
                drop(self.wake.wait(q).unwrap_or_else(|p| p.into_inner()));
                continue;
            }
            if !q.closed && q.records.len() < MAX_PENDING {
                q = self
                    .wake
                    .wait_timeout(q, MAX_DELAY)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            drop(q);
            if let Err(e) = self.flush(None) {
                report(&e);
            }
        }
    }
}

/// An I/O error as the database's errors are.
fn io_failure(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some(format!("cannot sync the state database's log: {e}")),
    )
}

fn report(e: &rusqlite::Error) {
    eprintln!("airun: could not write the audit records: {e}");
}

/// The queue of audit records of one time machine.
pub struct ReadBatch {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl ReadBatch {
    /// A queue writing through `conn`, publishing the head file through `head`.
    pub fn new(conn: Arc<Mutex<Connection>>, head: head::Writer) -> Self {
        let head = Arc::new(head);
        ReadBatch {
            shared: Arc::new(Shared {
                conn,
                head,
                wal: Mutex::new(None),
                log_syncs: Arc::new(LogSyncs::default()),
                checkpoints: OnceLock::new(),
                queue: Mutex::new(Queue::default()),
                wake: Condvar::new(),
                written: Condvar::new(),
            }),
            flusher: Mutex::new(None),
        }
    }

    /// Queues the record of a local read (never writes, so a caller can queue it before
    /// its answer goes out); a full batch wakes the writer thread at once.
    pub fn push(&self, record: Record) {
        let mut q = self.shared.queue();
        q.records.push(record);
        q.queued += 1;
        let first = q.records.len() == 1;
        let full = q.records.len() >= MAX_PENDING;
        drop(q);
        if first {
            self.start_flusher();
        }
        if first || full {
            self.shared.wake.notify_one();
        }
    }

    /// The database's write-ahead log, opened once, which the batches sync; `None` when
    /// it cannot be opened (then commit synced).
    pub(super) fn log(&self, conn: &Connection) -> Option<Arc<std::fs::File>> {
        self.shared.log(conn)
    }

    /// What of the log is on disk: the batches' syncs count there.
    pub(super) fn log_syncs(&self) -> &Arc<LogSyncs> {
        &self.shared.log_syncs
    }

    /// How many records are queued and not yet written.
    pub fn depth(&self) -> usize {
        self.shared.queue().records.len()
    }

    /// Writes the queued records and then `record` (synced), in one transaction or with
    /// the batch of a writer at work; returns once they are written.
    pub fn write(&self, record: Option<Record>) -> rusqlite::Result<()> {
        self.shared.flush(record)
    }

    /// Starts checkpointing the database at `db` on a thread of its own, told of every
    /// durable batch; it syncs the head file after each checkpoint. Once only.
    pub fn checkpoint_in_background(&self, db: std::path::PathBuf) -> std::io::Result<()> {
        if self.shared.checkpoints.get().is_none() {
            let c = Checkpointer::start(db, self.shared.conn.clone(), self.shared.head.clone())?;
            let _ = self.shared.checkpoints.set(c);
        }
        Ok(())
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
        {
            // Closing under the queue's lock orders this wake-up after the flusher's check.
            let mut q = self.shared.queue();
            q.closed = true;
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

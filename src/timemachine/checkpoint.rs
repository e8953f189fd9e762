//! Checkpoints of the write-ahead log off the answer's path.
//!
//! SQLite moves the log into the database (a checkpoint: the log's pages written to the
//! database file and synced) on the commit that makes the log pass 1000 pages, in the
//! thread that committed: every few dozen changes one call waited for it. A long-running
//! server turns that off and runs passive checkpoints on a thread of its own, through a
//! connection of its own, every [`EVERY`] durable batches and once the journal has been
//! idle for [`IDLE`]; a passive checkpoint never blocks a writer. Each round ends with a
//! short pass that holds this process's writer, so the whole log is moved and the next
//! commit writes it again from its start (see [`Shared::round`]). The head file (written
//! in place without a sync, see [`head`]) is synced after each round. Short-lived
//! processes (the command line) keep SQLite's own checkpoints, which the committing
//! connection runs, so the log starts over there too.

use super::head;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Durable batches between two checkpoints while calls keep coming.
pub const EVERY: u32 = 32;
/// Quiet time after which what the log holds is checkpointed.
pub const IDLE: Duration = Duration::from_millis(500);

#[derive(Default)]
struct State {
    /// Durable batches since the last checkpoint.
    since: u32,
    closed: bool,
}

struct Shared {
    db: PathBuf,
    /// The connection changes commit through: the last pass of a round holds it.
    writer: Arc<Mutex<Connection>>,
    /// Synced after each checkpoint.
    head: Arc<head::Writer>,
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One round: a passive checkpoint through this thread's own connection moves the
    /// bulk of the log while changes go on; a second one, through the writer's
    /// connection, moves what they committed meanwhile (a few pages), with no commit of
    /// this process in between. With the whole log in the database, the next commit
    /// writes the log again from its start, over blocks the file already has. Without
    /// that second pass steady changes keep the log from ever being wholly moved, and
    /// it grows without end: each commit then allocates blocks, and its sync writes the
    /// file's size as well, a second write to the disk.
    ///
    /// The first pass may report the whole log moved and still leave what was committed
    /// while it ran: the second always runs.
    fn round(&self, own: &Connection) -> rusqlite::Result<()> {
        passive(own)?;
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        passive(&writer)
    }

    fn run(&self) {
        let mut conn: Option<Connection> = None;
        loop {
            let mut st = self.state();
            // Wait for work: EVERY batches, or some and then a quiet IDLE.
            while !st.closed && st.since < EVERY {
                let before = st.since;
                if before == 0 {
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                let (next, timeout) = self
                    .wake
                    .wait_timeout(st, IDLE)
                    .unwrap_or_else(|p| p.into_inner());
                st = next;
                if timeout.timed_out() && st.since == before {
                    break;
                }
            }
            if st.closed {
                return;
            }
            st.since = 0;
            drop(st);
            if conn.is_none() {
                conn = open(&self.db)
                    .map_err(|e| tracing::warn!(error = %e, "cannot open the state database to checkpoint it"))
                    .ok();
            }
            if let Some(c) = &conn
                && let Err(e) = self.round(c)
            {
                tracing::warn!(error = %e, "cannot checkpoint the state database's log");
            }
            if let Err(e) = self.head.sync() {
                tracing::warn!(error = %e, "cannot sync the state's head file");
            }
        }
    }
}

/// A passive checkpoint: it moves what it can without waiting for a writer.
fn passive(c: &Connection) -> rusqlite::Result<()> {
    c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

fn open(db: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_millis(100))?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    Ok(conn)
}

/// The checkpoint thread of one database.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `db` in the background. The caller turns the
    /// connection's own checkpoints off (`wal_autocheckpoint = 0`) once this returns.
    pub fn start(
        db: PathBuf,
        writer: Arc<Mutex<Connection>>,
        head: Arc<head::Writer>,
    ) -> std::io::Result<Checkpointer> {
        let shared = Arc::new(Shared {
            db,
            writer,
            head,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let runner = shared.clone();
        let thread = std::thread::Builder::new()
            .name("airun-checkpoint".into())
            .spawn(move || runner.run())?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Counts a durable batch written to the log.
    pub fn committed(&self) {
        let mut st = self.shared.state();
        st.since = st.since.saturating_add(1);
        if st.since == 1 || st.since >= EVERY {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! The files a change wrote, synced after its answer.
//!
//! A change's answer waits for its commit to be synced in the log, and that commit holds
//! the change's after-image: from then on the journal alone can finish the change, so
//! the files the handler wrote (a temporary file renamed over its target, a folder's new
//! entries) need not be on disk before the answer. Each commit lists its change as
//! unsynced (in the same transaction, with the boot and the process it was made in), and
//! a thread syncs the file systems holding the folders changes altered (the workspace's,
//! and any mounted inside it) once changes pause for [`QUIET`], or [`MAX_WAIT`] after the
//! first unsynced one, then clears its changes from the list. One sync of the file
//! system per pause replaces, per change, a sync of each file written and of each folder
//! altered: the device flushes its cache once for all of them.
//!
//! The process's changes are synced and cleared at once before a change the journal
//! cannot finish alone (an irreversible one), before an undo or a redo, and when the
//! time machine closes. A start finds what is left on it (see
//! `TimeMachine::finish_unsynced`): from an earlier boot, a power cut (or a system crash)
//! may have kept the files from the disk, and the after-images are put back; from this
//! boot, the files are in the system's cache and one sync takes them to disk.

use super::db;
use crate::sandbox::Workspace;
use cap_std::fs::MetadataExt;
use rusqlite::Connection;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long changes must pause before their files are synced.
pub const QUIET: Duration = Duration::from_millis(20);

/// The longest a change's files wait for their sync while changes keep coming.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// This boot of the system, as the kernel names it; empty where it does not (then every
/// change syncs its own files before its answer, as the journal could not tell a list
/// left by a power cut from one left by a process that ended).
pub fn boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        // Tests start a process as if after a reboot.
        fail::fail_point!("tm_boot_id", |v| v.unwrap_or_default());
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// Syncs the file system holding `root` (any file or folder on it).
pub fn sync_file_system(root: &std::fs::File) -> io::Result<()> {
    Ok(rustix::fs::syncfs(root)?)
}

/// An open folder on each file system the workspace folders `folders` are on (by device),
/// added to `known`, the workspace's own first (a change of a mode alters no folder); a
/// folder gone meanwhile has nothing to sync.
pub fn file_systems(
    ws: &Workspace,
    folders: &[PathBuf],
    known: &mut HashMap<u64, Arc<std::fs::File>>,
) -> io::Result<()> {
    let mut read = cap_std::fs::OpenOptions::new();
    read.read(true);
    let root = PathBuf::from(".");
    let root = known.is_empty().then_some(&root);
    for f in root.into_iter().chain(folders) {
        let dev = match ws.dir().metadata(f) {
            Ok(m) => m.dev(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if known.contains_key(&dev) {
            continue;
        }
        match ws.dir().open_with(f, &read) {
            Ok(d) => {
                known.insert(dev, Arc::new(d.into_std()));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[derive(Default)]
struct Due {
    /// When the first change not synced yet committed.
    first: Option<Instant>,
    /// When the last one did.
    last: Option<Instant>,
    closed: bool,
}

struct Shared {
    due: Mutex<Due>,
    wake: Condvar,
    conn: Arc<Mutex<Connection>>,
    /// A folder on each file system changes altered folders on, by device, opened for
    /// syncing.
    file_systems: Mutex<HashMap<u64, Arc<std::fs::File>>>,
}

impl Shared {
    fn due(&self) -> MutexGuard<'_, Due> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn known(&self) -> MutexGuard<'_, HashMap<u64, Arc<std::fs::File>>> {
        self.file_systems.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Syncs the file systems this process's changes altered folders on, then clears
    /// its changes listed before the syncs began (their files were written before them,
    /// so the syncs carried them). Another process's listed changes may have altered
    /// folders on a file system not known here: that process, or the next start, clears
    /// them.
    fn settle(&self) -> Result<(), String> {
        // Tests leave the list as a power cut would find it.
        fail::fail_point!("tm_settle", |_| Ok(()));
        if self.known().is_empty() {
            return Ok(());
        }
        let conn = || self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let ops = db::unsynced_ops_of(&conn(), std::process::id()).map_err(|e| e.to_string())?;
        if ops.is_empty() {
            return Ok(());
        }
        // Taken after the list: every change on it noted its folders before it committed.
        // Not held while syncing, so a change can note its folders meanwhile.
        let file_systems: Vec<Arc<std::fs::File>> = self.known().values().cloned().collect();
        for fs in &file_systems {
            sync_file_system(fs).map_err(|e| e.to_string())?;
        }
        // Not synced: a list the disk lost only costs the next start a sync.
        db::unsynced(&mut conn(), |c| db::remove_unsynced(c, &ops))
            .and_then(|r| r)
            .map_err(|e| e.to_string())
    }

    /// The settling due once changes paused.
    fn settle_later(&self) {
        // Tests leave the changes to the syncs that do not wait for a pause.
        fail::fail_point!("tm_settle_later", |_| ());
        report(self.settle());
    }

    /// Settles what is due once changes pause, until closed.
    fn run(&self) {
        loop {
            {
                let mut due = self.due();
                while due.first.is_none() && !due.closed {
                    due = self.wake.wait(due).unwrap_or_else(|p| p.into_inner());
                }
                if due.first.is_none() {
                    return;
                }
                while !due.closed {
                    let (Some(first), Some(last)) = (due.first, due.last) else {
                        break;
                    };
                    let at = (last + QUIET).min(first + MAX_WAIT);
                    let now = Instant::now();
                    if now >= at {
                        break;
                    }
                    due = self
                        .wake
                        .wait_timeout(due, at - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                due.first = None;
                due.last = None;
            }
            self.settle_later();
        }
    }
}

/// The changes whose files are not synced yet, and the thread that syncs them.
pub(super) struct Settle {
    shared: Arc<Shared>,
    /// Started with the first change; `None` when it could not start.
    worker: OnceLock<Option<JoinHandle<()>>>,
}

impl Settle {
    /// Settles the changes committed through `conn`.
    pub(super) fn new(conn: Arc<Mutex<Connection>>) -> Settle {
        Settle {
            shared: Arc::new(Shared {
                due: Mutex::new(Due::default()),
                wake: Condvar::new(),
                conn,
                file_systems: Mutex::new(HashMap::new()),
            }),
            worker: OnceLock::new(),
        }
    }

    /// Notes the folders of `ws` a change altered, before it commits listed as unsynced:
    /// their file systems are synced with the next settling.
    pub(super) fn note(&self, ws: &Workspace, folders: &[PathBuf]) {
        // Should a folder not open, the list stays for the next start, which syncs it.
        if let Err(e) = file_systems(ws, folders, &mut self.shared.known()) {
            report(Err(e.to_string()));
        }
    }

    /// Notes that a change listed as unsynced committed; its files are synced once
    /// changes pause (here and now without the thread).
    pub(super) fn changed(&self) {
        let started = self.worker.get_or_init(|| {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("airun-settle".into())
                .spawn(move || shared.run())
                .ok()
        });
        if started.is_none() {
            return report(self.shared.settle());
        }
        let now = Instant::now();
        let mut due = self.shared.due();
        let idle = due.first.is_none();
        due.first.get_or_insert(now);
        due.last = Some(now);
        drop(due);
        // A thread already waiting for a pause finds the later changes when its wait
        // ends: waking it for each would cost every change a thread switch.
        if idle {
            self.shared.wake.notify_one();
        }
    }

    /// Syncs the files of every change not synced yet, now (with nothing listed, one
    /// look at the list).
    pub(super) fn now(&self) -> Result<(), String> {
        {
            let mut due = self.shared.due();
            due.first = None;
            due.last = None;
        }
        self.shared.settle()
    }

    /// [`now`](Self::now), saying so when it fails.
    pub(super) fn now_or_report(&self) {
        report(self.now());
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        self.now_or_report();
        self.shared.due().closed = true;
        self.shared.wake.notify_all();
        if let Some(Some(t)) = self.worker.take() {
            let _ = t.join();
        }
    }
}

fn report(outcome: Result<(), String>) {
    if let Err(e) = outcome {
        eprintln!(
            "airun: could not sync the changed files to disk: {e} (the journal keeps them; the next start syncs them)"
        );
        tracing::error!(error = %e, "cannot sync the changed files");
    }
}

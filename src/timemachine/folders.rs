//! The folders a change altered, synced before its answer.
//!
//! A rename, a new file, a removal or a new folder changes a folder's entries, and those
//! reach the disk with that folder's own sync, not with the file's: without it, a power
//! cut soon after the answer could take the change back on disk while the journal and the
//! audit log say it happened. Once a change has its after-images, the folders holding its
//! targets and the folders it created are synced on a thread of their own while the change
//! commits, its audit record is written and the log is synced; the answer waits for both
//! ([`TimeMachine::wait_folders`]). The device flushes its cache for one sync at a time,
//! so two syncs side by side take about as long as one after the other; what the thread
//! saves is the commit's and the record's work, done meanwhile. Changes that come while a
//! sync runs are synced together next, each folder once.

use super::TimeMachine;
use super::image::{Entry, Kind};
use super::logsync::LogSyncs;
use crate::hooks::OpId;
use crate::sandbox::Workspace;
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

/// Changes whose folders are being synced past which a new one first waits for the
/// others (a caller that never asked for their durability left them behind).
const MAX_PENDING: usize = 256;

/// One change's folder syncs, done once the worker sets the outcome.
#[derive(Default)]
struct Ticket {
    outcome: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

impl Ticket {
    fn set(&self, outcome: Result<(), String>) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(o) = outcome.take() {
                return o;
            }
            outcome = self.done.wait(outcome).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[derive(Default)]
struct Queue {
    jobs: Vec<(Syncs, Arc<Ticket>)>,
    closed: bool,
}

/// The worker's queue.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Syncs what is queued, all of it together, until closed.
    fn run(&self) {
        loop {
            let jobs = {
                let mut q = self.queue();
                while q.jobs.is_empty() && !q.closed {
                    q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                if q.jobs.is_empty() {
                    return;
                }
                std::mem::take(&mut q.jobs)
            };
            crate::failpoint::crash_point!("tm_folder_sync");
            // In the order queued. A folder several changes altered is synced once for
            // all of them: each change's entries were in it before its job was queued.
            // Each job's ticket is set as soon as its own syncs are done.
            let mut outcomes: HashMap<&Path, Result<(), String>> = HashMap::new();
            for (syncs, ticket) in &jobs {
                if let Syncs::Log(..) = syncs {
                    ticket.set(syncs.run().map_err(|e| e.to_string()));
                    continue;
                }
                let mut failed = None;
                for (key, file) in syncs.files() {
                    let outcome = outcomes
                        .entry(key)
                        .or_insert_with(|| syncs.sync(file).map_err(|e| e.to_string()));
                    if let Err(e) = outcome {
                        failed.get_or_insert_with(|| e.clone());
                    }
                }
                ticket.set(failed.map_or(Ok(()), Err));
            }
        }
    }
}

/// The folder syncs under way, by operation, and the thread that runs them.
#[derive(Default)]
pub(super) struct FolderSyncs {
    pending: Mutex<HashMap<OpId, Arc<Ticket>>>,
    shared: Arc<Shared>,
    /// Started with the first change; `None` when it could not start.
    worker: OnceLock<Option<JoinHandle<()>>>,
}

impl FolderSyncs {
    /// Queues `syncs` for the worker (started now if it is not yet); gives them back
    /// when there is no worker.
    fn queue(&self, syncs: Syncs) -> Result<Arc<Ticket>, Syncs> {
        let started = self.worker.get_or_init(|| {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("airun-folder-sync".into())
                .spawn(move || shared.run())
                .ok()
        });
        if started.is_none() {
            return Err(syncs);
        }
        let ticket = Arc::new(Ticket::default());
        self.shared.queue().jobs.push((syncs, ticket.clone()));
        self.shared.wake.notify_one();
        Ok(ticket)
    }
}

impl Drop for FolderSyncs {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.wake.notify_all();
        if let Some(Some(t)) = self.worker.take() {
            let _ = t.join();
        }
    }
}

/// The folders (workspace-relative, `.` for the root) whose entries a change from
/// `before` to `after` (images of the same targets) altered: the folder of each entry
/// added, removed, or given another kind, content or link target (a content is replaced
/// by a rename). A folder the change created is among them once anything was put in it.
pub(super) fn altered(before: &[Vec<Entry>], after: &[Vec<Entry>]) -> Vec<PathBuf> {
    fn present(images: &[Vec<Entry>]) -> HashMap<&str, &Entry> {
        images
            .iter()
            .flatten()
            .filter(|e| e.kind != Kind::Absent)
            .map(|e| (e.path.as_str(), e))
            .collect()
    }
    let same = |a: &Entry, b: &Entry| a.kind == b.kind && a.blob == b.blob && a.link == b.link;
    let (was, is) = (present(before), present(after));
    let mut folders = BTreeSet::new();
    for (path, e) in &is {
        if !was.get(path).is_some_and(|w| same(w, e)) {
            folders.insert(parent(path));
        }
    }
    for path in was.keys() {
        if !is.contains_key(path) {
            folders.insert(parent(path));
        }
    }
    folders.into_iter().collect()
}

/// The folder holding `path` (`.` for a path at the root).
fn parent(path: &str) -> PathBuf {
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Folders past which one sync of the whole file system replaces a sync each.
const SYNC_EACH_MAX: usize = 16;

/// The folders a restore of `images` (put back in full) may have altered: each image's
/// parent folder and each folder in it.
pub(super) fn restored(images: &[Vec<Entry>]) -> Vec<PathBuf> {
    let mut folders = BTreeSet::new();
    for img in images {
        if let Some(root) = img.first() {
            folders.insert(parent(&root.path));
        }
        for e in img.iter().filter(|e| e.kind == Kind::Dir) {
            folders.insert(PathBuf::from(&e.path));
        }
    }
    folders.into_iter().collect()
}

/// Open folders to sync: each one, or (past [`SYNC_EACH_MAX`]) the file system holding
/// the workspace in one call.
enum Syncs {
    Each(Vec<(PathBuf, std::fs::File)>),
    Whole(std::fs::File),
    /// The state database's write-ahead log, to carry intent number `n` (see
    /// [`LogSyncs`]): nothing to do when another sync carried it meanwhile.
    Log(Arc<LogSyncs>, Arc<std::fs::File>, u64),
}

impl Syncs {
    /// Opens `folders` of `ws` through its handle, so beneath the root. A folder gone
    /// meanwhile (a later change removed it) has nothing to sync.
    fn open(ws: &Workspace, folders: &[PathBuf]) -> io::Result<Syncs> {
        // Opened for reading: a handle the sandbox keeps (`O_PATH`) cannot be synced.
        let mut read = cap_std::fs::OpenOptions::new();
        read.read(true);
        if folders.len() > SYNC_EACH_MAX {
            return Ok(Syncs::Whole(ws.dir().open_with(".", &read)?.into_std()));
        }
        let mut open = Vec::with_capacity(folders.len());
        for f in folders {
            match ws.dir().open_with(f, &read) {
                Ok(d) => open.push((f.clone(), d.into_std())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Syncs::Each(open))
    }

    /// The open folders, each with its path (the file system's: the empty path); none
    /// for the log.
    fn files(&self) -> Box<dyn Iterator<Item = (&Path, &std::fs::File)> + '_> {
        match self {
            Syncs::Each(folders) => Box::new(folders.iter().map(|(p, f)| (p.as_path(), f))),
            Syncs::Whole(root) => Box::new(std::iter::once((Path::new(""), root))),
            Syncs::Log(..) => Box::new(std::iter::empty()),
        }
    }

    /// Syncs one of [`files`](Self::files).
    fn sync(&self, file: &std::fs::File) -> io::Result<()> {
        match self {
            Syncs::Whole(_) => Ok(rustix::fs::syncfs(file)?),
            _ => file.sync_all(),
        }
    }

    fn run(&self) -> io::Result<()> {
        match self {
            Syncs::Log(syncs, _, n) if syncs.is_durable(*n) => Ok(()),
            Syncs::Log(syncs, log, _) => syncs.run(|| {
                fail::fail_point!("tm_intent_sync", |_| Err(io::Error::other(
                    "the sync failed (injected)"
                )));
                log.sync_data()
            }),
            _ => self.files().try_for_each(|(_, f)| self.sync(f)),
        }
    }
}

/// Syncs `folders` of `ws` now.
pub(super) fn sync_now(ws: &Workspace, folders: &[PathBuf]) -> io::Result<()> {
    Syncs::open(ws, folders)?.run()
}

impl TimeMachine {
    /// Starts syncing the write-ahead log, which holds a change's intent (committed
    /// without a sync, numbered `n` in the log's [`LogSyncs`]): it runs while the
    /// handler prepares the change (a temporary file, written and synced). The handler's
    /// first visible change waits until a sync carried it (`JournalOp::before_change`):
    /// this one, or an audit batch's that began after the intent's commit. `log` is the
    /// log's handle the audit batches sync, opened once.
    pub(super) fn sync_intent(&self, log: Arc<std::fs::File>, n: u64) {
        let syncs = Syncs::Log(self.reads.log_syncs().clone(), log, n);
        // Without the thread, synced here and now; a failure shows to the waiter.
        if let Err(syncs) = self.folders.queue(syncs) {
            let _ = syncs.run();
        }
    }

    /// Starts syncing the folders a change altered (see [`altered`]); the change's
    /// answer waits for it in [`wait_folders`](Self::wait_folders). Without the thread
    /// that syncs them, they are synced here and now.
    pub(super) fn sync_folders(&self, ws: &Workspace, id: OpId, folders: &[PathBuf]) {
        if folders.is_empty() {
            return;
        }
        let syncs = match Syncs::open(ws, folders) {
            Ok(s) => s,
            Err(e) => return report(Err(e.to_string())),
        };
        let ticket = match self.folders.queue(syncs) {
            Ok(t) => t,
            Err(syncs) => return report(syncs.run().map_err(|e| e.to_string())),
        };
        let earlier = {
            let mut pending = self
                .folders
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let earlier = if pending.len() >= MAX_PENDING {
                std::mem::take(&mut *pending)
            } else {
                HashMap::new()
            };
            pending.insert(id, ticket);
            earlier
        };
        for t in earlier.values() {
            report(t.wait());
        }
    }

    /// Waits for the folder syncs of change `id`, if any are under way.
    pub(super) fn wait_folders(&self, id: OpId) {
        let ticket = self
            .folders
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(t) = ticket {
            report(t.wait());
        }
    }

    /// Waits for every folder sync under way (before the time machine closes).
    pub(super) fn wait_all_folders(&self) {
        let all = std::mem::take(
            &mut *self
                .folders
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for t in all.values() {
            report(t.wait());
        }
    }
}

fn report(outcome: Result<(), String>) {
    if let Err(e) = outcome {
        eprintln!("airun: could not sync a changed folder to disk: {e}");
        tracing::error!(error = %e, "cannot sync a changed folder");
    }
}

#[cfg(test)]
mod tests {
    use super::altered;
    use crate::timemachine::image::{Entry, Kind};
    use std::path::PathBuf;

    fn entry(path: &str, kind: Kind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0o644,
            size: 0,
            blob: None,
            link: None,
        }
    }

    fn paths(p: &[&str]) -> Vec<PathBuf> {
        p.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn a_new_or_replaced_file_alters_its_folder() {
        let before = vec![vec![entry("src/new.rs", Kind::Absent)]];
        let after = vec![vec![entry("src/new.rs", Kind::File)]];
        assert_eq!(altered(&before, &after), paths(&["src"]));
        let mut old = entry("a.txt", Kind::File);
        old.blob = Some("1".into());
        let mut new = entry("a.txt", Kind::File);
        new.blob = Some("2".into());
        assert_eq!(altered(&[vec![old.clone()]], &[vec![new]]), paths(&["."]));
        // Only its mode changed: no entry of a folder did.
        let mut chmod = old.clone();
        chmod.mode = 0o600;
        assert!(altered(&[vec![old]], &[vec![chmod]]).is_empty());
    }

    #[test]
    fn new_folders_are_synced_and_folders_whose_entries_stayed_are_not() {
        // `a/b/c.txt` written where `a` was missing: the target is `a`.
        let before = vec![vec![entry("a", Kind::Absent)]];
        let after = vec![vec![
            entry("a", Kind::Dir),
            entry("a/b", Kind::Dir),
            entry("a/b/c.txt", Kind::File),
        ]];
        assert_eq!(altered(&before, &after), paths(&[".", "a", "a/b"]));
        // In a folder that was there: its own entries changed, its folder's did not.
        let before = vec![vec![
            entry("d", Kind::Dir),
            entry("d/x", Kind::File),
            entry("d/keep", Kind::File),
        ]];
        let after = vec![vec![
            entry("d", Kind::Dir),
            entry("d/e", Kind::Dir),
            entry("d/keep", Kind::File),
        ]];
        assert_eq!(altered(&before, &after), paths(&["d"]));
    }

    #[test]
    fn a_move_alters_both_folders() {
        let before = vec![
            vec![entry("from/f.txt", Kind::File)],
            vec![entry("to/f.txt", Kind::Absent)],
        ];
        let after = vec![
            vec![entry("from/f.txt", Kind::Absent)],
            vec![entry("to/f.txt", Kind::File)],
        ];
        assert_eq!(altered(&before, &after), paths(&["from", "to"]));
    }
}

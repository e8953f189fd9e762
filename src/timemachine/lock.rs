//! The locks of a state folder: files locked exclusively, held across processes. The
//! operation lock orders mutating calls, undos and redos; `init.lock` orders setting the
//! database up; `head.lock` orders writes of the head file.
//!
//! Within one process, the operation lock is shared by changes whose targets are apart:
//! each change claims the paths it may touch (its undo targets, or the first missing
//! folder above one), and runs at once beside changes whose paths neither contain nor lie
//! inside its own. Undo, redo, gc, recovery and changes that run programs claim the whole
//! workspace. Conflicting claims are served in the order they were made. The file lock is
//! taken when this process's first claim runs and let go when its last one ends, so other
//! processes (the command line) take turns with it; crash recovery runs each time it is
//! taken, when none of this process's changes is under way.

use super::{TimeMachine, state_err};
use crate::error::CapError;
use crate::sandbox::Workspace;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Claims admitted while the file lock is held before it is let go for a moment (once the
/// claims running end), so that a process waiting for it is not starved by a steady load.
const TURN: u32 = 64;

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

/// What a claim on the operation lock covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    /// The whole workspace and the journal (undo, redo, gc, recovery, running programs).
    All,
    /// These workspace-relative paths and everything beneath them.
    Paths(Vec<PathBuf>),
}

impl Scope {
    /// Whether two claims may touch the same file.
    fn overlaps(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Paths(a), Scope::Paths(b)) => a
                .iter()
                .any(|p| b.iter().any(|q| p.starts_with(q) || q.starts_with(p))),
            _ => true,
        }
    }

    /// Whether every path of `paths` lies in this claim.
    pub(super) fn covers(&self, paths: &[PathBuf]) -> bool {
        match self {
            Scope::All => true,
            Scope::Paths(mine) => paths.iter().all(|p| mine.iter().any(|m| p.starts_with(m))),
        }
    }

    /// A claim on `paths`; the workspace root (an empty path or `.`) is all of it.
    pub(super) fn paths(paths: Vec<PathBuf>) -> Scope {
        if paths
            .iter()
            .any(|p| p.as_os_str().is_empty() || p == Path::new("."))
        {
            Scope::All
        } else {
            Scope::Paths(paths)
        }
    }
}

#[derive(Debug)]
struct Claim {
    ticket: u64,
    scope: Scope,
    running: bool,
}

/// This process's claims on the operation lock.
#[derive(Debug, Default)]
struct Claims {
    next: u64,
    /// Waiting and running claims, in the order they were made.
    list: Vec<Claim>,
    /// How many of them run.
    running: usize,
    /// This process holds the file lock.
    held: bool,
    /// A thread is taking the file lock (and recovering) for this process.
    taking: bool,
    /// Claims admitted since the file lock was taken.
    admitted: u32,
    /// A change ended without finishing (its thread unwound): it is rolled back before
    /// any other claim runs.
    recover: bool,
}

impl Claims {
    fn index(&self, ticket: u64) -> usize {
        self.list
            .iter()
            .position(|c| c.ticket == ticket)
            .unwrap_or(self.list.len())
    }

    /// Whether a claim made earlier may touch what `ticket` claims.
    fn blocked(&self, ticket: u64) -> bool {
        let me = self.index(ticket);
        let Some(mine) = self.list.get(me) else {
            return false;
        };
        self.list[..me]
            .iter()
            .any(|c| c.scope.overlaps(&mine.scope))
    }

    fn admit(&mut self, ticket: u64) {
        let me = self.index(ticket);
        if let Some(c) = self.list.get_mut(me) {
            c.running = true;
            self.running += 1;
            self.admitted += 1;
        }
    }
}

/// The workspace's operation lock: the state folder's `lock` file, opened once per time
/// machine and locked exclusively (across processes) while a claim of this process runs,
/// and the claims of this process's threads (see the module's documentation).
#[derive(Debug)]
pub(super) struct OpLockFile {
    file: File,
    claims: Mutex<Claims>,
    turn: Condvar,
}

impl OpLockFile {
    /// The operation lock of the state folder `dir`.
    pub(super) fn open(dir: &Path) -> std::io::Result<OpLockFile> {
        Ok(OpLockFile {
            file: lock_file(&dir.join("lock"))?,
            claims: Mutex::new(Claims::default()),
            turn: Condvar::new(),
        })
    }

    fn claims(&self) -> MutexGuard<'_, Claims> {
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a claim; the file lock is let go when no claim of this process runs.
    ///
    /// Wakes the waiting claims only when this can let one of them go on: the ended
    /// claim overlapped one of them, no claim runs any more (the file lock is let go, or
    /// a pause for another process ends), or a change is left to roll back. A claim that
    /// ends beside others on paths apart wakes nobody: with dozens of claims waiting out
    /// a pause, waking them all at every end cost more processor time than the changes.
    fn release(&self, ticket: u64, unfinished: bool) {
        let mut st = self.claims();
        let me = st.index(ticket);
        let mut wake = unfinished;
        if me < st.list.len() {
            let c = st.list.remove(me);
            if c.running {
                st.running -= 1;
            }
            wake |= st
                .list
                .iter()
                .any(|w| !w.running && w.scope.overlaps(&c.scope));
        }
        if unfinished {
            st.recover = true;
        }
        if st.running == 0 {
            wake = true;
            if st.held {
                let _ = self.file.unlock();
                st.held = false;
            }
        }
        drop(st);
        if wake {
            self.turn.notify_all();
        }
    }
}

/// A claim on the operation lock, running; ends when dropped.
pub(super) struct OpLock<'a> {
    of: &'a OpLockFile,
    ticket: u64,
    scope: Scope,
    finished: bool,
}

impl OpLock<'_> {
    /// What this claim covers.
    pub(super) fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Marks the claim as holding a change under way (recorded, not yet finished).
    pub(super) fn starts_change(&mut self) {
        self.finished = false;
    }

    /// Marks the claim's change as finished or rolled back: ending it then needs no
    /// recovery. A claim dropped without this (its thread unwound mid-change) has the
    /// next claim wait until the change is rolled back.
    pub(super) fn settled(&mut self) {
        self.finished = true;
    }
}

impl Drop for OpLock<'_> {
    fn drop(&mut self) {
        self.of.release(self.ticket, !self.finished);
    }
}

impl TimeMachine {
    /// Takes the whole operation lock if nothing holds it (no claim of this process, no
    /// other process).
    pub(super) fn try_lock(&self) -> Result<Option<OpLock<'_>>, CapError> {
        let of = &self.op_lock;
        let mut st = of.claims();
        if !st.list.is_empty() || st.held || st.taking {
            return Ok(None);
        }
        match of.file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(state_err(e)),
        }
        let ticket = st.next;
        st.next += 1;
        st.list.push(Claim {
            ticket,
            scope: Scope::All,
            running: false,
        });
        st.held = true;
        st.admitted = 0;
        st.admit(ticket);
        Ok(Some(OpLock {
            of,
            ticket,
            scope: Scope::All,
            finished: true,
        }))
    }

    /// Takes the whole operation lock (waits for the claims made before, and for other
    /// processes), without recovering.
    pub(super) fn lock(&self) -> Result<OpLock<'_>, CapError> {
        self.claim(Scope::All, None)
    }

    /// Takes the whole operation lock for an undo or a redo, rolling back calls a crash
    /// interrupted. Read records still queued need not be written first: every record
    /// goes through one queue, so they reach the log ahead of the change's record.
    pub(super) fn lock_for_change(&self, ws: &Workspace) -> Result<OpLock<'_>, CapError> {
        self.claim(Scope::All, Some(ws))
    }

    /// Claims `scope` of the operation lock: waits until no claim made earlier overlaps
    /// it, and takes the file lock (rolling back calls a crash interrupted, when `ws` is
    /// given) if this process does not hold it.
    pub(super) fn claim(
        &self,
        scope: Scope,
        ws: Option<&Workspace>,
    ) -> Result<OpLock<'_>, CapError> {
        let of = &self.op_lock;
        let mut st = of.claims();
        let ticket = st.next;
        st.next += 1;
        st.list.push(Claim {
            ticket,
            scope: scope.clone(),
            running: false,
        });
        let lock = OpLock {
            of,
            ticket,
            scope,
            finished: true,
        };
        loop {
            if !st.blocked(ticket) {
                // Let go of the file for a moment once the claims running end: after a
                // turn's worth of claims, or to roll back a change that did not finish.
                let draining = st.held && (st.admitted >= TURN || st.recover);
                if st.held && !draining {
                    st.admit(ticket);
                    return Ok(lock);
                }
                if !st.held && !st.taking && st.running == 0 {
                    st.taking = true;
                    drop(st);
                    let taken = self.take_file(ws);
                    st = of.claims();
                    st.taking = false;
                    match taken {
                        Ok(()) => {
                            st.held = true;
                            st.admitted = 0;
                            if ws.is_some() {
                                st.recover = false;
                            }
                            st.admit(ticket);
                            drop(st);
                            of.turn.notify_all();
                            return Ok(lock);
                        }
                        Err(e) => {
                            drop(st);
                            // Dropping the claim wakes the others.
                            drop(lock);
                            return Err(e);
                        }
                    }
                }
            }
            st = of.turn.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes the file lock (blocks while another process holds it) and, with a workspace,
    /// rolls back the calls a crash interrupted; then removes the blobs of expired undo
    /// points if due. No claim of this process runs meanwhile.
    fn take_file(&self, ws: Option<&Workspace>) -> Result<(), CapError> {
        self.op_lock.file.lock().map_err(state_err)?;
        if let Some(ws) = ws
            && let Err(e) = self.recover_locked(ws, false)
        {
            let _ = self.op_lock.file.unlock();
            return Err(e);
        }
        self.sweep_if_due();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;
    use crate::sandbox::Workspace;
    use crate::timemachine::{Retention, TimeMachine};
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::time::Duration;

    fn paths(p: &[&str]) -> Scope {
        Scope::paths(p.iter().map(PathBuf::from).collect())
    }

    fn machine() -> (tempfile::TempDir, Workspace, TimeMachine) {
        crate::timemachine::test_machine(Retention::default())
    }

    /// Claims `scope` on another thread; says when the claim runs, and holds it until
    /// told to end it.
    fn claim_on_thread<'s>(
        s: &'s std::thread::Scope<'s, '_>,
        tm: &'s TimeMachine,
        ws: &'s Workspace,
        scope: Scope,
    ) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (ran_tx, ran_rx) = mpsc::channel();
        let (end_tx, end_rx) = mpsc::channel::<()>();
        s.spawn(move || {
            let _claim = tm.claim(scope, Some(ws)).unwrap();
            ran_tx.send(()).unwrap();
            let _ = end_rx.recv();
        });
        (ran_rx, end_tx)
    }

    const SOON: Duration = Duration::from_secs(30);
    const NOT_YET: Duration = Duration::from_millis(200);

    #[test]
    fn claims_overlap_when_one_path_contains_the_other() {
        assert!(!paths(&["a.txt"]).overlaps(&paths(&["b.txt"])));
        assert!(!paths(&["a/x"]).overlaps(&paths(&["a/y"])));
        assert!(
            !paths(&["ab"]).overlaps(&paths(&["a"])),
            "by components, not by text"
        );
        assert!(paths(&["a"]).overlaps(&paths(&["a/x"])));
        assert!(paths(&["a/x"]).overlaps(&paths(&["a"])));
        assert!(paths(&["a.txt", "b"]).overlaps(&paths(&["b/c"])));
        assert!(paths(&["."]).overlaps(&paths(&["z"])));
        assert!(paths(&[""]).overlaps(&paths(&["z"])));
        assert!(Scope::All.overlaps(&paths(&[])));
        assert!(
            !paths(&[]).overlaps(&paths(&["a"])),
            "a change with no files"
        );
    }

    #[test]
    fn a_claim_covers_what_lies_beneath_its_paths() {
        let s = paths(&["new"]);
        assert!(s.covers(&[PathBuf::from("new/y")]));
        assert!(s.covers(&[PathBuf::from("new")]));
        assert!(!s.covers(&[PathBuf::from("other")]));
        assert!(!paths(&["new/y"]).covers(&[PathBuf::from("new")]));
        assert!(Scope::All.covers(&[PathBuf::from("x")]));
    }

    #[test]
    fn changes_to_files_apart_run_together_and_a_change_to_the_same_file_waits() {
        let (_tmp, ws, tm) = machine();
        std::thread::scope(|s| {
            let (a_ran, a_end) = claim_on_thread(s, &tm, &ws, paths(&["a.txt"]));
            a_ran.recv_timeout(SOON).unwrap();
            let (b_ran, b_end) = claim_on_thread(s, &tm, &ws, paths(&["b.txt"]));
            b_ran
                .recv_timeout(SOON)
                .expect("a change to another file waited for the first");
            let (again_ran, again_end) = claim_on_thread(s, &tm, &ws, paths(&["a.txt"]));
            let (inside_ran, inside_end) = claim_on_thread(s, &tm, &ws, paths(&["b.txt/x"]));
            assert!(
                again_ran.recv_timeout(NOT_YET).is_err(),
                "the same file twice"
            );
            assert!(
                inside_ran.recv_timeout(NOT_YET).is_err(),
                "a path beneath another"
            );
            a_end.send(()).unwrap();
            again_ran.recv_timeout(SOON).unwrap();
            assert!(inside_ran.recv_timeout(NOT_YET).is_err());
            b_end.send(()).unwrap();
            inside_ran.recv_timeout(SOON).unwrap();
            again_end.send(()).unwrap();
            inside_end.send(()).unwrap();
        });
    }

    #[test]
    fn the_whole_workspace_waits_for_every_change_and_later_changes_wait_for_it() {
        let (_tmp, ws, tm) = machine();
        std::thread::scope(|s| {
            let (a_ran, a_end) = claim_on_thread(s, &tm, &ws, paths(&["a.txt"]));
            a_ran.recv_timeout(SOON).unwrap();
            let (all_ran, all_end) = claim_on_thread(s, &tm, &ws, Scope::All);
            assert!(
                all_ran.recv_timeout(NOT_YET).is_err(),
                "an undo ran beside a change"
            );
            // Claimed after the undo: served after it, though apart from the change.
            let (b_ran, b_end) = claim_on_thread(s, &tm, &ws, paths(&["b.txt"]));
            assert!(
                b_ran.recv_timeout(NOT_YET).is_err(),
                "a change overtook an undo"
            );
            a_end.send(()).unwrap();
            all_ran.recv_timeout(SOON).unwrap();
            assert!(
                b_ran.recv_timeout(NOT_YET).is_err(),
                "a change ran beside an undo"
            );
            all_end.send(()).unwrap();
            b_ran.recv_timeout(SOON).unwrap();
            b_end.send(()).unwrap();
        });
    }

    #[test]
    fn another_process_holding_the_lock_holds_up_every_claim_and_gets_its_turn() {
        let (_tmp, ws, tm) = machine();
        let other = std::fs::File::options()
            .write(true)
            .open(tm.dir().join("lock"))
            .unwrap();
        other.lock().unwrap();
        std::thread::scope(|s| {
            let (a_ran, a_end) = claim_on_thread(s, &tm, &ws, paths(&["a.txt"]));
            let (b_ran, b_end) = claim_on_thread(s, &tm, &ws, paths(&["b.txt"]));
            assert!(a_ran.recv_timeout(NOT_YET).is_err());
            assert!(b_ran.recv_timeout(NOT_YET).is_err());
            other.unlock().unwrap();
            a_ran.recv_timeout(SOON).unwrap();
            b_ran.recv_timeout(SOON).unwrap();
            // While a claim runs the file is held; once the last ends it is let go.
            assert!(matches!(
                other.try_lock(),
                Err(std::fs::TryLockError::WouldBlock)
            ));
            a_end.send(()).unwrap();
            b_end.send(()).unwrap();
        });
        other
            .try_lock()
            .expect("the lock was not let go after the last claim");
    }

    #[test]
    fn after_a_turn_of_claims_new_ones_wait_for_the_running_ones_then_run() {
        let (_tmp, ws, tm) = machine();
        std::thread::scope(|s| {
            let (a_ran, a_end) = claim_on_thread(s, &tm, &ws, paths(&["a.txt"]));
            a_ran.recv_timeout(SOON).unwrap();
            // The rest of a turn, on files apart, each ending at once while `a` runs.
            for i in 1..super::TURN {
                let name = format!("f{i}.txt");
                drop(tm.claim(paths(&[name.as_str()]), Some(&ws)).unwrap());
            }
            let (b_ran, b_end) = claim_on_thread(s, &tm, &ws, paths(&["b.txt"]));
            let (c_ran, c_end) = claim_on_thread(s, &tm, &ws, paths(&["c.txt"]));
            assert!(
                b_ran.recv_timeout(NOT_YET).is_err(),
                "a claim ran past the end of a turn while one still ran"
            );
            assert!(c_ran.recv_timeout(NOT_YET).is_err());
            // The last running claim ends: the waiting ones are woken and run together.
            a_end.send(()).unwrap();
            b_ran
                .recv_timeout(SOON)
                .expect("a claim waiting out the pause never ran");
            c_ran.recv_timeout(SOON).unwrap();
            b_end.send(()).unwrap();
            c_end.send(()).unwrap();
        });
    }

    #[test]
    fn a_change_that_did_not_finish_is_rolled_back_before_the_next_claim_runs() {
        let (_tmp, ws, tm) = machine();
        std::thread::scope(|s| {
            let (a_ran, a_end) = claim_on_thread(s, &tm, &ws, paths(&["a.txt"]));
            a_ran.recv_timeout(SOON).unwrap();
            {
                let mut unfinished = tm.claim(paths(&["b.txt"]), Some(&ws)).unwrap();
                unfinished.starts_change();
                // Dropped without settling, as when its thread unwinds mid-change.
            }
            let (c_ran, c_end) = claim_on_thread(s, &tm, &ws, paths(&["c.txt"]));
            assert!(
                c_ran.recv_timeout(NOT_YET).is_err(),
                "a claim ran before the unfinished change was rolled back"
            );
            a_end.send(()).unwrap();
            c_ran.recv_timeout(SOON).unwrap();
            c_end.send(()).unwrap();
        });
    }
}

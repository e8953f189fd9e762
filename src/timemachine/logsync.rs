//! How much of the write-ahead log is on disk.
//!
//! An intent is committed without a sync, and the change it announces may not start
//! before a sync of the log carries it. Any sync of the log that starts after a commit
//! returned carries that commit, whoever asks for it: an audit batch's sync, or the sync
//! queued for the intent itself. So each intent takes a number when it is committed, each
//! sync notes the last number taken before it starts, and an intent whose number a
//! finished sync covers needs no sync of its own. Under load, the audit batches' syncs
//! carry most intents and the queued syncs find nothing left to do.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Default)]
struct State {
    /// Intents committed so far.
    written: u64,
    /// Intents a finished sync carried.
    durable: u64,
    /// The last failed sync: what it should have carried, and why it failed.
    failed: Option<(u64, String)>,
}

/// The intents written to the log and the part of them on disk.
#[derive(Default)]
pub(super) struct LogSyncs {
    state: Mutex<State>,
    synced: Condvar,
}

impl LogSyncs {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an intent whose commit has returned; gives its number.
    pub(super) fn written(&self) -> u64 {
        let mut st = self.state();
        st.written += 1;
        st.written
    }

    /// Whether a finished sync carried intent `n`.
    pub(super) fn is_durable(&self, n: u64) -> bool {
        self.state().durable >= n
    }

    /// Syncs `log`, noting that it carries every intent counted before it starts.
    pub(super) fn sync(&self, log: &std::fs::File) -> io::Result<()> {
        self.run(|| log.sync_data())
    }

    /// Runs `sync`, a sync of the log, noting what it carries as [`sync`](Self::sync) does.
    pub(super) fn run(&self, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let upto = self.state().written;
        let outcome = sync();
        let mut st = self.state();
        match &outcome {
            Ok(()) => st.durable = st.durable.max(upto),
            Err(e) => st.failed = Some((upto, e.to_string())),
        }
        drop(st);
        self.synced.notify_all();
        outcome
    }

    /// Waits until a sync carried intent `n`; fails when the sync that should have
    /// carried it failed and none has since.
    pub(super) fn wait(&self, n: u64) -> io::Result<()> {
        let mut st = self.state();
        loop {
            if st.durable >= n {
                return Ok(());
            }
            if let Some((upto, why)) = &st.failed
                && *upto >= n
            {
                return Err(io::Error::other(why.clone()));
            }
            st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogSyncs;
    use std::sync::Arc;

    fn log() -> (tempfile::TempDir, std::fs::File) {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("log")).unwrap();
        (dir, f)
    }

    #[test]
    fn a_sync_carries_the_intents_written_before_it_and_not_after() {
        let (_dir, f) = log();
        let s = LogSyncs::default();
        let (a, b) = (s.written(), s.written());
        assert!(!s.is_durable(a));
        s.sync(&f).unwrap();
        assert!(s.is_durable(a) && s.is_durable(b));
        let c = s.written();
        assert!(
            !s.is_durable(c),
            "a sync that began before it cannot carry it"
        );
        s.sync(&f).unwrap();
        assert!(s.is_durable(c));
        s.wait(c).unwrap();
    }

    #[test]
    fn a_waiter_goes_on_once_any_sync_carries_its_intent() {
        let (_dir, f) = log();
        let s = Arc::new(LogSyncs::default());
        let n = s.written();
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.wait(n))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished(), "it went on before any sync");
        s.sync(&f).unwrap();
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn a_failed_sync_fails_the_intents_it_should_have_carried() {
        let s = LogSyncs::default();
        let n = s.written();
        let failed = s.run(|| Err(std::io::Error::other("injected")));
        assert!(failed.is_err());
        let err = s.wait(n).unwrap_err();
        assert!(err.to_string().contains("injected"));
        let (_dir, f) = log();
        let later = s.written();
        s.sync(&f).unwrap();
        s.wait(later).unwrap();
    }
}

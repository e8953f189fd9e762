//! Retention off the answer's path.
//!
//! Counting what the journal keeps reads every op holding an undo point, and expiring a
//! tenth of the limit deletes that many ops' images: a change that came to do either
//! answered a millisecond or more later than the others, every few dozen changes. A
//! long-running server hands that work to a thread of its own instead
//! ([`TimeMachine::retain_in_background`]): a change only adds itself to the estimate and,
//! when a count is due, wakes the thread. Short-lived processes (the command line) keep
//! doing it in the call.

use super::TimeMachine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Default)]
struct Chores {
    /// A count (and perhaps an expiry) is due.
    due: bool,
    /// The thread is to end, once what is due is done.
    closed: bool,
}

/// The signal between changes and the retention thread of one time machine.
#[derive(Default)]
pub(super) struct Housekeeping {
    on: AtomicBool,
    chores: Mutex<Chores>,
    wake: Condvar,
}

impl Housekeeping {
    fn chores(&self) -> MutexGuard<'_, Chores> {
        self.chores.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a thread does the retention work.
    pub(super) fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Tells the thread a count is due; false when no thread does the work (the caller
    /// does it then).
    pub(super) fn call(&self) -> bool {
        if !self.is_on() {
            return false;
        }
        let mut chores = self.chores();
        if !chores.due {
            chores.due = true;
            self.wake.notify_one();
        }
        true
    }
}

impl TimeMachine {
    /// Hands retention's counts and expiries to a thread the caller runs
    /// [`run_retention`](Self::run_retention) on, from now on. For long-running servers.
    pub fn retain_in_background(&self) {
        self.housekeeping.on.store(true, Ordering::Release);
    }

    /// Does retention's work each time a change says it is due, until
    /// [`stop_retention`](Self::stop_retention); what is due then is done before this
    /// returns. Failures are logged: the next change that finds a count due tries again.
    pub fn run_retention(&self) {
        let h = &self.housekeeping;
        loop {
            let mut chores = h.chores();
            while !chores.due && !chores.closed {
                chores = h.wake.wait(chores).unwrap_or_else(|p| p.into_inner());
            }
            let (due, closed) = (chores.due, chores.closed);
            chores.due = false;
            drop(chores);
            if due && let Err(e) = self.retain() {
                tracing::warn!(error = %e.message, "cannot apply the undo journal's retention limits");
            }
            if closed {
                return;
            }
        }
    }

    /// Ends [`run_retention`](Self::run_retention) once what is due is done.
    pub fn stop_retention(&self) {
        let h = &self.housekeeping;
        h.chores().closed = true;
        h.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use crate::timemachine::{Retention, TimeMachine};

    fn change(tm: &TimeMachine) {
        crate::timemachine::test_change(tm, 10);
    }

    fn undoable(tm: &TimeMachine) -> usize {
        crate::hooks::Journal::undoable(tm).unwrap()
    }

    #[test]
    fn a_server_changes_past_the_limit_without_expiring_and_its_thread_expires() {
        let (_tmp, _ws, tm) = crate::timemachine::test_machine(Retention {
            max_ops: 100,
            max_bytes: 1 << 30,
        });
        tm.retain_in_background();
        // No thread runs yet: the changes only say the work is due.
        for _ in 0..150 {
            change(&tm);
        }
        assert_eq!(undoable(&tm), 150, "a change did retention's work itself");
        std::thread::scope(|s| {
            let thread = s.spawn(|| tm.run_retention());
            // What was due is done before the thread ends.
            tm.stop_retention();
            thread.join().unwrap();
        });
        // Expired to a tenth below the limit, in several small transactions.
        assert_eq!(undoable(&tm), 90);
    }

    #[test]
    fn the_thread_expires_while_changes_go_on() {
        let (_tmp, _ws, tm) = crate::timemachine::test_machine(Retention {
            max_ops: 50,
            max_bytes: 1 << 30,
        });
        tm.retain_in_background();
        std::thread::scope(|s| {
            let thread = s.spawn(|| tm.run_retention());
            for _ in 0..400 {
                change(&tm);
            }
            tm.stop_retention();
            thread.join().unwrap();
        });
        let kept = undoable(&tm);
        assert!((45..=50).contains(&kept), "{kept} undo points kept");
    }
}

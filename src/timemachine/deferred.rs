//! Opening the time machine off the start-up path.
//!
//! A server should answer its client's first message at once; opening the state database
//! and rolling back interrupted calls take a while and compete with that answer for the
//! processor. [`Deferred`] is the pipeline's journal and audit log before the state is
//! open: the server starts the opening on a thread of its own once its first answer is
//! out ([`Journal::open_in_background`]); every call first waits for it
//! ([`Journal::ready`]), opening it itself if nothing has yet, so none runs before
//! recovery is done; a state that cannot be opened fails each call with the reason.

use super::{Retention, TimeMachine};
use crate::error::CapError;
use crate::hooks::{
    AuditEvent, AuditSink, CallIntent, Journal, JournalOp, OpId, OpInfo, PrincipalSummary,
    SessionSummary, UndoRequest,
};
use crate::sandbox::Workspace;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

struct Opener {
    home: PathBuf,
    ws: Workspace,
    retention: Retention,
    state: OnceLock<Result<TimeMachine, CapError>>,
    /// The thread applying retention (see [`TimeMachine::run_retention`]).
    retainer: Mutex<Option<JoinHandle<()>>>,
}

impl Opener {
    /// The open time machine; whoever comes first opens it, the others wait for that.
    fn get(self: &Arc<Self>) -> Result<&TimeMachine, CapError> {
        self.state
            .get_or_init(|| {
                let tm = TimeMachine::open(&self.home, &self.ws, self.retention)?;
                // A server lives long: the log's checkpoints run off the calls' path
                // (SQLite's own ones stay on should the thread not start).
                if let Err(e) = tm.checkpoint_in_background() {
                    tracing::warn!(error = %e.message, "cannot checkpoint the state database's log in the background");
                }
                // So do retention's counts and expiries (in the call should the thread
                // not start).
                let opener = self.clone();
                match std::thread::Builder::new()
                    .name("airun-retention".into())
                    .spawn(move || {
                        if let Ok(tm) = opener.state.wait() {
                            tm.run_retention();
                        }
                    }) {
                    Ok(thread) => {
                        tm.retain_in_background();
                        *self.retainer.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot apply retention in the background");
                    }
                }
                Ok(tm)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Ends the retention thread once what is due is done.
    fn stop_retention(&self) {
        let thread = self
            .retainer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(thread), Some(Ok(tm))) = (thread, self.state.get()) {
            tm.stop_retention();
            let _ = thread.join();
        }
    }
}

/// A time machine being opened in the background.
pub struct Deferred {
    opener: Arc<Opener>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Deferred {
    /// A time machine of `ws` under `home`, opened by the first call that needs it or,
    /// sooner, by [`Journal::open_in_background`].
    pub fn new(home: PathBuf, ws: &Workspace, retention: Retention) -> Result<Self, CapError> {
        Ok(Deferred {
            opener: Arc::new(Opener {
                home,
                ws: ws.try_clone()?,
                retention,
                state: OnceLock::new(),
                retainer: Mutex::new(None),
            }),
            thread: Mutex::new(None),
        })
    }

    /// The time machine, once open (waits for the opening).
    pub fn get(&self) -> Result<&TimeMachine, CapError> {
        self.opener.get()
    }

    /// Whether the time machine is open, without waiting: `None` while it is being
    /// opened (or nothing started opening it), else the outcome.
    pub fn status(&self) -> Option<Result<(), CapError>> {
        self.opener
            .state
            .get()
            .map(|r| r.as_ref().map(|_| ()).map_err(Clone::clone))
    }

    /// Waits for the background opening to end, so the process never exits in the middle
    /// of it. Does not open the state if that has not started.
    pub fn finish(&self) {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        self.finish();
        self.opener.stop_retention();
        // A long-running server leaves a short log behind, so the next start is quick.
        if let Some(Ok(tm)) = self.opener.state.get() {
            tm.wait_all_folders();
            tm.settle.now_or_report();
            tm.flush();
            if let Err(e) = tm.trim_wal() {
                tracing::warn!(error = %e.message, "cannot trim the state database's log");
            }
        }
    }
}

impl Journal for Deferred {
    fn ready(&self) -> Result<(), CapError> {
        self.get().map(|_| ())
    }

    fn open_in_background(&self) {
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if thread.is_some() || self.opener.state.get().is_some() {
            return;
        }
        let opener = self.opener.clone();
        *thread = std::thread::Builder::new()
            .name("airun-state".into())
            .spawn(move || {
                match opener.get().and_then(|tm| tm.trim_wal()) {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::error!(error = %e.message, "cannot open the undo journal and audit log");
                    }
                }
            })
            .ok();
    }

    fn begin<'a>(
        &'a self,
        ws: &'a Workspace,
        intent: &CallIntent<'_>,
    ) -> Result<Option<Box<dyn JournalOp + 'a>>, CapError> {
        self.get()?.begin(ws, intent)
    }

    fn durable(&self, op: OpId) {
        if let Some(Ok(tm)) = self.opener.state.get() {
            tm.durable(op);
        }
    }

    fn undo(&self, ws: &Workspace, req: UndoRequest) -> Result<Vec<OpInfo>, CapError> {
        self.get()?.undo(ws, req)
    }

    fn redo(&self, ws: &Workspace, steps: usize) -> Result<Vec<OpInfo>, CapError> {
        self.get()?.redo(ws, steps)
    }

    fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        self.get()?.history(limit)
    }

    fn undoable(&self) -> Result<usize, CapError> {
        self.get()?.undoable()
    }

    fn session_history(&self, session: &str, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        self.get()?.session_history(session, limit)
    }

    fn sessions(&self) -> Result<Vec<SessionSummary>, CapError> {
        self.get()?.sessions()
    }

    fn redo_of(
        &self,
        ws: &Workspace,
        steps: usize,
        principal: Option<&str>,
    ) -> Result<Vec<OpInfo>, CapError> {
        self.get()?.redo_of(ws, steps, principal)
    }

    fn history_of(&self, principal: Option<&str>, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        self.get()?.history_of(principal, limit)
    }

    fn sessions_of(&self, principal: Option<&str>) -> Result<Vec<SessionSummary>, CapError> {
        self.get()?.sessions_of(principal)
    }

    fn principals(&self) -> Result<Vec<PrincipalSummary>, CapError> {
        self.get()?.principals()
    }
}

impl AuditSink for Deferred {
    fn tail(&self, limit: usize) -> Result<Vec<serde_json::Value>, CapError> {
        self.get()?.tail(limit)
    }

    fn record(&self, event: &AuditEvent<'_>) {
        match self.get() {
            Ok(tm) => tm.record(event),
            Err(e) => eprintln!("airun: could not write the audit record: {}", e.message),
        }
    }

    fn record_read(&self, event: &AuditEvent<'_>) {
        match self.get() {
            Ok(tm) => tm.record_read(event),
            Err(e) => eprintln!("airun: could not write the audit record: {}", e.message),
        }
    }

    fn flush(&self) {
        if let Some(Ok(tm)) = self.opener.state.get() {
            tm.wait_all_folders();
            tm.settle.now_or_report();
            tm.flush();
        }
    }
}

//! Powers by construction.
//!
//! A handler receives a [`Ctx`] whose type parameters say which powers its spec declared:
//! `Ctx<'_, R, W, D, NR, NW, X, S, M>` with each parameter [`Yes`] or [`No`] for filesystem
//! read, write, delete, network read, network write, exec, system facts (and airun's
//! history) and state mutation (undo). The methods of
//! a power exist only on contexts that have it, so a handler calling an undeclared power
//! does not compile. Only the pipeline can make a context (it needs an [`Env`], which
//! handlers never see).

pub mod bwrap;
pub mod exec;
mod fs;
mod history;
mod net;
mod set;
mod sys;

pub use exec::{ExecOutcome, ExecRequest};
pub(crate) use fs::open_regular;
pub use fs::{EntryInfo, EntryKind, ReadHandle, WriteMode, WriteOutcome, WriteSink};
pub use fs::{StagedFile, WalkEntry, WalkFlow, WalkOptions, WalkStats};
pub use net::{
    HttpRequest, HttpResponse, MAX_REDIRECTS, SENSITIVE_HEADERS, SendMethod, address_class,
};
pub use set::{CapabilitySet, PrecheckFn, precheck, precheck_of};
pub use sys::OsFacts;

use crate::error::{CapError, ErrorKind};
use crate::sandbox::Workspace;
use crate::settings::Settings;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The power is granted.
#[derive(Debug)]
pub enum Yes {}
/// The power is not granted.
#[derive(Debug)]
pub enum No {}

/// Progress reports from a running call: done so far, total if known, and a short message.
pub type ProgressFn<'a> = &'a (dyn Fn(u64, Option<u64>, &str) + Sync);

/// What the pipeline hands the dispatch for one call. Handlers never see it.
pub struct Env<'a> {
    pub(crate) workspace: &'a Workspace,
    pub(crate) settings: &'a Settings,
    pub(crate) deadline: Instant,
    pub(crate) cancel: &'a AtomicBool,
    pub(crate) progress: Option<ProgressFn<'a>>,
    pub(crate) journal: &'a dyn crate::hooks::Journal,
    /// Path inputs the sandbox stage resolved, reused by the handler's first lookups.
    /// The pipeline fills it only for calls that change nothing and need no confirmation,
    /// so no slow step (a person, a snapshot) sits between the check and the use.
    pub(crate) resolved: &'a [(crate::WsPath, crate::Access, crate::sandbox::Resolved)],
}

/// The type-level list of a context's powers.
type Powers<R, W, D, NR, NW, X, S, M> = fn() -> (R, W, D, NR, NW, X, S, M);

/// The context a handler runs in, carrying exactly the powers its spec declares.
pub struct Ctx<'a, R, W, D, NR, NW, X, S, M> {
    env: &'a Env<'a>,
    // Eight type-level flags are the design: one per power.
    #[allow(clippy::type_complexity)]
    _powers: PhantomData<Powers<R, W, D, NR, NW, X, S, M>>,
}

impl<'a, R, W, D, NR, NW, X, S, M> Ctx<'a, R, W, D, NR, NW, X, S, M> {
    /// Made by the generated dispatch from the pipeline's [`Env`].
    #[doc(hidden)]
    pub fn grant(env: &'a Env<'a>) -> Self {
        Ctx {
            env,
            _powers: PhantomData,
        }
    }

    /// Returns an error when the call is past its time limit or was cancelled. Long loops
    /// call this between steps so a call stops cleanly.
    pub fn checkpoint(&self) -> Result<(), CapError> {
        if self.env.cancel.load(Ordering::Relaxed) {
            return Err(CapError::new(
                ErrorKind::Cancelled,
                "the call was cancelled",
            ));
        }
        if Instant::now() >= self.env.deadline {
            return Err(
                CapError::new(ErrorKind::Timeout, "the call ran past its time limit")
                    .with_hint("narrow the request (fewer files, a smaller range) and try again"),
            );
        }
        Ok(())
    }

    /// Reports progress to whoever is watching (an MCP client with a progress token).
    pub fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        if let Some(p) = self.env.progress {
            p(done, total, message);
        }
    }
}

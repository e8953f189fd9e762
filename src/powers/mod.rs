//! Powers by construction.
//!
//! A handler receives a [`Ctx<'_, P>`](Ctx) whose marker type `P` is generated for its
//! capability (`io.fs.read_file` gets `IoFsReadFile`) and implements one power trait per
//! side effect its spec declares: [`FsRead`], [`FsWrite`], [`FsDelete`], [`NetRead`],
//! [`NetWrite`], [`Exec`], [`SysRead`] (system facts and airun's history) and
//! [`StateMutation`] (undo). Each power's methods require its trait, so a handler calling
//! an undeclared power does not compile, and the error names the capability's marker and
//! the side effect to declare. Only the pipeline can make a context (it needs an
//! [`Env`], which handlers never see).

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

/// Reading files and folders: declared by `filesystem_read`, and implied by
/// `filesystem_write` and `filesystem_delete`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not read files: its spec declares no filesystem side effect",
    label = "needs `filesystem_read` in the spec",
    note = "declare `filesystem_read` (or `filesystem_write` / `filesystem_delete`) in the spec's contracts.side_effects"
)]
pub trait FsRead {}

/// Creating and changing files and folders: declared by `filesystem_write`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not write files: its spec does not declare `filesystem_write`",
    label = "needs `filesystem_write` in the spec",
    note = "declare `filesystem_write` in the spec's contracts.side_effects"
)]
pub trait FsWrite: FsRead {}

/// Removing files and folders: declared by `filesystem_delete`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not delete files: its spec does not declare `filesystem_delete`",
    label = "needs `filesystem_delete` in the spec",
    note = "declare `filesystem_delete` in the spec's contracts.side_effects"
)]
pub trait FsDelete: FsRead {}

/// Fetching over the network: declared by `network_read`, implied by `network_write`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not use the network: its spec declares no network side effect",
    label = "needs `network_read` in the spec",
    note = "declare `network_read` (or `network_write`) in the spec's contracts.side_effects"
)]
pub trait NetRead {}

/// Sending data over the network: declared by `network_write`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not send data over the network: its spec does not declare `network_write`",
    label = "needs `network_write` in the spec",
    note = "declare `network_write` in the spec's contracts.side_effects"
)]
pub trait NetWrite: NetRead {}

/// Running programs: declared by `system_exec`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not run programs: its spec does not declare `system_exec`",
    label = "needs `system_exec` in the spec",
    note = "declare `system_exec` in the spec's contracts.side_effects"
)]
pub trait Exec {}

/// Reading facts about the system (OS, allowed environment variables, the clock) and
/// airun's history: declared by `system_read`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not read system facts or airun's history: its spec does not declare `system_read`",
    label = "needs `system_read` in the spec",
    note = "declare `system_read` in the spec's contracts.side_effects"
)]
pub trait SysRead {}

/// Moving through airun's history (undo): declared by `state_mutation`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may not undo operations: its spec does not declare `state_mutation`",
    label = "needs `state_mutation` in the spec",
    note = "declare `state_mutation` in the spec's contracts.side_effects"
)]
pub trait StateMutation {}

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
    /// The journal's record of this call, when it keeps an undo point: the first change
    /// the workspace can show waits for that undo point to be on disk.
    pub(crate) op: Option<&'a (dyn crate::hooks::JournalOp + 'a)>,
    /// Who makes the call; `None` for the operator. The model's history and undo
    /// (`sys.history`, `sys.undo`) see only this principal's operations.
    pub(crate) principal: Option<&'a str>,
    /// Path inputs the sandbox stage resolved, reused by the handler's first lookups.
    /// The pipeline fills it only for calls that change nothing and need no confirmation,
    /// so no slow step (a person, a snapshot) sits between the check and the use.
    pub(crate) resolved: &'a [(crate::WsPath, crate::Access, crate::sandbox::Resolved)],
}

/// The context a handler runs in, carrying exactly the powers its spec declares: those
/// whose traits the capability's marker `P` implements.
pub struct Ctx<'a, P> {
    env: &'a Env<'a>,
    _powers: PhantomData<fn() -> P>,
}

impl<'a, P> Ctx<'a, P> {
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

    /// Waits until the call's undo point is on disk. Every power that changes what the
    /// workspace shows calls it before that change; a handler never needs to.
    pub(crate) fn before_change(&self) -> Result<(), CapError> {
        match self.env.op {
            Some(op) => op.before_change(),
            None => Ok(()),
        }
    }

    /// Whether a file this call writes must be synced before it takes its name: unless
    /// the journal keeps its content durable (see [`JournalOp::keeps_content`]).
    ///
    /// [`JournalOp::keeps_content`]: crate::hooks::JournalOp::keeps_content
    pub(crate) fn sync_writes(&self) -> bool {
        self.env.op.is_none_or(|op| !op.keeps_content())
    }

    /// Reports progress to whoever is watching (an MCP client with a progress token).
    pub fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        if let Some(p) = self.env.progress {
            p(done, total, message);
        }
    }
}

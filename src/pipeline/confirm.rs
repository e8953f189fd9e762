//! The confirmation stage: who approves a call that needs a person's yes.

use crate::catalog::Capability;
use crate::error::{CapError, ErrorKind};
pub use crate::hooks::ApprovedBy;
use crate::settings::Settings;
use std::io::{BufRead, IsTerminal, Write};

/// Whether a call needs a person's yes: the one rule the pipeline and the adapters share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The call runs without asking: its spec asks no confirmation, or its params make it
    /// change nothing (a dry run).
    NotNeeded,
    /// The spec asks for confirmation and the operator's `auto_approve` list gives it.
    ByPolicy,
    /// A person must approve the call.
    Ask,
}

/// Whether a call of `cap` needs a person's yes under `settings`; `changes_nothing` is
/// true when its params make it a call that changes nothing (see
/// [`Params::changes_nothing`](crate::catalog::Params::changes_nothing)).
pub fn needs_confirmation(
    settings: &Settings,
    cap: &Capability,
    changes_nothing: bool,
) -> Confirmation {
    if !cap.requires_confirmation || changes_nothing {
        Confirmation::NotNeeded
    } else if settings.auto_approves(cap) {
        Confirmation::ByPolicy
    } else {
        Confirmation::Ask
    }
}

/// What a person is asked to approve.
#[derive(Debug)]
pub struct ConfirmRequest<'a> {
    /// The capability.
    pub capability: &'static Capability,
    /// The parameters, with sensitive values hidden.
    pub params: &'a serde_json::Value,
    /// Who makes the call (a user's name); `None` is the operator.
    pub principal: Option<&'a str>,
}

impl ConfirmRequest<'_> {
    /// The prompt text: id, description, parameters, undo strategy.
    pub fn render(&self) -> String {
        let c = self.capability;
        let params = serde_json::to_string_pretty(self.params).unwrap_or_default();
        let undo = match c.undo_strategy {
            crate::UndoStrategy::RestoreFromBackup => "can be undone with `airun undo`",
            crate::UndoStrategy::Irreversible => "CANNOT be undone",
            crate::UndoStrategy::None => "changes nothing",
            crate::UndoStrategy::Journal => "can be reversed with `airun redo` / `airun undo`",
        };
        format!(
            "airun: `{}` wants to run.\n  {}\n  parameters: {}\n  undo: this call {undo}.\n",
            c.id,
            c.description,
            params.replace('\n', "\n  ")
        )
    }
}

/// Asks for approval.
pub trait Confirmer: Send + Sync {
    /// Approves (saying by whom) or returns a `Declined` error.
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError>;
}

/// The declined error with the hint on how to approve.
pub fn declined(message: impl Into<String>, hint: &str) -> CapError {
    CapError::new(ErrorKind::Declined, message).with_hint(hint)
}

/// The CLI's confirmer: `--yes` approves; otherwise a prompt on the terminal; with no
/// terminal, declined.
#[derive(Debug, Clone, Copy)]
pub struct TerminalConfirmer {
    /// The operator passed `--yes`.
    pub yes: bool,
}

impl Confirmer for TerminalConfirmer {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        if self.yes {
            return Ok(ApprovedBy::Flag);
        }
        let stdin = std::io::stdin();
        if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
            return Err(declined(
                format!(
                    "`{}` needs confirmation and there is no terminal to ask",
                    request.capability.id
                ),
                "pass --yes to approve, or add the id to the operator's auto_approve list",
            ));
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{}Approve? [y/N] ", request.render());
        let _ = err.flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).is_err() {
            return Err(declined(
                "could not read the answer",
                "pass --yes to approve",
            ));
        }
        if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            Ok(ApprovedBy::Tty)
        } else {
            Err(declined(
                format!("`{}` was declined at the prompt", request.capability.id),
                "nothing was changed",
            ))
        }
    }
}

/// A confirmer that approves nothing (servers without a way to ask).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConfirmer;

impl Confirmer for NoConfirmer {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        Err(declined(
            format!(
                "`{}` needs confirmation and nobody can be asked",
                request.capability.id
            ),
            "the operator can pre-approve it with the auto_approve list or --yes",
        ))
    }
}

/// A confirmer that approves everything as the operator's flag (`--yes`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlagConfirmer;

impl Confirmer for FlagConfirmer {
    fn confirm(&self, _: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        Ok(ApprovedBy::Flag)
    }
}

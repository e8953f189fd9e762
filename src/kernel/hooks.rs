//! Hook points of the call pipeline where the undo journal and the audit log attach.
//!
//! The kernel calls [`Journal::begin`] after confirmation and before the handler (intent
//! record and before-images of the spec's undo targets), [`Journal::finish`] after it
//! (after-image and commit), and [`AuditSink::record`] exactly once per call, whatever
//! its outcome. The defaults do nothing.

use crate::catalog::Capability;
use crate::error::CapError;
use crate::kernel::confirm::ApprovedBy;
use crate::sandbox::Resolved;
use serde::Serialize;

/// A mutating call about to run.
#[derive(Debug)]
pub struct CallIntent<'a> {
    /// The capability.
    pub capability: &'static Capability,
    /// Parameters with sensitive values hidden.
    pub params: &'a serde_json::Value,
    /// The resolved undo targets (input name, path).
    pub undo_targets: Vec<(&'static str, Resolved)>,
}

/// An id the journal gives a recorded operation.
pub type OpId = String;

/// The undo journal.
pub trait Journal: Send + Sync {
    /// Records the intent and before-images; returns the operation id, if any.
    fn begin(&self, intent: &CallIntent<'_>) -> Result<Option<OpId>, CapError>;
    /// Records the outcome (after-images and commit on success, rollback record otherwise).
    fn finish(&self, op: &OpId, outcome: Result<&serde_json::Value, &CapError>);
}

/// The journal that records nothing.
#[derive(Debug, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn begin(&self, _: &CallIntent<'_>) -> Result<Option<OpId>, CapError> {
        Ok(None)
    }
    fn finish(&self, _: &OpId, _: Result<&serde_json::Value, &CapError>) {}
}

/// The decision the pipeline took on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Needed no approval.
    Allowed,
    /// Approved by someone.
    Approved(ApprovedBy),
    /// Refused by the operator's settings.
    DeniedPolicy,
    /// Refused by the sandbox.
    DeniedSandbox,
    /// Nobody approved it.
    Declined,
    /// Never got as far as a decision (unknown name or invalid arguments).
    Invalid,
}

/// One finished call, for the audit log.
#[derive(Debug, Serialize)]
pub struct AuditEvent<'a> {
    /// The capability id, or the name as given when it is unknown.
    pub capability: &'a str,
    /// Parameters with sensitive values hidden (null when they did not parse).
    pub params: serde_json::Value,
    /// What the pipeline decided.
    pub decision: Decision,
    /// `ok`, or the error kind.
    pub outcome: &'a str,
    /// Wall time of the whole call.
    pub duration_ms: u64,
    /// The journal's operation id, for mutating calls.
    pub op: Option<&'a str>,
}

/// The audit log.
pub trait AuditSink: Send + Sync {
    /// Records one finished call.
    fn record(&self, event: &AuditEvent<'_>);
}

/// The audit sink that records nothing.
#[derive(Debug, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _: &AuditEvent<'_>) {}
}

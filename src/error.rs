//! The one error type every stage of a call returns, with its kind and exit code.

use serde::Serialize;
use std::fmt;

/// What went wrong, in classes that map to exit codes and MCP error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The call's name or arguments are not what the spec declares (exit 2).
    InvalidInput,
    /// The operator's settings do not allow this capability (exit 3).
    DeniedPolicy,
    /// The sandbox refused a path (exit 3).
    DeniedSandbox,
    /// Nobody approved a call that needs confirmation (exit 4).
    Declined,
    /// A file or folder the call needs does not exist (exit 1).
    NotFound,
    /// The target exists and the call was told not to replace it (exit 1).
    AlreadyExists,
    /// The call ran past its time limit (exit 1).
    Timeout,
    /// The call was cancelled (exit 1).
    Cancelled,
    /// The call could not do its work (exit 1).
    Execution,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidInput,
        ErrorKind::DeniedPolicy,
        ErrorKind::DeniedSandbox,
        ErrorKind::Declined,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::Execution,
    ];

    /// The process exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidInput => 2,
            ErrorKind::DeniedPolicy | ErrorKind::DeniedSandbox => 3,
            ErrorKind::Declined => 4,
            _ => 1,
        }
    }

    /// The snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::DeniedPolicy => "denied_policy",
            ErrorKind::DeniedSandbox => "denied_sandbox",
            ErrorKind::Declined => "declined",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Execution => "execution",
        }
    }
}

/// An error from any stage of a call: a kind, a message saying what was wrong, the input
/// field it concerns (when there is one) and a hint saying what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapError {
    /// The class of error.
    pub kind: ErrorKind,
    /// What was wrong, in one sentence.
    pub message: String,
    /// The input field concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What to do instead, if there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl CapError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CapError {
            kind,
            message: message.into(),
            field: None,
            hint: None,
        }
    }

    /// An invalid-input error about one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        CapError::new(
            ErrorKind::InvalidInput,
            format!("`{field}` {}", message.into()),
        )
        .with_field(field)
    }

    /// An execution error.
    pub fn execution(message: impl Into<String>) -> Self {
        CapError::new(ErrorKind::Execution, message)
    }

    /// Attaches the input field concerned.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Attaches a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CapError {}

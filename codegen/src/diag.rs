//! Build diagnostics: `file:line:col: message`.

use serde_saphyr::Location;
use std::fmt;

/// One mistake found in a spec, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The spec file as shown to the user, e.g. `specs/io.fs.read_file.yaml`.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// A plain sentence saying what is wrong and what to do.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a saphyr location.
    pub fn at(file: &str, loc: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

//! Adapters: the ways AI models reach the pipeline.
//!
//! - [`mcp`]: a Model Context Protocol server (stdio and Streamable HTTP) over the pipeline's
//!   catalog, with elicitation for confirmation, progress and cancellation.
//! - [`openai`]: OpenAI function calling (Chat Completions and Responses): strict tool
//!   lists, and a call path that turns the model's tool calls into tool messages.
//! - [`rest`]: the REST API under `/api/v1` for scripts and the operator's console: calls,
//!   history, audit, the live events feed and the calls waiting for a person's yes.
//! - [`console`]: the operator's web console at `/` (a page, a script and a stylesheet
//!   built into the binary) over the REST API.
//!
//! Every call goes through [`Pipeline::execute`](crate::pipeline::Pipeline::execute): the same
//! validation, permission, sandbox, confirmation, undo journal and audit as the CLI.

pub mod console;
pub mod mcp;
pub mod openai;
pub mod rest;

use crate::error::CapError;
use serde_json::{Value, json};

/// A failed call as a model reads it: one paragraph with what was wrong, which input it
/// concerns and what to do instead.
pub fn error_text(e: &CapError) -> String {
    let mut out = format!("error ({}): {}", e.kind.as_str(), e.message);
    if let Some(f) = &e.field {
        out.push_str(&format!("\nfield: {f}"));
    }
    if let Some(h) = &e.hint {
        out.push_str(&format!("\nhint: {h}"));
    }
    out
}

/// A failed call as JSON: `{"kind", "message", "field"?, "hint"?}`.
pub fn error_json(e: &CapError) -> Value {
    let mut err = json!({"kind": e.kind.as_str(), "message": e.message});
    if let Some(f) = &e.field {
        err["field"] = json!(f);
    }
    if let Some(h) = &e.hint {
        err["hint"] = json!(h);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn error_text_names_field_and_hint() {
        let e = CapError::invalid_field("path", "must be relative").with_hint("drop the leading /");
        let t = error_text(&e);
        assert!(t.contains("invalid_input"));
        assert!(t.contains("field: path"));
        assert!(t.contains("hint: drop the leading /"));
        let j = error_json(&CapError::new(ErrorKind::Declined, "no"));
        assert_eq!(j, json!({"kind": "declined", "message": "no"}));
    }
}

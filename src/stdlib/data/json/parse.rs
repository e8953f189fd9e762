//! `data.json.parse`.

use crate::error::CapError;
use crate::stdlib::generated::data::json::{ParseCtx, ParseParams, ParseResult};

/// `data.json.parse`: parses `text` as JSON and returns the value it holds.
///
/// Invalid JSON is an invalid-input error on `text` whose message gives serde_json's
/// description of the problem with its line and column (both 1-based).
pub fn parse(_ctx: &mut ParseCtx<'_>, p: ParseParams) -> Result<ParseResult, CapError> {
    let value: serde_json::Value = serde_json::from_str(&p.text).map_err(|e| {
        CapError::invalid_field(
            "text",
            format!(
                "is not valid JSON: {} (line {}, column {})",
                describe(&e),
                e.line(),
                e.column()
            ),
        )
        .with_hint("fix the JSON at that position (quotes around keys and strings, no trailing commas, no comments) and try again")
    })?;
    Ok(ParseResult { value })
}

/// serde_json's message without its trailing ` at line L column C` (given separately).
fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&suffix) {
        Some(what) => what.to_string(),
        None => full,
    }
}

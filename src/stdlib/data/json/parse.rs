//! `data.json.*` handlers.

use crate::error::CapError;
use crate::stdlib::generated::data::json::*;

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

/// `data.json.stringify`: writes `value` as JSON text, compact or pretty-printed with a
/// two-space indent. With `sort_keys`, object keys are sorted (by Unicode code point) at
/// every level; otherwise they keep the order they were given in.
pub fn stringify(
    _ctx: &mut StringifyCtx<'_>,
    p: StringifyParams,
) -> Result<StringifyResult, CapError> {
    let mut value = p.value;
    if p.sort_keys {
        // serde_json keeps insertion order (`preserve_order`), so sort explicitly.
        value.sort_all_objects();
    }
    let text = if p.pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .map_err(|e| CapError::execution(format!("cannot write the value as JSON text: {e}")))?;
    Ok(StringifyResult { text })
}

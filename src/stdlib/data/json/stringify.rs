//! `data.json.stringify`.

use crate::error::CapError;
use crate::stdlib::generated::data::json::{StringifyCtx, StringifyParams, StringifyResult};

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

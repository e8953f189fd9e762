//! `data.json.pointer`.

use crate::error::CapError;
use crate::stdlib::generated::data::json::{PointerCtx, PointerParams, PointerResult};

/// `data.json.pointer`: the value `pointer` (RFC 6901) names inside the JSON `text`.
///
/// Invalid JSON and a pointer that is neither empty nor starts with `/` are invalid-input
/// errors; a well-formed pointer that names nothing is `found: false`.
pub fn pointer(_ctx: &mut PointerCtx<'_>, p: PointerParams) -> Result<PointerResult, CapError> {
    if !p.pointer.is_empty() && !p.pointer.starts_with('/') {
        return Err(CapError::invalid_field(
            "pointer",
            format!("`{}` is not a JSON Pointer: it must be empty or start with `/`", p.pointer),
        )
        .with_hint("write the path from the root, e.g. /items/0/name (~1 stands for / and ~0 for ~ inside a key)"));
    }
    let doc: serde_json::Value = serde_json::from_str(&p.text).map_err(|e| {
        CapError::invalid_field("text", format!("is not valid JSON: {e}"))
            .with_hint("data.json.parse reports where the JSON is broken; fix it and try again")
    })?;
    Ok(match doc.pointer(&p.pointer) {
        Some(v) => PointerResult {
            found: true,
            value: v.clone(),
        },
        None => PointerResult {
            found: false,
            value: serde_json::Value::Null,
        },
    })
}

//! Results that carry a file's bytes become MCP media content.
//!
//! The choice is made on the result's shape, not on the capability: an object with a
//! `media_type` string and base64 `data` (as `io.fs.read_media` returns) is sent as image
//! content for the image types models read (PNG, JPEG, GIF, WebP), as audio content for
//! audio (from protocol 2025-03-26 on), and otherwise as an embedded resource: text for
//! text types such as SVG, a blob for the rest. A text block with the other fields follows.
//! `structuredContent` keeps the whole result, valid against the output schema, for
//! protocols that have it (2025-06-18 on).
//!
//! Any other result is `structuredContent` plus the same JSON as text, as MCP asks for
//! backwards compatibility, except when a text field of the result is large (from
//! [`LARGE_TEXT`] bytes, e.g. a whole-file read): the content then goes out once.
//!
//! - From 2025-06-18 on, `structuredContent` carries the whole result (the tool declares
//!   an output schema, so it must), and the text block carries the same JSON with each
//!   large text replaced by a short note saying where it is and how to page through it.
//! - Before 2025-06-18, clients know only the text block: it carries the whole JSON, and
//!   there is no `structuredContent`.

use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock, ProtocolVersion, ResourceContents};
use serde_json::Value;
use std::path::Path;

/// Bytes from which a text field of a result is sent once (see the module docs).
pub const LARGE_TEXT: usize = 1 << 20;

/// The MCP result for a successful call's JSON `value`.
pub fn call_result(value: Value, protocol: Option<&str>, root: &Path) -> CallToolResult {
    let Some(block) = media_block(&value, protocol, root) else {
        return plain_result(value, protocol);
    };
    let mut rest = value.clone();
    if let Some(o) = rest.as_object_mut() {
        o.remove("data");
    }
    let mut result = CallToolResult::success(vec![block, ContentBlock::text(rest.to_string())]);
    if has_structured(protocol) {
        result.structured_content = Some(value);
    }
    result
}

/// Whether the client's protocol has `structuredContent` (2025-06-18 on; an unknown
/// protocol is taken to be the newest).
fn has_structured(protocol: Option<&str>) -> bool {
    protocol.is_none_or(|v| v >= ProtocolVersion::V_2025_06_18.as_str())
}

/// The top-level text fields of `value` of [`LARGE_TEXT`] bytes or more, with their
/// sizes.
pub fn large_texts(value: &Value) -> Vec<(&str, usize)> {
    match value {
        Value::Object(o) => o
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) if s.len() >= LARGE_TEXT => Some((k.as_str(), s.len())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A result that is not media: structured content and JSON text, large texts once.
fn plain_result(value: Value, protocol: Option<&str>) -> CallToolResult {
    let large = large_texts(&value);
    if large.is_empty() {
        return CallToolResult::structured(value);
    }
    if !has_structured(protocol) {
        return CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    }
    let mut text = serde_json::Map::new();
    if let Value::Object(o) = &value {
        for (k, v) in o {
            let v = match large.iter().find(|(name, _)| name == k) {
                Some((_, bytes)) => Value::String(format!(
                    "({bytes} bytes, sent once: in structuredContent.{k}. To read it as text, \
                     ask for pages of at most {LARGE_TEXT} bytes.)"
                )),
                None => v.clone(),
            };
            text.insert(k.clone(), v);
        }
    }
    let mut result =
        CallToolResult::success(vec![ContentBlock::text(Value::Object(text).to_string())]);
    result.structured_content = Some(value);
    result
}

/// The content block for a media-shaped result, or `None` for any other result.
fn media_block(value: &Value, protocol: Option<&str>, root: &Path) -> Option<ContentBlock> {
    let obj = value.as_object()?;
    let media_type = obj.get("media_type")?.as_str()?;
    let data = obj.get("data")?.as_str()?;
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if matches!(
        essence.as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    ) {
        return Some(ContentBlock::image(data, media_type));
    }
    let has_audio = protocol.is_none_or(|v| v >= ProtocolVersion::V_2025_03_26.as_str());
    if essence.starts_with("audio/") && has_audio {
        return Some(ContentBlock::audio(data, media_type));
    }
    let uri = obj
        .get("path")
        .and_then(Value::as_str)
        .map(|p| file_uri(root, p))
        .unwrap_or_else(|| "file:///".to_string());
    let text = is_text(&essence)
        .then(|| base64::engine::general_purpose::STANDARD.decode(data).ok())
        .flatten()
        .and_then(|b| String::from_utf8(b).ok());
    let contents = match text {
        Some(text) => ResourceContents::TextResourceContents {
            uri,
            mime_type: Some(media_type.to_string()),
            text,
            meta: None,
        },
        None => ResourceContents::blob(data, uri).with_mime_type(media_type),
    };
    Some(ContentBlock::resource(contents))
}

fn is_text(essence: &str) -> bool {
    essence.starts_with("text/")
        || essence.ends_with("+xml")
        || essence.ends_with("+json")
        || matches!(essence, "application/json" | "application/xml")
}

/// The `file://` URL of a workspace-relative path.
fn file_uri(root: &Path, rel: &str) -> String {
    let abs = if rel == "." {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    url::Url::from_file_path(&abs)
        .map(String::from)
        .unwrap_or_else(|_| format!("file://{}", abs.display()))
}

//! Writing a large tool result as one line of JSON without a second copy of its texts.
//!
//! A result's large texts (text content, or top-level texts of the structured content,
//! of [`LARGE_FROM`] bytes or more) are taken out of the message and a marker put in
//! each one's place; the rest of the message is serialized by serde_json, and each text
//! is escaped into the line where its marker stands, a chunk at a time, with SIMD.
//! serde_json escapes a string a byte at a time: for a 50 MiB file read that was a
//! quarter of the server's time.

use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, JsonRpcMessage, ServerResult};
use rmcp::service::TxJsonRpcMessage;
use serde_json::Value;
use std::io::{self, Write};

/// Texts from this many bytes are escaped on their own.
pub const LARGE_FROM: usize = 64 * 1024;

/// Bytes of a text escaped at a time (less at the end of a character).
const CHUNK: usize = 256 * 1024;

/// Where a large text was in the message.
enum Slot {
    /// The text of content block `i`.
    Content(usize),
    /// The structured content's field of this name.
    Structured(String),
}

/// A large text taken out of the message, and the marker standing in its place.
struct Taken {
    slot: Slot,
    marker: String,
    text: String,
}

/// Writes `m` and its newline to `out`.
pub fn write_message(mut m: TxJsonRpcMessage<RoleServer>, out: &mut impl Write) -> io::Result<()> {
    let taken = take_large_texts(&mut m);
    let skeleton = serde_json::to_vec(&m).map_err(io::Error::other)?;
    let Some(places) = places(&skeleton, &taken) else {
        // A marker not found once (it cannot happen: each has 64 random bits).
        put_back(&mut m, taken);
        serde_json::to_writer(&mut *out, &m).map_err(io::Error::other)?;
        return out.write_all(b"\n");
    };
    let mut from = 0;
    let mut buf = Vec::new();
    for (at, i) in places {
        out.write_all(&skeleton[from..at])?;
        write_escaped(&taken[i].text, out, &mut buf)?;
        from = at + taken[i].marker.len();
    }
    out.write_all(&skeleton[from..])?;
    out.write_all(b"\n")
}

/// Writes `text` escaped as the inside of a JSON string (no quotes), a chunk at a time
/// through `buf`.
fn write_escaped(text: &str, out: &mut impl Write, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        buf.clear();
        json_escape_simd::escape_into(&rest[..end], buf);
        // Without the quotes the escaper puts around it.
        out.write_all(&buf[1..buf.len() - 1])?;
        rest = &rest[end..];
    }
    Ok(())
}

/// Where each marker's text goes in `skeleton` (the byte after its opening quote), in
/// the order they appear with the index of their text; `None` when a marker is not
/// found exactly once.
fn places(skeleton: &[u8], taken: &[Taken]) -> Option<Vec<(usize, usize)>> {
    let mut places = Vec::with_capacity(taken.len());
    for (i, t) in taken.iter().enumerate() {
        let quoted = format!("\"{}\"", t.marker);
        let mut found = memchr::memmem::find_iter(skeleton, quoted.as_bytes());
        let at = found.next()?;
        if found.next().is_some() {
            return None;
        }
        places.push((at + 1, i));
    }
    places.sort_unstable();
    Some(places)
}

/// The tool result `m` answers with, if it is one.
fn tool_result(m: &mut TxJsonRpcMessage<RoleServer>) -> Option<&mut CallToolResult> {
    match m {
        JsonRpcMessage::Response(r) => match &mut r.result {
            ServerResult::CallToolResult(c) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

/// Takes the large texts out of a tool result, each replaced by a marker of its own.
fn take_large_texts(m: &mut TxJsonRpcMessage<RoleServer>) -> Vec<Taken> {
    let Some(c) = tool_result(m) else {
        return Vec::new();
    };
    let nonce: u64 = {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    };
    let mut taken = Vec::new();
    let mut take = |slot: Slot, text: &mut String| {
        let marker = format!("airun-text-{nonce:016x}-{}", taken.len());
        let text = std::mem::replace(text, marker.clone());
        taken.push(Taken { slot, marker, text });
    };
    for (i, block) in c.content.iter_mut().enumerate() {
        if let ContentBlock::Text(t) = block
            && t.text.len() >= LARGE_FROM
        {
            take(Slot::Content(i), &mut t.text);
        }
    }
    if let Some(Value::Object(o)) = &mut c.structured_content {
        for (k, v) in o.iter_mut() {
            if let Value::String(s) = v
                && s.len() >= LARGE_FROM
            {
                take(Slot::Structured(k.clone()), s);
            }
        }
    }
    taken
}

/// Puts taken texts back where they were.
fn put_back(m: &mut TxJsonRpcMessage<RoleServer>, taken: Vec<Taken>) {
    let Some(c) = tool_result(m) else {
        return;
    };
    for t in taken {
        match t.slot {
            Slot::Content(i) => {
                if let Some(ContentBlock::Text(block)) = c.content.get_mut(i) {
                    block.text = t.text;
                }
            }
            Slot::Structured(k) => {
                if let Some(Value::Object(o)) = &mut c.structured_content {
                    o.insert(k, Value::String(t.text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{JsonRpcResponse, NumberOrString, RequestId};

    /// A text of `len` bytes or more holding every character JSON escapes and characters
    /// of 2, 3 and 4 bytes, so that chunks end inside characters and escapes.
    fn tricky(len: usize) -> String {
        let mut s = String::new();
        let mut n = 0u32;
        while s.len() < len {
            s.push_str("plain text ");
            s.push(char::from_u32(n % 0x20).unwrap());
            s.push_str("\"quoted\" back\\slash é € 𝄞 \u{7f} ");
            n += 1;
        }
        s
    }

    fn message(result: CallToolResult) -> TxJsonRpcMessage<RoleServer> {
        JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: Default::default(),
            id: RequestId::from(NumberOrString::Number(7)),
            result: ServerResult::CallToolResult(result),
        })
    }

    #[test]
    fn a_streamed_result_is_the_line_serde_json_writes() {
        let big = tricky(3 * CHUNK + 5);
        let mut result = CallToolResult::structured(serde_json::json!({
            "content": big,
            "path": "a \"name\"",
            "small": "under the limit\n",
        }));
        result.content.push(ContentBlock::text(tricky(LARGE_FROM)));
        result.content.push(ContentBlock::text("short"));
        let m = message(result);
        let mut want = serde_json::to_vec(&m).unwrap();
        want.push(b'\n');
        let mut got = Vec::new();
        write_message(m, &mut got).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the streamed line differs from serde_json's");
    }

    #[test]
    fn a_message_without_large_texts_is_written_whole() {
        let m = message(CallToolResult::structured(serde_json::json!({"n": 1})));
        let mut want = serde_json::to_vec(&m).unwrap();
        want.push(b'\n');
        let mut got = Vec::new();
        write_message(m, &mut got).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn a_marker_found_twice_falls_back_to_serde_json() {
        let mut m = message(CallToolResult::structured(serde_json::json!({
            "content": "x".repeat(LARGE_FROM),
        })));
        let mut want = serde_json::to_vec(&m).unwrap();
        want.push(b'\n');
        let taken = take_large_texts(&mut m);
        let mut skeleton = serde_json::to_vec(&m).unwrap();
        assert!(places(&skeleton, &taken).is_some());
        skeleton.extend_from_slice(format!("\"{}\"", taken[0].marker).as_bytes());
        assert!(places(&skeleton, &taken).is_none());
        put_back(&mut m, taken);
        let mut got = serde_json::to_vec(&m).unwrap();
        got.push(b'\n');
        assert_eq!(got, want);
    }
}

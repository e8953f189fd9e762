//! Incoming JSON-RPC lines on stdio: read with a size limit, and sorted into messages
//! for the server and answers airun gives itself.
//!
//! Every line gets an answer: a line that is not JSON (cut short, invalid UTF-8, a NUL
//! byte, a lone surrogate, a trailing comma, nested past the parser's depth) gets a
//! parse error (-32700) with `id: null`; JSON that is not a valid request gets an
//! invalid-request error (-32600) with the request's id when it has one; a line over the
//! size limit gets -32600 with `id: null`, naming the policy key that sets the limit.
//! Notifications (no id) are never answered, as JSON-RPC requires: a malformed or
//! unknown one is logged and dropped.

use rmcp::RoleServer;
use rmcp::service::RxJsonRpcMessage;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// JSON-RPC's parse error code.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's invalid request code.
pub const INVALID_REQUEST: i64 = -32600;

/// The policy key that sets the longest line.
pub const LIMIT_KEY: &str = "mcp.max_message_bytes";

/// What one line is.
#[derive(Debug)]
pub enum Incoming {
    /// A message for the server.
    Message(Box<RxJsonRpcMessage<RoleServer>>),
    /// An error reply to send back at once.
    Reply(Value),
    /// Nothing to answer (an empty line, a bad notification, a stray response); why.
    Ignore(String),
}

/// An error reply.
pub fn error_reply(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// The reply to a line longer than `max` bytes.
pub fn oversized(max: usize) -> Value {
    error_reply(
        Value::Null,
        INVALID_REQUEST,
        format!(
            "invalid request: the message is longer than {max} bytes, the most this server reads; \
             send less per call (read or write a large file in parts), or raise `{LIMIT_KEY}` in the operator's policy"
        ),
    )
}

/// Sorts one line (without its newline).
pub fn classify(line: &[u8]) -> Incoming {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Incoming::Ignore("an empty line".into());
    }
    let typed_err = match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(line) {
        Ok(m) => return Incoming::Message(Box::new(m)),
        Err(e) => e,
    };
    let v: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Reply(error_reply(
                Value::Null,
                PARSE_ERROR,
                format!("parse error: {e}; each line must be one whole JSON-RPC message in UTF-8"),
            ));
        }
    };
    let Some(obj) = v.as_object() else {
        return Incoming::Reply(error_reply(
            Value::Null,
            INVALID_REQUEST,
            "invalid request: a message must be a JSON object (batches are not supported)",
        ));
    };
    let id = match obj.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        _ => None,
    };
    let method = obj.get("method").and_then(Value::as_str);
    match (id, method) {
        (None, Some(m)) if !obj.contains_key("id") => Incoming::Ignore(format!(
            "a notification `{m}` that does not parse: {typed_err}"
        )),
        (Some(_), None) if obj.contains_key("result") || obj.contains_key("error") => {
            Incoming::Ignore(format!("a response that does not parse: {typed_err}"))
        }
        (id, _) => Incoming::Reply(error_reply(
            id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            format!(
                "invalid request: {typed_err}; a request needs \"jsonrpc\": \"2.0\", a string or number \"id\", a known \"method\" and its \"params\""
            ),
        )),
    }
}

/// How a line read ended.
pub enum Read {
    /// A whole line is buffered ([`Lines::line`]).
    Line,
    /// The line passed the limit and was dropped (up to its newline).
    Oversized,
    /// The input closed.
    Eof,
    /// Reading failed.
    Io(std::io::Error),
}

/// Lines of a reader, none buffered past a size limit. Cancel-safe: a read dropped
/// midway keeps its partial line for the next call.
pub struct Lines<R> {
    read: BufReader<R>,
    buf: Vec<u8>,
    max: usize,
    discarding: bool,
    done: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    /// Lines of `read`, each at most `max` bytes.
    pub fn new(read: R, max: usize) -> Self {
        Lines {
            read: BufReader::with_capacity(64 * 1024, read),
            buf: Vec::new(),
            max,
            discarding: false,
            done: false,
        }
    }

    /// The longest line read.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The line just read, without its newline.
    pub fn line(&self) -> &[u8] {
        self.buf.strip_suffix(b"\n").unwrap_or(&self.buf)
    }

    /// Reads the next line (forgetting the one before).
    pub async fn read(&mut self) -> Read {
        if self.done {
            self.buf.clear();
            self.done = false;
        }
        loop {
            let (used, end) = {
                let avail = match self.read.fill_buf().await {
                    Ok(a) => a,
                    Err(e) => return Read::Io(e),
                };
                if avail.is_empty() {
                    // A last line without a newline still gets its answer.
                    if !self.buf.is_empty() && !self.discarding {
                        self.done = true;
                        return Read::Line;
                    }
                    return Read::Eof;
                }
                let newline = avail.iter().position(|b| *b == b'\n');
                let take = newline.map_or(avail.len(), |i| i + 1);
                if self.discarding {
                    if newline.is_some() {
                        self.discarding = false;
                    }
                    (take, None)
                } else if self.buf.len() + take > self.max.saturating_add(1) {
                    self.buf.clear();
                    self.discarding = newline.is_none();
                    (take, Some(Read::Oversized))
                } else {
                    self.buf.extend_from_slice(&avail[..take]);
                    (take, newline.map(|_| Read::Line))
                }
            };
            self.read.consume(used);
            if let Some(end) = end {
                self.done = true;
                return end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &[u8]) -> Value {
        match classify(line) {
            Incoming::Reply(v) => v,
            other => panic!(
                "{:?}: expected a reply, got {other:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }

    #[test]
    fn every_malformed_request_line_gets_an_error_reply() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for (line, code) in [
            (&b"{not json"[..], PARSE_ERROR),
            (br#"{"jsonrpc":"2.0","id":1,"method":"tools/li"#, PARSE_ERROR),
            (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\xff\"}", PARSE_ERROR),
            (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\0\"}", PARSE_ERROR),
            (deep.as_bytes(), PARSE_ERROR),
            (br#"{"jsonrpc":"2.0","id":1,"method":"ping",}"#, PARSE_ERROR),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":"\ud800"}}}"#,
                PARSE_ERROR,
            ),
            (b"[1, 2]", INVALID_REQUEST),
            (b"42", INVALID_REQUEST),
        ] {
            let r = reply(line);
            assert_eq!(r["error"]["code"], code, "{r}");
            assert_eq!(r["id"], Value::Null, "{r}");
            assert!(r.as_object().unwrap().contains_key("id"), "{r}");
        }
    }

    #[test]
    fn an_invalid_request_with_an_id_is_answered_with_that_id() {
        let r = reply(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":"nope"}"#);
        assert_eq!(r["id"], 7);
        assert_eq!(r["error"]["code"], INVALID_REQUEST);
        let r = reply(br#"{"jsonrpc":"2.0","id":"a","params":{}}"#);
        assert_eq!(r["id"], "a");
    }

    #[test]
    fn notifications_and_blank_lines_are_not_answered() {
        for line in [
            &br#"{"jsonrpc":"2.0","method":"notifications/whatever","params":5}"#[..],
            b"   ",
            b"",
        ] {
            assert!(matches!(classify(line), Incoming::Ignore(_)), "{line:?}");
        }
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Incoming::Message(_)
        ));
    }

    #[tokio::test]
    async fn lines_past_the_limit_are_dropped_whole_and_the_next_line_is_read() {
        let input = format!("{}\n{}\nlast", "x".repeat(100), "y".repeat(10));
        let mut lines = Lines::new(std::io::Cursor::new(input.into_bytes()), 50);
        assert!(matches!(lines.read().await, Read::Oversized));
        assert!(matches!(lines.read().await, Read::Line));
        assert_eq!(lines.line(), b"yyyyyyyyyy");
        assert!(matches!(lines.read().await, Read::Line));
        assert_eq!(lines.line(), b"last");
        assert!(matches!(lines.read().await, Read::Eof));
    }
}

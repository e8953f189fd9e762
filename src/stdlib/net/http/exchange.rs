//! What the `net.http.*` handlers share: request headers, limits and the reply.
//! The handlers reach the network only through their context's network power, which
//! applies the operator's network policy to every hop.

use crate::error::CapError;
use crate::powers::{HttpRequest, HttpResponse};
use crate::stdlib::generated::BodyEncoding;
use crate::stdlib::generated::net::http::{GetResult, PostResult, PutResult};
use base64::Engine;
use serde_json::{Map, Value};
use std::time::Duration;

/// The `headers` input as name/value pairs; values must be text (numbers and booleans
/// are written as text).
fn request_headers(map: &Map<String, Value>) -> Result<Vec<(String, String)>, CapError> {
    map.iter()
        .map(|(name, value)| match value {
            Value::String(s) => Ok((name.clone(), s.clone())),
            Value::Number(n) => Ok((name.clone(), n.to_string())),
            Value::Bool(b) => Ok((name.clone(), b.to_string())),
            _ => Err(CapError::invalid_field(
                "headers",
                format!("has a value for `{name}` that is not text"),
            )
            .with_hint(
                "give each header value as a string, e.g. {\"Accept\": \"application/json\"}",
            )),
        })
        .collect()
}

/// What every `net.http.*` call returns, before it is put in the call's result type.
pub(super) struct Reply {
    status: i64,
    headers: Map<String, Value>,
    body: String,
    encoding: BodyEncoding,
    truncated: bool,
    final_url: String,
}

/// Response headers as a map (repeated ones joined), and the body as text or base64.
fn reply(r: HttpResponse) -> Reply {
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in r.headers {
        let sep = if name == "set-cookie" { "\n" } else { ", " };
        match headers.get_mut(&name) {
            Some(Value::String(prev)) => {
                prev.push_str(sep);
                prev.push_str(&value);
            }
            _ => {
                headers.insert(name, Value::String(value));
            }
        }
    }
    let (body, encoding) = match String::from_utf8(r.body) {
        Ok(text) => (text, BodyEncoding::Utf8),
        Err(e) => {
            let err = e.utf8_error();
            let bytes = e.into_bytes();
            if r.truncated && err.error_len().is_none() {
                // The cut fell inside a character: the text up to it is still text.
                (
                    String::from_utf8_lossy(&bytes[..err.valid_up_to()]).into_owned(),
                    BodyEncoding::Utf8,
                )
            } else {
                (
                    base64::engine::general_purpose::STANDARD.encode(&bytes),
                    BodyEncoding::Base64,
                )
            }
        }
    };
    Reply {
        status: r.status as i64,
        headers,
        body,
        encoding,
        truncated: r.truncated,
        final_url: r.final_url,
    }
}

fn limits(timeout_seconds: i64, max_bytes: Option<i64>) -> (Duration, Option<u64>) {
    (
        Duration::from_secs(timeout_seconds.max(1) as u64),
        max_bytes.map(|m| m.max(1) as u64),
    )
}

/// Checks the request inputs every `net.http.*` capability has (`url`, `headers`,
/// `timeout_seconds`, `max_bytes`), makes the call with `send` and turns its response into
/// the capability's result.
pub(super) fn exchange<T: From<Reply>>(
    url: &str,
    headers: &Map<String, Value>,
    timeout_seconds: i64,
    max_bytes: Option<i64>,
    send: impl FnOnce(&HttpRequest<'_>) -> Result<HttpResponse, CapError>,
) -> Result<T, CapError> {
    let headers = request_headers(headers)?;
    let (timeout, max_bytes) = limits(timeout_seconds, max_bytes);
    let req = HttpRequest {
        url,
        headers: &headers,
        timeout,
        max_bytes,
    };
    Ok(reply(send(&req)?).into())
}

/// `From<Reply>` for the results of `net.http.*`, which all have the reply's fields.
macro_rules! from_reply {
    ($($result:ty),*) => {
        $(impl From<Reply> for $result {
            fn from(r: Reply) -> Self {
                Self {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                    encoding: r.encoding,
                    truncated: r.truncated,
                    final_url: r.final_url,
                }
            }
        })*
    };
}

from_reply!(GetResult, PostResult, PutResult);

//! The API's errors: `{ "error": { "kind", "message", "hint" } }` with the HTTP status
//! the error kind calls for, and the request-reading helpers that produce them.

use crate::error::{CapError, ErrorKind};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

/// An API error with its status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error kind (`invalid_input`, `denied_policy`, `unauthorized`, ...).
    pub kind: String,
    /// What was wrong.
    pub message: String,
    /// What to do instead.
    pub hint: Option<String>,
    /// The `WWW-Authenticate` value of a 401 (`Bearer realm="airun"` when `None`).
    pub challenge: Option<String>,
}

impl ApiError {
    /// An error of `kind` with `status`.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind: kind.into(),
            message: message.into(),
            hint: None,
            challenge: None,
        }
    }

    /// Adds what to do instead.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the `WWW-Authenticate` header a 401 carries (RFC 6750, RFC 9728).
    pub fn with_challenge(mut self, challenge: impl Into<String>) -> ApiError {
        self.challenge = Some(challenge.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"kind": self.kind, "message": self.message, "hint": self.hint}})
    }
}

/// The HTTP status of a failed call's error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::DeniedPolicy | ErrorKind::DeniedSandbox => StatusCode::FORBIDDEN,
        ErrorKind::Declined => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Cancelled | ErrorKind::Execution => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<CapError> for ApiError {
    fn from(e: CapError) -> ApiError {
        let mut message = e.message;
        if let Some(f) = e.field {
            message = format!("{message} (field `{f}`)");
        }
        ApiError {
            status: status_of(e.kind),
            kind: e.kind.as_str().into(),
            message,
            hint: e.hint,
            challenge: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = self
                .challenge
                .as_deref()
                .and_then(|c| http::HeaderValue::from_str(c).ok())
                .unwrap_or(http::HeaderValue::from_static("Bearer realm=\"airun\""));
            r.headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, challenge);
        }
        r
    }
}

/// A request body read whole (within the API's size limit): 413 when it is larger.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "invalid_input", "the request body is too large").with_hint(
                format!(
                    "send at most {} bytes; put large content in a file of the workspace instead",
                    super::BODY_LIMIT
                ),
            )
        } else {
            ApiError::new(
                status,
                "invalid_input",
                format!("cannot read the request body: {e}"),
            )
        }
    })
}

/// A JSON request body as `T`; an empty body reads as `{}`.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body_bytes(body)?;
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("the request body is not valid JSON: {inner}")
        } else if at == "." {
            format!("the request body has the wrong shape: {inner}")
        } else {
            format!("the request body's `{at}` is wrong: {inner}")
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
            .with_hint("send a JSON object as the body; /api/v1/openapi.json describes each one")
    })
}

/// Query parameters as `T`.
pub fn query<T>(q: Result<axum::extract::Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|q| q.0).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("bad query parameters: {}", e.body_text()),
        )
        .with_hint("/api/v1/openapi.json lists each endpoint's parameters")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(status_of(ErrorKind::InvalidInput), 400);
        assert_eq!(status_of(ErrorKind::DeniedSandbox), 403);
        assert_eq!(status_of(ErrorKind::Declined), 422);
        assert_eq!(status_of(ErrorKind::AlreadyExists), 409);
        assert_eq!(status_of(ErrorKind::Timeout), 504);
        assert_eq!(status_of(ErrorKind::Execution), 500);
    }

    #[test]
    fn malformed_json_is_400_with_a_message() {
        let e = json_body::<serde_json::Value>(Ok(Bytes::from_static(b"{nope"))).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let v: serde_json::Value = json_body(Ok(Bytes::new())).unwrap();
        assert_eq!(v, json!({}));
    }
}

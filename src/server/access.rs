//! Who may use the REST API: the checks every `/api/v1` request passes before its
//! handler runs.
//!
//! 1. `Host` names this server (the loopback names or the bound host; not checked when
//!    bound on every interface), as for `/mcp` (403 otherwise).
//! 2. A browser `Origin`, when sent, names one of those hosts (403 otherwise).
//! 3. The caller proves to be the operator: today with `Authorization: Bearer <token>`
//!    (401 with `WWW-Authenticate: Bearer` otherwise). [`Caller`] names the way in, so a
//!    browser session (cookie + CSRF token) can be added as a second one.

use crate::adapters::mcp::http::{allowed_hosts, bearer_matches, on_every_interface};
use crate::adapters::rest::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// How a request proved it comes from the operator (put in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A script or client with the operator's token in `Authorization: Bearer`.
    Bearer,
}

/// The API's access rules.
#[derive(Debug)]
pub struct Access {
    token: String,
    hosts: Vec<String>,
    check_host: bool,
}

/// The host part of a `Host` header or an origin's authority, without port or brackets.
fn host_part(authority: &str) -> Option<String> {
    let a: http::uri::Authority = authority.parse().ok()?;
    Some(
        a.host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    )
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "denied_policy", message)
}

impl Access {
    /// The rules for a listener bound on `bound_host` whose operator token is `token`.
    pub fn new(bound_host: &str, token: String) -> Access {
        Access {
            token,
            hosts: allowed_hosts(bound_host),
            check_host: !on_every_interface(bound_host),
        }
    }

    /// Checks one request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.check_host {
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(host_part);
            if !host.is_some_and(|h| self.hosts.contains(&h)) {
                return Err(
                    forbidden("the Host header does not name this server".into()).with_hint(
                        "connect to the address `airun serve` printed (localhost or 127.0.0.1)",
                    ),
                );
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            let ok = origin
                .to_str()
                .ok()
                .and_then(|o| url::Url::parse(o).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .and_then(|u| {
                    u.host_str().map(|h| {
                        h.trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_ascii_lowercase()
                    })
                })
                .is_some_and(|h| self.hosts.contains(&h));
            if !ok {
                return Err(forbidden(format!(
                    "requests from the web page at {} are refused",
                    origin.to_str().unwrap_or("an unreadable origin")
                ))
                .with_hint("only pages served by this machine may call the API"));
            }
        }
        if bearer_matches(headers, &self.token) {
            return Ok(Caller::Bearer);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this API needs the operator's token",
        )
        .with_hint("send `Authorization: Bearer <token>` with the token `airun serve` printed (or --token / AIRUN_TOKEN)"))
    }
}

/// The middleware that applies [`Access::check`] to every request it guards.
pub async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    match access.check(req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn host_origin_and_token() {
        let a = Access::new("127.0.0.1", "tok".into());
        let ok = headers(&[("host", "127.0.0.1:8080"), ("authorization", "Bearer tok")]);
        assert_eq!(a.check(&ok).unwrap(), Caller::Bearer);
        let no_token = headers(&[("host", "localhost:1")]);
        assert_eq!(
            a.check(&no_token).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let evil_host = headers(&[("host", "evil.example:80"), ("authorization", "Bearer tok")]);
        assert_eq!(
            a.check(&evil_host).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let evil_origin = headers(&[
            ("host", "[::1]:9"),
            ("origin", "http://evil.example"),
            ("authorization", "Bearer tok"),
        ]);
        assert_eq!(
            a.check(&evil_origin).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let own_origin = headers(&[
            ("host", "[::1]:9"),
            ("origin", "http://[::1]:9"),
            ("authorization", "Bearer tok"),
        ]);
        assert!(a.check(&own_origin).is_ok());
    }
}

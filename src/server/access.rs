//! Who may use the REST API: the checks every `/api/v1` request passes before its
//! handler runs.
//!
//! 1. `Host` names this server (the loopback names or the bound host; not checked when
//!    bound on every interface), as for `/mcp` (403 otherwise).
//! 2. A browser `Origin`, when sent, names one of those hosts (403 otherwise).
//! 3. The caller proves to be the operator, with `Authorization: Bearer <token>` (scripts)
//!    or with the session cookie of a browser that logged in ([`super::session`]); 401
//!    with `WWW-Authenticate: Bearer` otherwise. A cookie request that changes something
//!    (any method but GET, HEAD, OPTIONS) must also carry the session's CSRF token in
//!    `X-CSRF-Token` (403 otherwise). [`Caller`] names the way in.

use super::session::{CSRF_HEADER, Sessions, cookie_id};
use crate::adapters::mcp::http::{allowed_hosts, bearer_matches, on_every_interface};
use crate::adapters::rest::ApiError;
use crate::adapters::rest::confirmations::Decider;
use crate::hooks::Operator;
use crate::types::same_secret;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// How a request proved it comes from the operator (put in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A script or client with the operator's token in `Authorization: Bearer`.
    Bearer,
    /// A browser with the session cookie of a login with the operator's token.
    Session,
}

/// The name the audit log records for a decision taken in the browser console.
pub const CONSOLE_OPERATOR: &str = "operator@console";

impl Caller {
    /// Who this caller is, for the audit log: `operator` with the bearer token,
    /// `operator@console` from a browser session.
    pub fn operator(self) -> Operator {
        match self {
            Caller::Bearer => Operator::default(),
            Caller::Session => Operator::named(CONSOLE_OPERATOR).unwrap_or_default(),
        }
    }
}

/// The API's access rules.
#[derive(Debug)]
pub struct Access {
    token: String,
    hosts: Vec<String>,
    check_host: bool,
    sessions: Arc<Sessions>,
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
            sessions: Arc::new(Sessions::default()),
        }
    }

    /// The same rules with `sessions` (shared between instances) for the browsers.
    pub fn with_sessions(mut self, sessions: Sessions) -> Access {
        self.sessions = Arc::new(sessions);
        self
    }

    /// The browsers' sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// True when `given` is the operator's token (compared in constant time).
    pub fn token_matches(&self, given: &str) -> bool {
        same_secret(given.as_bytes(), self.token.as_bytes())
    }

    /// Checks the `Host` and `Origin` rules alone (for the login form).
    pub fn check_site(&self, headers: &HeaderMap) -> Result<(), ApiError> {
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
        Ok(())
    }

    /// Checks one request: its method and headers.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, ApiError> {
        self.check_site(headers)?;
        if bearer_matches(headers, &self.token) {
            return Ok(Caller::Bearer);
        }
        if let Some(found) = cookie_id(headers).and_then(|id| self.sessions.touch(id)) {
            let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
            let csrf_ok = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| same_secret(t.as_bytes(), found.csrf.as_bytes()));
            if !safe && !csrf_ok {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "a request from the browser that changes something needs the session's CSRF token",
                )
                .with_hint("send the `csrf_token` of GET /api/v1/session in the X-CSRF-Token header"));
            }
            return Ok(Caller::Session);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this API needs the operator's token",
        )
        .with_hint("send `Authorization: Bearer <token>` with the token `airun serve` printed (or --token / AIRUN_TOKEN), or log in at /login in a browser"))
    }
}

/// The middleware that applies [`Access::check`] to every request it guards.
pub async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    match access.check(req.method(), req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            req.extensions_mut().insert(Decider(caller.operator()));
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
        assert_eq!(a.check(&Method::GET, &ok).unwrap(), Caller::Bearer);
        let no_token = headers(&[("host", "localhost:1")]);
        assert_eq!(
            a.check(&Method::GET, &no_token).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let evil_host = headers(&[("host", "evil.example:80"), ("authorization", "Bearer tok")]);
        assert_eq!(
            a.check(&Method::GET, &evil_host).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let evil_origin = headers(&[
            ("host", "[::1]:9"),
            ("origin", "http://evil.example"),
            ("authorization", "Bearer tok"),
        ]);
        assert_eq!(
            a.check(&Method::GET, &evil_origin).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let own_origin = headers(&[
            ("host", "[::1]:9"),
            ("origin", "http://[::1]:9"),
            ("authorization", "Bearer tok"),
        ]);
        assert!(a.check(&Method::GET, &own_origin).is_ok());
    }

    #[test]
    fn cookie_needs_csrf_to_change_things() {
        let a = Access::new("127.0.0.1", "tok".into());
        let id = a.sessions().create().unwrap();
        let csrf = a.sessions().touch(&id).unwrap().csrf;
        let cookie = format!("airun_session={id}");
        let get = headers(&[("host", "127.0.0.1:1"), ("cookie", &cookie)]);
        assert_eq!(a.check(&Method::GET, &get).unwrap(), Caller::Session);
        assert_eq!(
            a.check(&Method::POST, &get).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let wrong = headers(&[
            ("host", "127.0.0.1:1"),
            ("cookie", &cookie),
            ("x-csrf-token", "0000"),
        ]);
        assert_eq!(a.check(&Method::POST, &wrong).unwrap_err().kind, "csrf");
        let post = headers(&[
            ("host", "127.0.0.1:1"),
            ("cookie", &cookie),
            ("x-csrf-token", &csrf),
        ]);
        assert_eq!(a.check(&Method::POST, &post).unwrap(), Caller::Session);
        let unknown = headers(&[("host", "127.0.0.1:1"), ("cookie", "airun_session=ff")]);
        assert_eq!(
            a.check(&Method::GET, &unknown).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(Caller::Session.operator().name(), CONSOLE_OPERATOR);
        assert_eq!(Caller::Bearer.operator().name(), "operator");
    }
}

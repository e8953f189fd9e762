//! MCP over Streamable HTTP at `/mcp`: the endpoint the HTTP listener
//! ([`crate::server`]) mounts.
//!
//! - Who may call is the listener's to decide (its access check); it answers
//!   the 401s (as plain text, [`unauthorized`]) and picks the caller's lane, whose own
//!   [`service`] then answers.
//! - DNS-rebinding defence (rmcp's own checks): the `Host` header must name localhost,
//!   127.0.0.1, `[::1]` or the bound host, and a browser `Origin` must be one of those (403
//!   otherwise).
//! - The sessions end when the listener's shutdown cancels `sessions`.

use super::McpServer;
use crate::powers::CapabilitySet;
use crate::types::same_secret;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Request, StatusCode};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::IpAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// The bound host without IPv6 brackets, lower-cased.
fn bare(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// The host names a request may name in `Host` or `Origin`: the loopback names and the
/// bound host.
pub fn allowed_hosts(bound_host: &str) -> Vec<String> {
    let host = bare(bound_host);
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !hosts.contains(&host) {
        hosts.push(host);
    }
    hosts
}

/// True when the listener is bound on every interface: clients then use names it cannot
/// know, so the `Host` header is not checked (the token, required off loopback, keeps
/// other sites out).
pub fn on_every_interface(bound_host: &str) -> bool {
    bare(bound_host)
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}

/// The token of `Authorization: Bearer <token>`, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// True when `headers` carry `Authorization: Bearer <token>` (compared in constant time).
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes()))
}

fn config(bound_host: &str, sessions: CancellationToken) -> StreamableHttpServerConfig {
    let hosts = allowed_hosts(bound_host);
    let mut origins = Vec::new();
    for h in &hosts {
        let h = if h.contains(':') {
            format!("[{h}]")
        } else {
            h.clone()
        };
        origins.push(format!("http://{h}:*"));
        origins.push(format!("https://{h}:*"));
    }
    let mut config = StreamableHttpServerConfig::default().with_allowed_origins(origins);
    config = if on_every_interface(bound_host) {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(hosts)
    };
    config.cancellation_token = sessions;
    config
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The Streamable HTTP service of one MCP server (a lane of a team server): its own
/// session manager, so a session id one lane issued is unknown in every other.
pub type McpService<S> = StreamableHttpService<McpServer<S>, LocalSessionManager>;

/// The Streamable HTTP service over `server` for a listener bound on `bound_host`; its
/// sessions end when `sessions` is cancelled.
pub fn service<S: CapabilitySet>(
    server: McpServer<S>,
    bound_host: &str,
    sessions: CancellationToken,
) -> McpService<S> {
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config(bound_host, sessions),
    )
}

/// Answers one `/mcp` request with `service`.
pub async fn answer<S: CapabilitySet>(service: &McpService<S>, req: Request<Body>) -> Response {
    let mut service = service.clone();
    match tower_service::Service::call(&mut service, req).await {
        Ok(r) => r.into_response(),
        Err(never) => match never {},
    }
}

/// The 401 of `/mcp`, as plain text, with the `WWW-Authenticate` value `challenge`.
pub fn unauthorized(challenge: &str, why: Option<&str>) -> Response {
    let text = match why {
        Some(why) => format!("unauthorized: {why}\n"),
        None => "unauthorized: send the server's token, your user token or an access token as \
                 `Authorization: Bearer <token>`\n"
            .to_string(),
    };
    let mut r = (
        StatusCode::UNAUTHORIZED,
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    let value = http::HeaderValue::from_str(challenge)
        .unwrap_or(http::HeaderValue::from_static("Bearer realm=\"airun\""));
    r.headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, value);
    r
}

/// The answer for a path that is neither `/mcp` nor the REST API.
pub fn not_found() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "not found: the MCP endpoint is /mcp and the REST API is under /api/v1 (/api/v1/openapi.json)\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_interfaces() {
        assert_eq!(allowed_hosts("127.0.0.1").len(), 3);
        assert!(allowed_hosts("[::1]").contains(&"::1".to_string()));
        assert!(allowed_hosts("10.0.0.2").contains(&"10.0.0.2".to_string()));
        assert!(on_every_interface("0.0.0.0"));
        assert!(on_every_interface("[::]"));
        assert!(!on_every_interface("127.0.0.1"));
    }

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "t0k"));
        h.insert(http::header::AUTHORIZATION, "Bearer t0k".parse().unwrap());
        assert!(bearer_matches(&h, "t0k"));
        assert!(!bearer_matches(&h, "t0"));
    }
}

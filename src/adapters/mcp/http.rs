//! MCP over Streamable HTTP at `/mcp`.
//!
//! - Binds loopback unless told otherwise; any other address requires a token.
//! - With a token, every request must carry `Authorization: Bearer <token>` (401
//!   otherwise).
//! - DNS-rebinding defence: the `Host` header must name localhost, 127.0.0.1, [::1] or the
//!   bound host, and a browser `Origin` must be one of those (403 otherwise).
//! - Stops accepting on the shutdown signal, ends the MCP sessions and lets open
//!   connections finish (up to a grace period).

use super::McpServer;
use crate::powers::CapabilitySet;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// How long open connections get to finish after the shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Host name or address to bind (default `127.0.0.1`).
    pub host: String,
    /// Port to bind; 0 picks a free one (the bound address is reported).
    pub port: u16,
    /// The bearer token clients must send; required for a non-loopback host.
    pub token: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            host: "127.0.0.1".into(),
            port: 0,
            token: None,
        }
    }
}

/// True when `host` names the loopback interface.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks the options: a non-loopback host needs a token, and a token must not be empty.
pub fn check_options(options: &HttpOptions) -> Result<(), String> {
    if options
        .token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err("the token is empty".into());
    }
    if !is_loopback(&options.host) && options.token.is_none() {
        return Err(format!(
            "binding {} exposes the workspace beyond this machine, so it needs a token: pass --token T or set AIRUN_TOKEN",
            options.host
        ));
    }
    Ok(())
}

/// The HTTP server, bound and ready to serve.
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    options: HttpOptions,
}

impl HttpServer {
    /// Binds the listener (after [`check_options`]).
    pub async fn bind(options: HttpOptions) -> std::io::Result<HttpServer> {
        check_options(&options).map_err(std::io::Error::other)?;
        let host = options
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let listener = TcpListener::bind((host.as_str(), options.port))
            .await
            .map_err(|e| bind_error(&host, options.port, e))?;
        let addr = listener.local_addr()?;
        Ok(HttpServer {
            listener,
            addr,
            options,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}{MCP_PATH}", self.addr)
    }

    /// Serves `server` until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn serve<S: CapabilitySet>(
        self,
        server: McpServer<S>,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let sessions = CancellationToken::new();
        let config = self.config(sessions.clone());
        let mcp = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let token: Option<Arc<str>> = self.options.token.as_deref().map(Arc::from);
        let graceful = GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            tracing::debug!(%peer, "connection");
            let (mcp, token) = (mcp.clone(), token.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (mut mcp, token) = (mcp.clone(), token.clone());
                async move { Ok::<_, Infallible>(handle(req, &mut mcp, token.as_deref()).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        tracing::info!("shutting down");
        sessions.cancel();
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
                tracing::warn!("connections still open after the grace period; closing them");
            }
        }
        Ok(())
    }

    fn config(&self, sessions: CancellationToken) -> StreamableHttpServerConfig {
        let host = self
            .options
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        if !hosts.contains(&host) {
            hosts.push(host.clone());
        }
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
        let unspecified = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        config = if unspecified {
            // Bound on every interface: clients use names we cannot know; the token
            // (required off loopback) keeps other sites out.
            config.disable_allowed_hosts()
        } else {
            config.with_allowed_hosts(hosts)
        };
        config.cancellation_token = sessions;
        config
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
}

async fn handle<S: CapabilitySet>(
    req: Request<Incoming>,
    mcp: &mut StreamableHttpService<McpServer<S>, LocalSessionManager>,
    token: Option<&str>,
) -> Response<Body> {
    if req.uri().path() != MCP_PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the MCP endpoint is /mcp\n",
        );
    }
    if let Some(t) = token
        && !authorized(&req, t)
    {
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send the server's token as `Authorization: Bearer <token>`\n",
        );
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"airun\""),
        );
        return r;
    }
    match tower_service::Service::call(mcp, req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Why the listener could not be bound, naming the address and what to do.
fn bind_error(host: &str, port: u16, e: std::io::Error) -> std::io::Error {
    let what = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {port} on {host} is already in use by another program; stop it, pick another \
             --port, or pass --port 0 for a free one"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "no permission to listen on port {port} on {host} (ports below 1024 need privileges); \
             pick a --port above 1023"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{host} is not an address of this machine; use --host 127.0.0.1 (or 0.0.0.0 with a \
             token for every interface)"
        ),
        _ => format!("cannot listen on {host}:{port}: {e}"),
    };
    std::io::Error::new(e.kind(), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("::1"));
        assert!(!is_loopback("0.0.0.0"));
        assert!(!is_loopback("192.168.1.2"));
    }

    #[test]
    fn non_loopback_needs_token() {
        let mut o = HttpOptions {
            host: "0.0.0.0".into(),
            ..HttpOptions::default()
        };
        assert!(check_options(&o).is_err());
        o.token = Some("s3cret".into());
        assert!(check_options(&o).is_ok());
        o.token = Some(" ".into());
        assert!(check_options(&o).is_err());
        assert!(check_options(&HttpOptions::default()).is_ok());
    }

    #[test]
    fn constant_time_compare() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}

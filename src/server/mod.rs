//! The HTTP listener of `airun serve --port N`: one axum router on hyper that serves
//! MCP at `/mcp` and the REST API under `/api/v1`.
//!
//! - Binds loopback unless told otherwise; any other address requires a token.
//! - [`access`] guards the API and `/mcp`: who a request comes from (the operator, a
//!   user, an identity provider's identity), the `Host`/`Origin` rules.
//! - [`lanes`]: each principal's own workspace, settings, journal, MCP server and API.
//! - [`oauth`]: the protected-resource metadata and the `WWW-Authenticate` challenges.
//! - [`app`] assembles the router and the state its handlers share.
//! - [`login`] and [`session`]: the browser's login, session cookie and CSRF token, and
//!   the console page for a browser that logged in.
//! - Stops accepting on the shutdown signal, ends the MCP sessions and lets open
//!   connections finish (up to a grace period).

pub mod access;
pub mod app;
pub mod health;
pub mod lanes;
pub mod login;
pub mod oauth;
pub mod session;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
}

impl HttpServer {
    /// Binds the listener (after [`check_options`]).
    pub async fn bind(options: &HttpOptions) -> std::io::Result<HttpServer> {
        check_options(options).map_err(std::io::Error::other)?;
        let host = options
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let listener = TcpListener::bind((host.as_str(), options.port))
            .await
            .map_err(|e| bind_error(&host, options.port, e))?;
        let addr = listener.local_addr()?;
        Ok(HttpServer { listener, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `router` until `shutdown` is cancelled, then cancels `sessions` (the
    /// long-lived streams) and waits up to [`SHUTDOWN_GRACE`] for open connections.
    pub async fn serve(
        self,
        router: Router,
        shutdown: CancellationToken,
        sessions: CancellationToken,
    ) -> std::io::Result<()> {
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
            let router = router.clone();
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let mut router = router.clone();
                async move { tower_service::Service::call(&mut router, req).await }
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
}

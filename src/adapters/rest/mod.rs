//! The REST API under `/api/v1`: the catalog, calls through the whole pipeline, the
//! undo history and the audit log, for scripts and the operator's console.
//!
//! Everything comes from the same catalog and pipeline as MCP: no capability is listed
//! here by hand. Pipeline and database work runs on the blocking pool, never on the async
//! workers. The listener ([`crate::server`]) guards every request (token, Host, Origin)
//! before these handlers run.
//!
//! - [`catalog`]: `GET /capabilities`, `GET /capabilities/{id}`;
//! - [`calls`]: `POST /capabilities/{id}/calls`;
//! - [`history`]: `GET /history`, `GET /operations/{op}`, `POST /undo`, `POST /redo`;
//! - [`audit`]: `GET /audit`, `GET /audit/verify`, `GET /audit/export`;
//! - [`openapi`]: `GET /openapi.json`;
//! - [`events`]: `GET /events`, every call as it happens (Server-Sent Events);
//! - [`policy`]: `GET /policy`, the effective settings (read-only);
//! - [`sessions`]: `GET /sessions`, the agent sessions and their clients;
//! - [`confirmations`]: `GET /confirmations`, `POST /confirmations/{id}`, calls waiting
//!   for a person's yes;
//! - [`lane`]: whose lane (workspace, journal, audit, policy) a request acts in;
//! - [`error`]: the JSON errors and their statuses.

pub mod audit;
pub mod calls;
pub mod catalog;
pub mod confirmations;
pub mod error;
pub mod events;
pub mod history;
pub mod lane;
pub mod openapi;
pub mod policy;
pub mod sessions;

pub use error::ApiError;

use super::mcp::McpServer;
use crate::error::CapError;
use crate::pipeline::Pipeline;
use crate::powers::CapabilitySet;
use crate::timemachine::{Deferred, TimeMachine};
use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use http::StatusCode;
use std::sync::Arc;

/// The path the API is mounted at.
pub const API_PREFIX: &str = "/api/v1";

/// The largest request body the API reads (413 beyond it).
pub const BODY_LIMIT: usize = 4 << 20;

/// What the API's handlers share: the pipeline (the MCP server's, so both see one
/// journal and audit log), the workspace's state, and the operator's choices.
pub struct Api<S: CapabilitySet> {
    inner: Arc<Inner<S>>,
}

struct Inner<S: CapabilitySet> {
    server: McpServer<S>,
    state: Arc<Deferred>,
    yes: bool,
}

impl<S: CapabilitySet> Clone for Api<S> {
    fn clone(&self) -> Self {
        Api {
            inner: self.inner.clone(),
        }
    }
}

impl<S: CapabilitySet> Api<S> {
    /// The API over `server`'s pipeline and the workspace's `state`; `yes` approves every
    /// call that needs confirmation (`airun serve --yes`), otherwise such calls are
    /// declined.
    pub fn new(server: McpServer<S>, state: Arc<Deferred>, yes: bool) -> Self {
        Api {
            inner: Arc::new(Inner { server, state, yes }),
        }
    }

    /// The pipeline calls run on.
    pub fn pipeline(&self) -> &Pipeline<S> {
        self.inner.server.pipeline()
    }

    /// The MCP server whose pipeline this API runs calls on.
    pub fn server(&self) -> &McpServer<S> {
        &self.inner.server
    }

    /// Who this API's calls are made by (a team server's lane); `None` is the operator.
    pub fn principal(&self) -> Option<&str> {
        self.inner.server.principal()
    }

    /// The workspace's state, shared with every lane acting in the same workspace.
    pub fn deferred(&self) -> &Arc<Deferred> {
        &self.inner.state
    }

    /// The workspace's journal and audit log (waits for them to open).
    pub fn state(&self) -> Result<&TimeMachine, CapError> {
        self.inner.state.get()
    }

    /// Whether the workspace's state is open, without waiting (`None` while it opens).
    pub fn state_status(&self) -> Option<Result<(), CapError>> {
        self.inner.state.status()
    }

    /// True when the operator approved every confirmation in advance.
    pub fn yes(&self) -> bool {
        self.inner.yes
    }

    /// Refuses a mutating endpoint in read-only mode.
    pub fn writable(&self) -> Result<(), ApiError> {
        if self.pipeline().settings().read_only {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "denied_policy",
                "the server runs read-only: nothing may change the workspace",
            )
            .with_hint(
                "restart `airun serve` without --read-only (and read_only = false in the policy)",
            ));
        }
        Ok(())
    }
}

/// Runs `f` on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "execution",
            format!("the request's worker failed: {e}"),
        ))
    })
}

/// The API's routes (relative to [`API_PREFIX`]), for any router state the [`Api`] can be
/// taken from.
pub fn routes<S: CapabilitySet, St>() -> Router<St>
where
    lane::Lanes<S>: FromRef<St>,
    Arc<crate::pipeline::Broker>: FromRef<St>,
    St: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/capabilities", get(catalog::list::<S>))
        .route("/capabilities/{id}", get(catalog::detail::<S>))
        .route("/capabilities/{id}/calls", post(calls::call::<S>))
        .route("/history", get(history::list::<S>))
        .route("/operations/{op}", get(history::operation::<S>))
        .route("/undo", post(history::undo::<S>))
        .route("/redo", post(history::redo::<S>))
        .route("/audit", get(audit::page::<S>))
        .route("/audit/verify", get(audit::verify::<S>))
        .route("/audit/export", get(audit::export::<S>))
        .route("/openapi.json", get(openapi::document::<S>))
        .route("/policy", get(policy::show::<S>))
        .route("/sessions", get(sessions::list::<S>))
}

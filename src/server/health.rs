//! The endpoints a load balancer, an orchestrator and Prometheus use:
//!
//! - `GET /healthz`: the process is up and serving (200), no credentials;
//! - `GET /readyz`: the workspace's state is open and recovery is done (200), or not yet
//!   or not at all (503 with the reason), no credentials: only a yes or no and why;
//! - `GET /metrics`: the Prometheus exposition ([`crate::metrics`]), behind the same
//!   token as the API (Prometheus sends it with `authorization: { credentials: ... }`);
//!   admins only (403 `denied_role` for agents and viewers).

use crate::adapters::rest::{Api, ApiError};
use crate::events::EventBus;
use crate::hooks::Journal;
use crate::metrics::{CONTENT_TYPE, Gauges, Metrics};
use crate::pipeline::Broker;
use crate::powers::CapabilitySet;
use crate::users::Principal;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Json, Response};
use http::StatusCode;
use serde_json::json;
use std::sync::Arc;

/// `GET /healthz`.
pub async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

/// `GET /readyz`.
pub async fn readyz<S: CapabilitySet>(State(api): State<Api<S>>) -> Response {
    match api.state_status() {
        Some(Ok(())) => (StatusCode::OK, Json(json!({"ready": true}))).into_response(),
        Some(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": e.message})),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "the workspace's state is being opened (recovery runs first)"})),
        )
            .into_response(),
    }
}

/// `GET /metrics` (admins only: the figures cover every lane).
pub async fn metrics<S: CapabilitySet>(
    principal: Option<Extension<Principal>>,
    State(api): State<Api<S>>,
    State(metrics): State<Arc<Metrics>>,
    State(broker): State<Arc<Broker>>,
    State(bus): State<Arc<EventBus>>,
) -> Response {
    if let Some(Extension(p)) = principal
        && !p.is_admin()
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "denied_role",
            format!("`{}` is a {}: the metrics are for admins", p.name, p.role),
        )
        .with_hint("ask an admin, or scrape with the operator's token")
        .into_response();
    }
    let mut gauges = Gauges {
        confirmations_pending: broker.pending().len() as i64,
        event_viewers: bus.subscribers() as i64,
        ..Gauges::default()
    };
    // Looked up only when the state is open: a scrape never waits for recovery.
    if let Some(Ok(())) = api.state_status() {
        let state = api.clone();
        let looked = tokio::task::spawn_blocking(move || {
            let tm = state.state().ok()?;
            Some((
                tm.undoable().unwrap_or(0) as i64,
                tm.blobs().bytes() as i64,
                tm.audit_queue_depth() as i64,
            ))
        })
        .await
        .ok()
        .flatten();
        if let Some((undo_points, bytes, queued)) = looked {
            gauges.audit_queue_depth = queued;
            gauges.undo_points = undo_points;
            gauges.journal_bytes = bytes;
        }
    }
    (
        [(http::header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render(gauges),
    )
        .into_response()
}

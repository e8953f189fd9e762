//! `GET /sessions`: the agent sessions with operations in history (transport, the
//! client's name and version from MCP `initialize`, first and last operation, counts),
//! the most recently active first, what `airun history --sessions --json` prints. The
//! console labels its history groups with them.

use super::lane::Lane;
use super::{ApiError, blocking};
use crate::powers::CapabilitySet;
use axum::Json;
use serde_json::{Value, json};

/// `GET /sessions`.
pub async fn list<S: CapabilitySet>(lane: Lane<S>) -> Result<Json<Value>, ApiError> {
    let whose = lane.whose();
    let api = lane.api;
    blocking(move || {
        let sessions = api.pipeline().journal().sessions_of(whose.as_deref())?;
        Ok(Json(json!({ "sessions": sessions })))
    })
    .await
}

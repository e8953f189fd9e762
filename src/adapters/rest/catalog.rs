//! `GET /capabilities` and `GET /capabilities/{id}`: what the operator's settings let
//! callers use, from the generated catalog.

use super::lane::Lane;
use super::{Api, ApiError};
use crate::catalog::Capability;
use crate::powers::CapabilitySet;
use axum::Json;
use axum::extract::Path;
use http::StatusCode;
use serde_json::{Value, json};

/// The capability `id` (or tool name) among those callers may use.
pub fn find<S: CapabilitySet>(api: &Api<S>, id: &str) -> Result<&'static Capability, ApiError> {
    api.pipeline()
        .capabilities()
        .into_iter()
        .find(|c| c.id == id || c.tool_name == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("there is no capability `{id}` on this server"),
            )
            .with_hint("GET /api/v1/capabilities lists the ones the operator's policy allows")
        })
}

/// `GET /capabilities`.
pub async fn list<S: CapabilitySet>(Lane { api, .. }: Lane<S>) -> Json<Value> {
    let caps: Vec<Value> = api
        .pipeline()
        .capabilities()
        .into_iter()
        .map(|c| c.summary_json())
        .collect();
    Json(json!({ "capabilities": caps }))
}

/// `GET /capabilities/{id}`.
pub async fn detail<S: CapabilitySet>(
    Lane { api, .. }: Lane<S>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&api, &id)?.detail_json()))
}

//! `GET /capabilities` and `GET /capabilities/{id}`: what the operator's settings let
//! callers use, from the generated catalog.

use super::{Api, ApiError};
use crate::catalog::Capability;
use crate::powers::CapabilitySet;
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde_json::{Value, json};

/// One capability in a listing: what it is and its contracts.
pub fn summary_json(c: &Capability) -> Value {
    json!({
        "id": c.id,
        "tool_name": c.tool_name,
        "version": c.version,
        "title": c.title,
        "description": c.description,
        "side_effects": c.side_effects.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "requires_confirmation": c.requires_confirmation,
        "confirmation_unless": c.confirmation_unless,
        "idempotent": c.idempotent,
        "undo_strategy": c.undo_strategy.as_str(),
        "timeout_seconds": c.timeout_seconds,
        "annotations": {
            "readOnlyHint": c.annotations.read_only,
            "destructiveHint": c.annotations.destructive,
            "idempotentHint": c.annotations.idempotent,
            "openWorldHint": c.annotations.open_world,
        },
    })
}

/// One capability in full: its summary, undo targets and input and output schemas.
pub fn detail_json(c: &Capability) -> Value {
    let mut v = summary_json(c);
    if let Some(o) = v.as_object_mut() {
        o.insert("undo_targets".into(), json!(c.undo_targets));
        o.insert("sensitive_inputs".into(), json!(c.sensitive_inputs));
        o.insert("input_schema".into(), c.input_schema_json());
        o.insert("output_schema".into(), c.output_schema_json());
    }
    v
}

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
pub async fn list<S: CapabilitySet>(State(api): State<Api<S>>) -> Json<Value> {
    let caps: Vec<Value> = api
        .pipeline()
        .capabilities()
        .into_iter()
        .map(summary_json)
        .collect();
    Json(json!({ "capabilities": caps }))
}

/// `GET /capabilities/{id}`.
pub async fn detail<S: CapabilitySet>(
    State(api): State<Api<S>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(detail_json(find(&api, &id)?)))
}

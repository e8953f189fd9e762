//! `GET /policy`: the effective operator settings the server runs under, as JSON (what
//! `airun policy show --json` prints), for the console's read-only policy page.

use super::lane::Lane;
use crate::powers::CapabilitySet;
use axum::Json;
use serde_json::Value;

/// `GET /policy`.
pub async fn show<S: CapabilitySet>(Lane { api, .. }: Lane<S>) -> Json<Value> {
    Json(serde_json::to_value(api.pipeline().settings()).unwrap_or_default())
}

//! `GET /confirmations` and `POST /confirmations/{id}`: calls waiting for a person's yes.
//!
//! `GET` lists the waiting calls (id, capability, parameters with sensitive values
//! hidden, `args_hash`, seconds left). `POST /confirmations/{id}` with
//! `{"approve": true|false, "args_hash": "...", "by": "name"?}` decides one: the hash
//! must be the listed one (the decision is bound to that exact call), and a call is
//! decided once (a second decision is 409). `by` names who decided for the audit log
//! (`approved_by_console:<by>`; `operator` when left out). These routes are the
//! operator's, behind the server's credentials: no capability reaches them, so a model
//! cannot approve its own call.

use super::ApiError;
use crate::hooks::Operator;
use crate::pipeline::{Broker, DecideError, Pending};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

/// The routes: `GET /confirmations`, `POST /confirmations/{id}`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Broker>: FromRef<S>,
{
    Router::new()
        .route("/confirmations", get(list))
        .route("/confirmations/{id}", post(decide))
}

async fn list(State(broker): State<Arc<Broker>>) -> Json<Vec<Pending>> {
    Json(broker.pending())
}

/// The body of `POST /confirmations/{id}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    /// True approves, false denies.
    approve: bool,
    /// The `args_hash` `GET /confirmations` showed for the call.
    args_hash: String,
    /// Who decides (recorded in the audit log).
    by: Option<String>,
}

async fn decide(
    State(broker): State<Arc<Broker>>,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("`{id}` is not a confirmation id"),
        )
        .with_hint("use an id GET /confirmations lists")
        .into_response();
    };
    let Json(decision) = match body {
        Ok(b) => b,
        Err(rejection) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("the decision is not valid: {}", rejection.body_text()),
            )
            .with_hint(
                r#"send {"approve": true or false, "args_hash": "<from GET /confirmations>"} as application/json"#,
            )
            .into_response();
        }
    };
    let by = match decision.by.as_deref().map(Operator::named) {
        None => Operator::default(),
        Some(Ok(by)) => by,
        Some(Err(why)) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", why).into_response();
        }
    };
    match broker.decide(id, &decision.args_hash, decision.approve, by) {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "id": id,
                "decision": if decision.approve { "approved" } else { "denied" },
                "by": by.name(),
            })),
        )
            .into_response(),
        Err(e @ DecideError::Unknown(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.message()).into_response()
        }
        Err(e @ DecideError::AlreadyDecided(_)) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.message()).into_response()
        }
        Err(e @ DecideError::WrongHash(_)) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.message())
                .with_hint("reload GET /confirmations and decide on what it shows")
                .into_response()
        }
    }
}

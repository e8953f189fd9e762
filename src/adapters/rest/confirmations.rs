//! `GET /confirmations` and `POST /confirmations/{id}`: calls waiting for a person's yes.
//!
//! `GET` lists the waiting calls (id, capability, parameters with sensitive values
//! hidden, `args_hash`, seconds left). `POST /confirmations/{id}` with
//! `{"approve": true|false, "args_hash": "..."}` decides one: the hash must be the listed
//! one (the decision is bound to that exact call), and a call is decided once (a second
//! decision is 409). Who decided comes from the request's credentials, never from the
//! body: `operator` with the bearer token, `operator@console` from a browser session;
//! the audit log records it (`approved_by_console:operator@console`). These routes are
//! the operator's, behind the server's credentials: no capability reaches them, so a
//! model cannot approve its own call.
//!
//! On a team server the request's principal decides what it sees: a user lists and
//! decides only the calls their own agents made (another user's is 404, as if it did not
//! exist), an admin everyone's; a viewer decides nothing (403). The audit records the
//! decider's user name.

use super::ApiError;
use crate::hooks::Operator;
use crate::pipeline::{Broker, DecideError, Pending};
use crate::users::Principal;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, FromRef, Path, State};
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

/// The request's principal: the one the access guard found, the operator without one.
fn principal_of(found: Option<Extension<Principal>>) -> Principal {
    found.map_or_else(Principal::operator, |Extension(p)| p)
}

async fn list(
    State(broker): State<Arc<Broker>>,
    principal: Option<Extension<Principal>>,
) -> Json<Vec<Pending>> {
    Json(broker.pending_for(&principal_of(principal)))
}

/// The body of `POST /confirmations/{id}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    /// True approves, false denies.
    approve: bool,
    /// The `args_hash` `GET /confirmations` showed for the call.
    args_hash: String,
}

/// Who decides, as the access guard found the request's credentials (`operator` when
/// the routes are mounted without the guard).
#[derive(Debug, Clone, Copy)]
pub struct Decider(pub Operator);

async fn decide(
    State(broker): State<Arc<Broker>>,
    decider: Option<Extension<Decider>>,
    principal: Option<Extension<Principal>>,
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
    let who = principal_of(principal);
    // A user decides in their own name; the operator as the way they came in.
    let by = match Operator::named(&who.name) {
        Ok(named) if !who.is_operator() => named,
        _ => decider.map(|Extension(d)| d.0).unwrap_or_default(),
    };
    match broker.decide_as(&who, id, &decision.args_hash, decision.approve, by) {
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
        Err(e @ DecideError::NotAllowed(_)) => super::lane::denied_role(
            e.message(),
            "ask the user whose call it is, or an admin, to decide it",
        )
        .into_response(),
        Err(e @ DecideError::WrongHash(_)) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.message())
                .with_hint("reload GET /confirmations and decide on what it shows")
                .into_response()
        }
    }
}

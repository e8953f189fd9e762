//! `POST /capabilities/{id}/calls`: one call through the whole pipeline (validation,
//! policy, sandbox, confirmation, journal, audit), answered with the envelope of
//! `airun execute --json` and the HTTP status of its outcome.
//!
//! A call that needs a person's yes is approved by `airun serve --yes`; otherwise, when
//! the policy's `confirm.via` lists `console`, it waits in the confirmations broker until
//! someone approves or denies it in the console (`POST /confirmations/{id}`), the
//! policy's timeout declines it, or the client hangs up (the wait ends with the request);
//! without `console` it is declined (422) at once.

use super::error::{json_body, status_of};
use super::lane::Lane;
use super::{ApiError, blocking};
use crate::pipeline::{Broker, CallOptions, Confirmer, FlagConfirmer, NoConfirmer, Waiter};
use crate::powers::CapabilitySet;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// `POST /capabilities/{id}/calls` with the parameters as the body.
pub async fn call<S: CapabilitySet>(
    lane: Lane<S>,
    State(broker): State<Arc<Broker>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = lane.act() {
        return e.into_response();
    }
    // The call is recorded as made by the caller, also when an admin acts in another
    // user's lane.
    let caller = lane.caller.name;
    let api = lane.api;
    let params: Value = match json_body(body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if !params.is_object() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "the request body must be a JSON object of the call's parameters",
        )
        .with_hint(
            "send e.g. {\"path\": \"notes.txt\"}; GET /api/v1/capabilities/{id} shows the inputs",
        )
        .into_response();
    }
    let Some(cap) = api.pipeline().find(&id) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no capability `{id}` on this server"),
        )
        .with_hint("GET /api/v1/capabilities lists the ones the operator's policy allows")
        .into_response();
    };
    let started = Instant::now();
    let runner = api.clone();
    // Dropped with this request (the client hung up): a call waiting in the broker ends.
    let gone = CancellationToken::new();
    let _hang_up = gone.clone().drop_guard();
    let outcome = blocking(move || {
        let cancelled = move || gone.is_cancelled();
        let waiter = Waiter {
            broker: &broker,
            cancelled: &cancelled,
        };
        let confirmer: &dyn Confirmer = if runner.yes() {
            &FlagConfirmer
        } else if runner.pipeline().settings().confirm.allows("console") {
            &waiter
        } else {
            &NoConfirmer
        };
        let options = CallOptions {
            principal: Some(&caller),
            ..CallOptions::default()
        };
        Ok(runner
            .pipeline()
            .execute(cap.id, params, confirmer, options))
    })
    .await;
    let ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Ok(result)) => Json(json!({
            "status": "ok", "capability": cap.id, "result": result, "duration_ms": ms,
        }))
        .into_response(),
        Ok(Err(e)) => {
            let status = status_of(e.kind);
            let mut err = crate::adapters::error_json(&e);
            if err.get("hint").is_none() {
                err["hint"] = Value::Null;
            }
            let body = json!({
                "status": "error", "capability": cap.id, "error": err, "duration_ms": ms,
            });
            (status, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

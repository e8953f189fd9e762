//! `GET /history`, `GET /operations/{op}`, `POST /undo`, `POST /redo`: the workspace's
//! undo journal.
//!
//! Undo and redo are recorded in the audit log like `airun undo` / `redo` (with
//! `"via": "api"`). Their refusals other than bad input are conflicts with the
//! workspace's current state (a file changed since, saved copies lost): 409.

use super::error::{json_body, query};
use super::lane::Lane;
use super::{Api, ApiError, blocking};
use crate::error::{CapError, ErrorKind};
use crate::pipeline::{OpInfo, UndoRequest};
use crate::powers::CapabilitySet;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Instant;

/// The most operations one request may list or act on.
pub const MAX_OPS: usize = 1000;

/// `GET /history` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Most operations to list, newest first (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// Another user's lane (admins only; read by the lane, not here).
    pub user: Option<String>,
}

/// `POST /undo` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// How many operations to undo, newest first (1 to 1000, default 1).
    #[serde(default = "one")]
    pub steps: usize,
    /// Undo every operation from this one on (overrides `steps`).
    pub to: Option<i64>,
    /// Restore even where a file changed after the operation.
    #[serde(default)]
    pub force: bool,
    /// Undo every operation of this agent session that is not undone yet, newest first
    /// (overrides `steps`; with `to`, only those from that operation on).
    pub session: Option<String>,
}

/// `POST /redo` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedoBody {
    /// How many undone operations to redo, oldest first (1 to 1000, default 1).
    #[serde(default = "one")]
    pub steps: usize,
}

fn one() -> usize {
    1
}

fn in_range(name: &str, n: usize) -> Result<usize, ApiError> {
    if (1..=MAX_OPS).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("`{name}` is {n}, outside 1..={MAX_OPS}"),
        )
        .with_hint(format!("pass a `{name}` from 1 to {MAX_OPS}")))
    }
}

/// `GET /history`: the newest operations, newest first.
pub async fn list<S: CapabilitySet>(
    lane: Lane<S>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let limit = in_range("limit", q.limit.unwrap_or(50))?;
    let whose = lane.whose();
    let api = lane.api;
    blocking(move || {
        let ops = api
            .pipeline()
            .journal()
            .history_of(whose.as_deref(), limit)?;
        Ok(Json(json!({ "operations": ops })))
    })
    .await
}

/// `GET /operations/{op}`: what one operation changed (paths, kinds, sizes, and a
/// unified diff for text files up to 1 MiB).
pub async fn operation<S: CapabilitySet>(
    lane: Lane<S>,
    op: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let whose = lane.whose();
    let api = lane.api;
    let Path(op) = op.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("the operation id is not a number: {}", e.body_text()),
        )
        .with_hint("GET /api/v1/history lists the operations and their ids")
    })?;
    blocking(move || {
        let changes = api.state()?.op_changes(op)?;
        // In a workspace several users share, a user sees only their own operations.
        if whose.as_deref().is_some_and(|w| w != changes.op.principal) {
            return Err(no_such_op(op));
        }
        Ok(Json(serde_json::to_value(changes).unwrap_or_default()))
    })
    .await
}

/// True when operation `op` exists in this workspace and is one of `whose`'s (anyone's
/// for `None`).
fn is_theirs<S: CapabilitySet>(
    api: &Api<S>,
    whose: Option<&str>,
    op: i64,
) -> Result<bool, CapError> {
    Ok(api
        .state()?
        .op_principal(op)?
        .is_some_and(|p| whose.is_none_or(|w| w == p)))
}

/// The 404 of an operation the caller does not have.
fn no_such_op(op: i64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no operation {op} of yours in this workspace"),
    )
    .with_hint("GET /api/v1/history lists your operations and their ids")
}

/// A journal command's refusal: bad input stays 400, the rest conflict with the
/// workspace's state.
fn conflict(e: CapError) -> ApiError {
    let kind = e.kind;
    let mut err = ApiError::from(e);
    if kind == ErrorKind::Execution {
        err.status = StatusCode::CONFLICT;
    }
    err
}

/// Records an undo or redo in the audit log and answers with the operations it acted on.
fn finish<S: CapabilitySet>(
    api: &Api<S>,
    (caller, whose): (&str, Option<&str>),
    capability: &str,
    mut params: Value,
    res: Result<Vec<OpInfo>, CapError>,
    started: Instant,
    key: &str,
) -> Result<Json<Value>, ApiError> {
    params["via"] = "api".into();
    let outcome = match &res {
        Ok(ops) => {
            params["ops"] = ops.iter().map(|o| o.op).collect::<Vec<_>>().into();
            "ok"
        }
        Err(e) => e.kind.as_str(),
    };
    api.state()?.record_event_as(
        caller,
        capability,
        params,
        outcome,
        started.elapsed().as_millis() as u64,
    )?;
    let ops = res.map_err(conflict)?;
    let journal = api.pipeline().journal();
    let remaining = match whose {
        None => journal.undoable()?,
        Some(w) => journal
            .principals()?
            .iter()
            .find(|p| p.principal == w)
            .map_or(0, |p| p.undoable),
    };
    Ok(Json(json!({ key: ops, "undoable": remaining })))
}

/// `POST /undo`: undoes the newest `steps` operations, or every one from `to` on.
pub async fn undo<S: CapabilitySet>(
    lane: Lane<S>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    lane.act()?;
    let whose = lane.whose();
    let caller = lane.caller.name.clone();
    let api = lane.api;
    api.writable()?;
    let b: UndoBody = json_body(body)?;
    let steps = in_range("steps", b.steps)?;
    blocking(move || {
        let k = api.pipeline();
        if let Some(op) = b.to
            && !is_theirs(&api, whose.as_deref(), op)?
        {
            return Err(no_such_op(op));
        }
        let started = Instant::now();
        let params = json!({"steps": steps, "to": b.to, "force": b.force, "session": b.session});
        let req = UndoRequest {
            steps,
            to: b.to,
            force: b.force,
            session: b.session,
            principal: whose.clone(),
        };
        // Its events name the lane's user (who sees them); its audit record, the caller.
        let res = k.undo_as(req, api.principal());
        let who = (caller.as_str(), whose.as_deref());
        finish(&api, who, "sys.undo", params, res, started, "undone")
    })
    .await
}

/// `POST /redo`: redoes the oldest `steps` undone operations.
pub async fn redo<S: CapabilitySet>(
    lane: Lane<S>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    lane.act()?;
    let whose = lane.whose();
    let caller = lane.caller.name.clone();
    let api = lane.api;
    api.writable()?;
    let b: RedoBody = json_body(body)?;
    let steps = in_range("steps", b.steps)?;
    blocking(move || {
        let k = api.pipeline();
        let started = Instant::now();
        let res = k.redo_of(steps, whose.as_deref(), api.principal());
        finish(
            &api,
            (&caller, whose.as_deref()),
            "sys.redo",
            json!({"steps": steps}),
            res,
            started,
            "redone",
        )
    })
    .await
}

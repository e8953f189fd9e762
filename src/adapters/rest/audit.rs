//! `GET /audit` (paged, filtered), `GET /audit/verify` and `GET /audit/export` (JSONL,
//! streamed from the database a page at a time, never held whole).

use super::error::query;
use super::lane::Lane;
use super::{ApiError, blocking};
use crate::powers::CapabilitySet;
use crate::timemachine::audit::AuditQuery;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use hyper::body::Frame;
use serde::Deserialize;
use serde_json::{Value, json};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The most records one page holds.
pub const MAX_PAGE: usize = 1000;

/// How many records the export reads from the database at a time.
const EXPORT_PAGE: usize = 500;

/// `GET /audit` and `GET /audit/export` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Most records to return (1 to 1000, default 100; not used by the export).
    pub limit: Option<usize>,
    /// Start after this record number (the `next_cursor` of the page before).
    pub cursor: Option<i64>,
    /// Only this capability id.
    pub capability: Option<String>,
    /// Only this decision (`allowed`, `approved_by_flag`, `denied_policy`, ...).
    pub decision: Option<String>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    pub until: Option<String>,
    /// Another user's lane (admins only; read by the lane, not here).
    pub user: Option<String>,
}

fn bad(message: String, hint: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_hint(hint)
}

/// A time as the audit log stores it.
fn stored_time(name: &str, given: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(given) = given else { return Ok(None) };
    let t: jiff::Timestamp = given.parse().map_err(|e| {
        bad(
            format!("`{name}` is not a time: {e}"),
            "pass an RFC 3339 time such as 2026-01-31T12:00:00Z",
        )
    })?;
    Ok(Some(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
}

impl AuditParams {
    fn into_query(self, default_limit: usize) -> Result<AuditQuery, ApiError> {
        let limit = self.limit.unwrap_or(default_limit);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(bad(
                format!("`limit` is {limit}, outside 1..={MAX_PAGE}"),
                "pass a `limit` from 1 to 1000 and follow `next_cursor` for more",
            ));
        }
        let after = self.cursor.unwrap_or(0);
        if after < 0 {
            return Err(bad(
                format!("`cursor` is {after}, below 0"),
                "pass the `next_cursor` of the page before, or leave it out",
            ));
        }
        Ok(AuditQuery {
            after,
            limit,
            capability: self.capability,
            decision: self.decision,
            since: stored_time("since", self.since)?,
            until: stored_time("until", self.until)?,
            principal: None,
        })
    }
}

/// `GET /audit`: one page of records, oldest first, and the cursor of the next page.
pub async fn page<S: CapabilitySet>(
    lane: Lane<S>,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let mut q = query(q)?.into_query(100)?;
    q.principal = lane.whose();
    let api = lane.api;
    blocking(move || {
        let records = api.state()?.audit_page(&q)?;
        let next = (records.len() == q.limit)
            .then(|| records.last().map(|r| r.seq))
            .flatten();
        Ok(Json(json!({ "records": records, "next_cursor": next })))
    })
    .await
}

/// `GET /audit/verify`: whether the hash chain is intact, and how many records it holds.
pub async fn verify<S: CapabilitySet>(Lane { api, .. }: Lane<S>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        Ok(Json(match api.state()?.audit_verify()? {
            Ok(n) => json!({"intact": true, "records": n, "problem": null}),
            Err(why) => json!({"intact": false, "records": null, "problem": why}),
        }))
    })
    .await
}

/// A response body fed by a channel: each message is one chunk.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|m| m.map(|r| r.map(Frame::data)))
    }
}

/// `GET /audit/export`: every matching record as one JSON line, oldest first, read from
/// the database a page at a time while the client takes them.
pub async fn export<S: CapabilitySet>(
    lane: Lane<S>,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut q = query(q)?.into_query(EXPORT_PAGE)?;
    q.limit = EXPORT_PAGE;
    q.principal = lane.whose();
    let api = lane.api;
    // Fail before the answer starts when the state cannot be read.
    let api2 = api.clone();
    blocking(move || api2.state().map(|_| ()).map_err(ApiError::from)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        loop {
            let records = match api.state().and_then(|tm| tm.audit_page(&q)) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.message)));
                    return;
                }
            };
            let Some(last) = records.last().map(|r| r.seq) else {
                return;
            };
            let mut chunk = Vec::new();
            for r in &records {
                if serde_json::to_writer(&mut chunk, r).is_err() {
                    return;
                }
                chunk.push(b'\n');
            }
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return; // the client went away
            }
            if records.len() < q.limit {
                return;
            }
            q.after = last;
        }
    });
    Ok((
        [(http::header::CONTENT_TYPE, "application/x-ndjson")],
        Body::new(ChannelBody(rx)),
    )
        .into_response())
}

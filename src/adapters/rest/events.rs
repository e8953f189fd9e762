//! `GET /events`: the events bus as Server-Sent Events.
//!
//! Each event is one SSE message: `id:` the event id, `event:` its kind (`requested`,
//! `confirmation_waiting`, `progress`, `finished`, `denied`, `failed`, `undone`,
//! `redone`, `missed`), `data:` the event as JSON. A viewer that reconnects with
//! `Last-Event-ID` (browsers send it by themselves) gets exactly the events it missed
//! while the ring still holds them, else a `missed` event saying how many are gone.
//! `?after=ID` does the same for a first connection. A comment line every 15 seconds
//! keeps idle connections open.
//!
//! Each event names its `principal` (who made the call). An admin (the operator is one)
//! gets everyone's events; any other user only those of their own calls, live and in the
//! replay alike.

use super::ApiError;
use crate::events::{Event, EventBus, Subscription};
use crate::users::Principal;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, FromRef, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The routes: `GET /events`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<EventBus>: FromRef<S>,
{
    Router::new().route("/events", get(stream))
}

/// The query of `GET /events`.
#[derive(Debug, serde::Deserialize)]
struct Resume {
    /// Resume after this event id (as `Last-Event-ID` does).
    after: Option<u64>,
}

async fn stream(
    State(bus): State<Arc<EventBus>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    resume: Result<Query<Resume>, QueryRejection>,
) -> Response {
    let resume = match resume {
        Ok(Query(r)) => r,
        Err(rejection) => {
            return ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("the query is not valid: {}", rejection.body_text()),
            )
            .with_hint("`after` is an event id (a whole number), e.g. /events?after=41")
            .into_response();
        }
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(resume.after);
    let mut sub = bus.subscribe(last);
    if let Some(Extension(p)) = principal.filter(|Extension(p)| !p.is_admin()) {
        sub = sub.only(&p.name);
    }
    drop(bus);
    let events = futures_util::stream::unfold(sub, |mut sub: Subscription| async move {
        let event = sub.next().await?;
        Some((Ok::<_, Infallible>(message(&event)), sub))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One event as an SSE message.
fn message(event: &Event) -> sse::Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    sse::Event::default()
        .id(event.id.to_string())
        .event(event.kind.as_str())
        .data(data)
}

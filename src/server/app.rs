//! The router of `airun serve --port N` and the state its handlers share.
//!
//! `/mcp` is the MCP endpoint (its own token rule: only when a token was given);
//! `/healthz`, `/readyz` and `/metrics` are for load balancers and Prometheus
//! ([`health`](super::health));
//! `/api/v1/...` is the REST API behind [`access::guard`](super::access::guard) and the
//! body limit; `/`, `/login`, `/logout` are the browser console and its login
//! ([`login`](super::login)). Each part of the API (the REST endpoints, the events stream, the
//! confirmations broker) merges its `routes()` into [`api_routes`], taking its state from
//! [`AppState`] through `FromRef`.

use super::access::{Access, guard};
use super::health;
use super::login;
use super::session::Sessions;
use crate::adapters::mcp::McpServer;
use crate::adapters::mcp::http::{MCP_PATH, endpoint, not_found};
use crate::adapters::rest::{self, API_PREFIX, Api, ApiError, BODY_LIMIT};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::pipeline::Broker;
use crate::powers::CapabilitySet;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http::StatusCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What every handler of the listener can take (`State<T>` for any field's type).
/// A new part of the API adds its field here and a `FromRef` impl.
pub struct AppState<S: CapabilitySet> {
    /// The REST API's pipeline and state.
    pub api: Api<S>,
    /// The access rules.
    pub access: Arc<Access>,
    /// Every call's stages, for `GET /events`.
    pub events: Arc<EventBus>,
    /// The calls waiting for a person's yes, for `/confirmations`.
    pub broker: Arc<Broker>,
    /// The Prometheus metrics, for `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl<S: CapabilitySet> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            api: self.api.clone(),
            access: self.access.clone(),
            events: self.events.clone(),
            broker: self.broker.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<S: CapabilitySet> FromRef<AppState<S>> for Arc<EventBus> {
    fn from_ref(state: &AppState<S>) -> Self {
        state.events.clone()
    }
}

impl<S: CapabilitySet> FromRef<AppState<S>> for Arc<Broker> {
    fn from_ref(state: &AppState<S>) -> Self {
        state.broker.clone()
    }
}

impl<S: CapabilitySet> FromRef<AppState<S>> for Arc<Metrics> {
    fn from_ref(state: &AppState<S>) -> Self {
        state.metrics.clone()
    }
}

impl<S: CapabilitySet> FromRef<AppState<S>> for Api<S> {
    fn from_ref(state: &AppState<S>) -> Self {
        state.api.clone()
    }
}

impl<S: CapabilitySet> FromRef<AppState<S>> for Arc<Access> {
    fn from_ref(state: &AppState<S>) -> Self {
        state.access.clone()
    }
}

/// Every route under `/api/v1`, before the access guard.
pub fn api_routes<S: CapabilitySet>() -> Router<AppState<S>> {
    rest::routes::<S, AppState<S>>()
        .merge(rest::events::routes())
        .merge(rest::confirmations::routes())
        .route("/session", get(login::session::<S>))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "there is no such endpoint in the API",
            )
            .with_hint("/api/v1/openapi.json lists the endpoints")
            .into_response()
        })
}

/// What the listener serves.
pub struct AppOptions {
    /// The host the listener is bound on (for the Host and Origin rules).
    pub bound_host: String,
    /// The token `/mcp` requires, when one was given.
    pub mcp_token: Option<String>,
    /// The operator's token the API requires (given or generated).
    pub api_token: String,
    /// Cancelled at shutdown: ends the MCP sessions and other long-lived streams.
    pub sessions: CancellationToken,
    /// The events bus the pipeline publishes on, and the broker the MCP server's calls
    /// wait in for the console.
    pub console: (Arc<EventBus>, Arc<Broker>),
    /// The browsers' sessions: in memory by default, sealed with a key instances share
    /// behind a load balancer.
    pub browsers: Sessions,
}

/// The whole router: `/mcp`, `/api/v1/...`, the console at `/` with its login, and a
/// plain 404 elsewhere.
pub fn router<S: CapabilitySet>(server: McpServer<S>, api: Api<S>, options: AppOptions) -> Router {
    let access = Arc::new(
        Access::new(&options.bound_host, options.api_token).with_sessions(options.browsers),
    );
    let (events, broker) = options.console;
    let metrics = Arc::new(Metrics::new(
        api.pipeline().capabilities().iter().map(|c| c.id),
    ));
    metrics.watch(&events);
    let state = AppState {
        api,
        access: access.clone(),
        events,
        broker,
        metrics,
    };
    let scraped = Router::new()
        .route("/metrics", get(health::metrics::<S>))
        .layer(axum::middleware::from_fn_with_state(access.clone(), guard));
    // Calls per principal: inside the access check, which finds the principal.
    let limits = Arc::new(super::limits::Limits::new(state.api.pipeline().settings()));
    let limited = || axum::middleware::from_fn_with_state(limits.clone(), super::limits::limit);
    let api = api_routes::<S>()
        .layer(limited())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(access, guard));
    Router::new()
        .route("/", get(login::index))
        .route(
            "/login",
            get(login::form)
                .post(login::login)
                .layer(DefaultBodyLimit::max(login::FORM_LIMIT)),
        )
        .route("/logout", post(login::logout))
        .route("/console.js", get(login::asset))
        .route("/console.css", get(login::asset))
        .route(
            MCP_PATH,
            endpoint(
                server,
                &options.bound_host,
                options.mcp_token.as_deref().map(Arc::from),
                options.sessions,
            )
            .layer(limited()),
        )
        .nest(API_PREFIX, api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz::<S>))
        .merge(scraped)
        .fallback(|| async { not_found() })
        .with_state(state)
}

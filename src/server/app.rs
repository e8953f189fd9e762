//! The router of `airun serve --port N` and the state its handlers share.
//!
//! `/mcp` is the MCP endpoint (open on loopback only when no token was given and the
//! server has no users and no `[oauth]`; otherwise any principal's bearer token, and
//! each principal's calls go to their own lane, [`lanes`](super::lanes));
//! `/healthz`, `/readyz` and `/metrics` are for load balancers and Prometheus
//! ([`health`](super::health));
//! `/api/v1/...` is the REST API behind [`access::guard`](super::access::guard) and the
//! body limit; `/`, `/login`, `/logout` are the browser console and its login
//! ([`login`](super::login)). Each part of the API (the REST endpoints, the events stream, the
//! confirmations broker) merges its `routes()` into [`api_routes`], taking its state from
//! [`AppState`] through `FromRef`.

use super::access::{self, Access, guard};
use super::health;
use super::lanes::{Maker, Registry};
use super::limits::{Limits, holding, limit};
use super::login;
use super::oauth::METADATA_PATH;
use super::session::Sessions;
use crate::adapters::mcp::McpServer;
use crate::adapters::mcp::http::{MCP_PATH, answer, not_found, unauthorized};
use crate::adapters::rest::lane::Lanes;
use crate::adapters::rest::{self, API_PREFIX, Api, ApiError, BODY_LIMIT};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::pipeline::Broker;
use crate::powers::CapabilitySet;
use crate::users::Principal;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::extract::{Extension, Request, State};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
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
    /// Every principal's lane.
    pub lanes: Arc<Registry<S>>,
    /// `/mcp` needs no credentials unless the server has users or `[oauth]` (no token
    /// was given).
    pub mcp_open: bool,
    /// Calls a second and at once per principal.
    pub limits: Arc<Limits>,
}

impl<S: CapabilitySet> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            api: self.api.clone(),
            access: self.access.clone(),
            events: self.events.clone(),
            broker: self.broker.clone(),
            metrics: self.metrics.clone(),
            lanes: self.lanes.clone(),
            mcp_open: self.mcp_open,
            limits: self.limits.clone(),
        }
    }
}

impl<S: CapabilitySet> FromRef<AppState<S>> for Lanes<S> {
    fn from_ref(state: &AppState<S>) -> Self {
        Lanes(state.lanes.clone())
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

/// A team server's users, identity provider, and how their lanes are made.
pub struct TeamOptions<S: CapabilitySet> {
    /// Who may come in besides the operator.
    pub access: access::Team,
    /// How a user's lane is made.
    pub maker: Maker<S>,
}

/// Who a `/mcp` request comes from, put in its extensions (401 when credentials are
/// needed and missing or refused).
async fn mcp_guard<S: CapabilitySet>(
    State(state): State<AppState<S>>,
    mut req: Request,
    next: Next,
) -> Response {
    let access = state.access.clone();
    let open = state.mcp_open && {
        let a = access.clone();
        !tokio::task::spawn_blocking(move || a.team_mode())
            .await
            .unwrap_or(true)
    };
    match access.check_mcp(req.headers(), open).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(refused) => {
            let why = match &refused {
                access::Refused::Invalid(why) => Some(why.as_str()),
                access::Refused::Missing => None,
            };
            unauthorized(&access.challenge(&refused), why)
        }
    }
}

/// `/mcp`: the caller's lane's MCP service. Viewers may not call capabilities, so they
/// get 403 here.
async fn mcp<S: CapabilitySet>(
    State(state): State<AppState<S>>,
    Extension(principal): Extension<Principal>,
    req: Request<Body>,
) -> Response {
    if !principal.may_act() {
        return (
            StatusCode::FORBIDDEN,
            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "forbidden: `{}` is a viewer; viewers may look in the console and the read-only API but not call capabilities\n",
                principal.name
            ),
        )
            .into_response();
    }
    let permit = match state.limits.admit_request(&principal, &req) {
        Ok(permit) => permit,
        Err(refusal) => return refusal.into_response(),
    };
    let lanes = state.lanes.clone();
    // A lane already open is had without a hop to the blocking pool.
    let lane = match lanes.open_lane_of(&principal) {
        Some(lane) => Ok(Ok(lane)),
        None => tokio::task::spawn_blocking(move || lanes.lane_of(&principal)).await,
    };
    match lane {
        Ok(Ok(lane)) => holding(answer(&lane.mcp, req).await, permit),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("your lane cannot be opened: {}\n", e.message),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's worker failed: {e}\n"),
        )
            .into_response(),
    }
}

/// The whole router: `/mcp`, `/api/v1/...`, the console at `/` with its login, and a
/// plain 404 elsewhere; the operator is the only principal.
pub fn router<S: CapabilitySet>(server: McpServer<S>, api: Api<S>, options: AppOptions) -> Router {
    team_router(server, api, options, None)
}

/// [`router`] for a team server: users (and an identity provider's identities) come in
/// too, each to their own lane.
pub fn team_router<S: CapabilitySet>(
    server: McpServer<S>,
    api: Api<S>,
    options: AppOptions,
    team: Option<TeamOptions<S>>,
) -> Router {
    let (team_access, maker) = match team {
        Some(t) => (t.access, Some(t.maker)),
        None => (access::Team::default(), None),
    };
    let oauth = team_access.oauth.clone();
    let access = Arc::new(
        Access::new(&options.bound_host, options.api_token)
            .with_sessions(options.browsers)
            .with_team(team_access),
    );
    let (events, broker) = options.console;
    let lanes = Arc::new(Registry::new(
        server,
        api.clone(),
        maker,
        &options.bound_host,
        options.sessions,
        (events.clone(), broker.clone()),
    ));
    let metrics = Arc::new(Metrics::new(
        api.pipeline().capabilities().iter().map(|c| c.id),
    ));
    metrics.watch(&events);
    let limits = Arc::new(Limits::new(api.pipeline().settings()));
    let state = AppState {
        api,
        access: access.clone(),
        events,
        broker,
        metrics,
        lanes,
        mcp_open: options.mcp_token.is_none(),
        limits: limits.clone(),
    };
    let scraped = Router::new()
        .route("/metrics", get(health::metrics::<S>))
        .layer(axum::middleware::from_fn_with_state(access.clone(), guard));
    // Calls per principal: inside the access check, which finds the principal.
    let api = api_routes::<S>()
        .layer(axum::middleware::from_fn_with_state(limits, limit))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(access, guard));
    let mut router = Router::new();
    if let Some(oauth) = oauth {
        let doc = move || {
            let oauth = oauth.clone();
            async move { oauth.document() }
        };
        router = router
            .route(METADATA_PATH, get(doc.clone()))
            .route(&format!("{METADATA_PATH}{MCP_PATH}"), get(doc));
    }
    router
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
            axum::routing::any(mcp::<S>).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                mcp_guard::<S>,
            )),
        )
        .nest(API_PREFIX, api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz::<S>))
        .merge(scraped)
        .fallback(|| async { not_found() })
        .with_state(state)
}

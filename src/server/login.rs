//! The browser's way in: `GET /login` (the form), `POST /login` (the operator's or a
//! user's token in, a session cookie out), `POST /logout`, `GET /api/v1/session` (the
//! page's CSRF token, who is logged in and the mode), and the console at `/` for a browser
//! that logged in.
//!
//! - A wrong token answers 401 with the form again and no cookie, after a short pause
//!   (the token is compared in constant time; the pause slows guessing further).
//! - The login form obeys the `Host` and `Origin` rules of the API, so another site
//!   cannot log a browser in (or out).
//! - `POST /logout` is a change made with the cookie: it needs the CSRF token.

use super::access::{Access, Caller};
use super::session::{clear_cookie, cookie_id, set_cookie};
use crate::adapters::console;
use crate::adapters::rest::confirmations::Decider;
use crate::adapters::rest::lane::Lane;
use crate::powers::CapabilitySet;
use crate::users::Principal;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::header::{HeaderValue, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How long a wrong token waits before its answer.
pub const WRONG_TOKEN_PAUSE: Duration = Duration::from_millis(300);

/// The largest login form read (the token is 64 characters).
pub const FORM_LIMIT: usize = 16 << 10;

/// True when the request's session is live and its user still exists.
fn logged_in(access: &Access, headers: &HeaderMap) -> bool {
    cookie_id(headers)
        .and_then(|id| access.sessions().touch(id))
        .is_some_and(|found| access.user_named(&found.name).is_some())
}

/// `GET /`: the console for a browser that logged in, else a redirect to the form.
pub async fn index(State(access): State<Arc<Access>>, headers: HeaderMap) -> Response {
    if let Err(e) = access.check_site(&headers) {
        return e.into_response();
    }
    if logged_in(&access, &headers) {
        console::index()
    } else {
        Redirect::to("/login").into_response()
    }
}

/// `GET /console.js`, `GET /console.css`: the console's files (no data in them).
pub async fn asset(uri: Uri) -> Response {
    console::asset(uri.path()).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

/// `GET /login`: the form (or the console, when this browser is logged in already).
pub async fn form(State(access): State<Arc<Access>>, headers: HeaderMap) -> Response {
    if let Err(e) = access.check_site(&headers) {
        return e.into_response();
    }
    if logged_in(&access, &headers) {
        return Redirect::to("/").into_response();
    }
    console::login(StatusCode::OK, None)
}

/// `POST /login` with `token=...` (a form): a session cookie and a redirect to the
/// console, or the form again with what was wrong.
pub async fn login(State(access): State<Arc<Access>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = access.check_site(&headers) {
        return console::login(StatusCode::FORBIDDEN, Some(&e.message));
    }
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if token.is_empty() {
        return console::login(
            StatusCode::BAD_REQUEST,
            Some(
                "Enter the operator token that `airun serve` printed when it started, or your \
                 own token from `airun user add`.",
            ),
        );
    }
    // The operator's token or a user's; an identity provider's access tokens are for API
    // clients (the session could not read their user again).
    let who = match access.principal_of_token(&token).await {
        Ok(p) if access.user_named(&p.name).is_some() => Some(p),
        _ => None,
    };
    let Some(who) = who else {
        tokio::time::sleep(WRONG_TOKEN_PAUSE).await;
        return console::login(
            StatusCode::UNAUTHORIZED,
            Some(
                "That is not the operator token, nor a user's. Copy the token `airun serve` \
                 printed when it started (or the one given with --token / AIRUN_TOKEN), or \
                 the one `airun user add` showed you.",
            ),
        );
    };
    let Some(id) = access.sessions().create(&who.name) else {
        return console::login(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("The system gave no randomness for a session id; try again."),
        );
    };
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&id)) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// `POST /logout`: ends this browser's session (with its CSRF token) and removes the
/// cookie.
pub async fn logout(State(access): State<Arc<Access>>, headers: HeaderMap) -> Response {
    if let Err(e) = access.check(&Method::POST, &headers).await {
        return e.into_response();
    }
    if let Some(id) = cookie_id(&headers) {
        access.sessions().remove(id);
    }
    let mut r = Json(json!({"logged_out": true})).into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// `GET /api/v1/session`: how this request got in, the session's CSRF token (for a
/// browser), who is calling and with what role, who decisions are recorded as, and
/// whether their lane is read-only (the console then hides every button that would
/// change something).
pub async fn session<S: CapabilitySet>(
    lane: Lane<S>,
    State(access): State<Arc<Access>>,
    Extension(caller): Extension<Caller>,
    Extension(decider): Extension<Decider>,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    let Lane { caller: who, api } = lane;
    let who: Principal = who;
    let found = match caller {
        Caller::Session => cookie_id(&headers).and_then(|id| access.sessions().touch(id)),
        Caller::Bearer => None,
    };
    Json(json!({
        "via": match caller { Caller::Bearer => "bearer", Caller::Session => "cookie" },
        "operator": decider.0.name(),
        "user": who.name,
        "role": who.role,
        "csrf_token": found.as_ref().map(|f| f.csrf.clone()),
        "expires_in_seconds": found.map(|f| f.expires_in),
        "read_only": api.pipeline().settings().read_only,
    }))
}

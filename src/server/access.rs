//! Who may use the REST API and `/mcp`: the checks every request passes before its
//! handler runs, and the [`Principal`] it comes from.
//!
//! 1. `Host` names this server (the loopback names or the bound host; not checked when
//!    bound on every interface), as for `/mcp` (403 otherwise).
//! 2. A browser `Origin`, when sent, names one of those hosts (403 otherwise).
//! 3. The caller proves who they are with `Authorization: Bearer <token>` (scripts and
//!    agents) or with the session cookie of a browser that logged in
//!    ([`super::session`]); 401 with `WWW-Authenticate` otherwise. The token is the
//!    operator's (the bootstrap admin, [`Principal::operator`]), a user's (`airun_...`,
//!    looked up by its hash in `$AIRUN_HOME/users.db` on every request, so a removed user
//!    or a rotated token stops working at once), or, with `[oauth]` in the policy, an
//!    identity provider's access token ([`super::oauth`]). A cookie request that changes
//!    something (any method but GET, HEAD, OPTIONS) must also carry the session's CSRF
//!    token in `X-CSRF-Token` (403 otherwise). [`Caller`] names the way in.

use super::oauth::{self, OAuth};
use super::session::{CSRF_HEADER, Sessions, cookie_id};
use crate::adapters::mcp::http::{allowed_hosts, bearer, on_every_interface};
use crate::adapters::rest::ApiError;
use crate::adapters::rest::confirmations::Decider;
use crate::hooks::Operator;
use crate::identity::Identity;
use crate::types::same_secret;
use crate::users::store::default_workspace;
use crate::users::{OPERATOR, Principal, UserStore};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use http::{HeaderMap, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;

/// How a request proved who it comes from (put in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A script or client with a token in `Authorization: Bearer`.
    Bearer,
    /// A browser with the session cookie of a login.
    Session,
}

/// The name the audit log records for a decision taken in the browser console.
pub const CONSOLE_OPERATOR: &str = "operator@console";

impl Caller {
    /// Who this caller is, for the audit log: `operator` with the bearer token,
    /// `operator@console` from a browser session.
    pub fn operator(self) -> Operator {
        match self {
            Caller::Bearer => Operator::default(),
            Caller::Session => Operator::named(CONSOLE_OPERATOR).unwrap_or_default(),
        }
    }
}

/// The users and identity provider of a team server.
#[derive(Debug, Default)]
pub struct Team {
    /// The user database (`$AIRUN_HOME/users.db`).
    pub users: Option<Arc<UserStore>>,
    /// The identity provider's tokens, when the policy has `[oauth]`.
    pub oauth: Option<Arc<OAuth>>,
    /// `$AIRUN_HOME`: an identity without a user record acts in its own workspace under it.
    pub home: PathBuf,
}

/// The API's access rules.
#[derive(Debug)]
pub struct Access {
    token: String,
    hosts: Vec<String>,
    check_host: bool,
    sessions: Arc<Sessions>,
    team: Team,
}

/// The host part of a `Host` header or an origin's authority, without port or brackets.
fn host_part(authority: &str) -> Option<String> {
    let a: http::uri::Authority = authority.parse().ok()?;
    Some(
        a.host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    )
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "denied_policy", message)
}

/// Why a request was refused its way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// It carried no credentials.
    Missing,
    /// It carried a token that is not valid, and why.
    Invalid(String),
}

impl Access {
    /// The rules for a listener bound on `bound_host` whose operator token is `token`.
    pub fn new(bound_host: &str, token: String) -> Access {
        Access {
            token,
            hosts: allowed_hosts(bound_host),
            check_host: !on_every_interface(bound_host),
            sessions: Arc::new(Sessions::default()),
            team: Team::default(),
        }
    }

    /// The same rules with `sessions` (shared between instances) for the browsers.
    pub fn with_sessions(mut self, sessions: Sessions) -> Access {
        self.sessions = Arc::new(sessions);
        self
    }

    /// The same rules, also letting in the users and identity provider of `team`.
    pub fn with_team(mut self, team: Team) -> Access {
        self.team = team;
        self
    }

    /// The browsers' sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The identity provider's setup, when the policy has `[oauth]`.
    pub fn oauth(&self) -> Option<&OAuth> {
        self.team.oauth.as_deref()
    }

    /// The user database, when there is one.
    pub fn users(&self) -> Option<&Arc<UserStore>> {
        self.team.users.as_ref()
    }

    /// True when the server has users or accepts an identity provider's tokens: then
    /// `/mcp` always needs credentials.
    pub fn team_mode(&self) -> bool {
        self.team.oauth.is_some()
            || self
                .team
                .users
                .as_ref()
                .is_some_and(|u| u.any().unwrap_or(true))
    }

    /// True when `given` is the operator's token (compared in constant time).
    pub fn token_matches(&self, given: &str) -> bool {
        same_secret(given.as_bytes(), self.token.as_bytes())
    }

    /// The `WWW-Authenticate` value of a refusal.
    pub fn challenge(&self, refused: &Refused) -> String {
        let why = match refused {
            Refused::Missing => None,
            Refused::Invalid(why) => Some(why.as_str()),
        };
        oauth::challenge(self.oauth(), why)
    }

    /// The 401 of a refusal, as the API's JSON error.
    pub fn unauthorized(&self, refused: &Refused) -> ApiError {
        let e = match refused {
            Refused::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this API needs the operator's token, a user's token or an access token",
            )
            .with_hint("send `Authorization: Bearer <token>` with the token `airun serve` printed (or --token / AIRUN_TOKEN) or the one `airun user add` showed, or log in at /login in a browser"),
            Refused::Invalid(why) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("the token was refused: {why}"),
            )
            .with_hint("send a current token: `airun user token rotate NAME` makes a user a new one"),
        };
        e.with_challenge(self.challenge(refused))
    }

    /// The user `name` as a principal, read again now; `None` when they are gone.
    pub fn user_named(&self, name: &str) -> Option<Principal> {
        if name == OPERATOR {
            return Some(Principal::operator());
        }
        let user = self.team.users.as_ref()?.get(name).ok()??;
        Some(Principal::user(&user))
    }

    /// The principal of an identity provider's identity: their user record's workspace
    /// and policy when there is one, else their own workspace under `$AIRUN_HOME`; the
    /// role the claim rules gave.
    fn identity_principal(&self, id: Identity) -> Principal {
        let record = self
            .team
            .users
            .as_ref()
            .and_then(|u| u.get(&id.name).ok().flatten());
        let (workspace, policy) = match record {
            Some(u) => (u.workspace, u.policy),
            None => (default_workspace(&self.team.home, &id.name), None),
        };
        Principal {
            name: id.name,
            role: id.role,
            workspace: Some(workspace),
            policy,
        }
    }

    /// Who the bearer `token` speaks for.
    pub async fn principal_of_token(&self, token: &str) -> Result<Principal, Refused> {
        if token.is_empty() {
            return Err(Refused::Missing);
        }
        if self.token_matches(token) {
            return Ok(Principal::operator());
        }
        if let Some(users) = &self.team.users
            && token.starts_with(crate::users::token::PREFIX)
        {
            return match users.authenticate(token) {
                Ok(Some(user)) => Ok(Principal::user(&user)),
                Ok(None) => Err(Refused::Invalid(
                    "no user has this token (it was rotated, or its user removed)".into(),
                )),
                Err(e) => Err(Refused::Invalid(e.message)),
            };
        }
        if let Some(oauth) = &self.team.oauth {
            return match oauth.verifier().verify(token).await {
                Ok(id) => Ok(self.identity_principal(id)),
                Err(why) => Err(Refused::Invalid(why.0)),
            };
        }
        Err(Refused::Invalid(
            "the token is neither the operator's nor a user's".into(),
        ))
    }

    /// Checks the `Host` and `Origin` rules alone (for the login form).
    pub fn check_site(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.check_host {
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(host_part);
            if !host.is_some_and(|h| self.hosts.contains(&h)) {
                return Err(
                    forbidden("the Host header does not name this server".into()).with_hint(
                        "connect to the address `airun serve` printed (localhost or 127.0.0.1)",
                    ),
                );
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            let ok = origin
                .to_str()
                .ok()
                .and_then(|o| url::Url::parse(o).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .and_then(|u| {
                    u.host_str().map(|h| {
                        h.trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_ascii_lowercase()
                    })
                })
                .is_some_and(|h| self.hosts.contains(&h));
            if !ok {
                return Err(forbidden(format!(
                    "requests from the web page at {} are refused",
                    origin.to_str().unwrap_or("an unreadable origin")
                ))
                .with_hint("only pages served by this machine may call the API"));
            }
        }
        Ok(())
    }

    /// The browser session a request's cookie names, with its principal (read again),
    /// checking the CSRF token of a request that changes something.
    fn check_session(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Result<Principal, ApiError>> {
        let found = cookie_id(headers).and_then(|id| self.sessions.touch(id))?;
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let csrf_ok = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| same_secret(t.as_bytes(), found.csrf.as_bytes()));
        if !safe && !csrf_ok {
            return Some(Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a request from the browser that changes something needs the session's CSRF token",
            )
            .with_hint(
                "send the `csrf_token` of GET /api/v1/session in the X-CSRF-Token header",
            )));
        }
        Some(self.user_named(&found.name).ok_or_else(|| {
            self.unauthorized(&Refused::Invalid(format!(
                "the user `{}` of this session no longer exists",
                found.name
            )))
        }))
    }

    /// Checks one request: its method and headers; who it comes from and how.
    pub async fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(Caller, Principal), ApiError> {
        self.check_site(headers)?;
        if let Some(token) = bearer(headers) {
            return self
                .principal_of_token(token)
                .await
                .map(|p| (Caller::Bearer, p))
                .map_err(|r| self.unauthorized(&r));
        }
        match self.check_session(method, headers) {
            Some(found) => found.map(|p| (Caller::Session, p)),
            None => Err(self.unauthorized(&Refused::Missing)),
        }
    }

    /// Who a `/mcp` request comes from: with `open` (no token given and no team) the
    /// operator, whatever it carries; otherwise its bearer token must name someone.
    pub async fn check_mcp(&self, headers: &HeaderMap, open: bool) -> Result<Principal, Refused> {
        if open {
            return Ok(Principal::operator());
        }
        match bearer(headers) {
            Some(token) => self.principal_of_token(token).await,
            None => Err(Refused::Missing),
        }
    }
}

/// Who decisions taken by `principal` are recorded as: the principal's name, and
/// `operator@console` for the operator's browser.
pub fn decider(caller: Caller, principal: &Principal) -> Operator {
    if principal.is_operator() {
        caller.operator()
    } else {
        Operator::named(&principal.name).unwrap_or_default()
    }
}

/// The middleware that applies [`Access::check`] to every request it guards.
pub async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    match access.check(req.method(), req.headers()).await {
        Ok((caller, principal)) => {
            req.extensions_mut().insert(caller);
            req.extensions_mut()
                .insert(Decider(decider(caller, &principal)));
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[tokio::test]
    async fn host_origin_and_token() {
        let a = Access::new("127.0.0.1", "tok".into());
        let ok = headers(&[("host", "127.0.0.1:8080"), ("authorization", "Bearer tok")]);
        assert_eq!(a.check(&Method::GET, &ok).await.unwrap().0, Caller::Bearer);
        let no_token = headers(&[("host", "localhost:1")]);
        assert_eq!(
            a.check(&Method::GET, &no_token).await.unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let evil_host = headers(&[("host", "evil.example:80"), ("authorization", "Bearer tok")]);
        assert_eq!(
            a.check(&Method::GET, &evil_host).await.unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let evil_origin = headers(&[
            ("host", "[::1]:9"),
            ("origin", "http://evil.example"),
            ("authorization", "Bearer tok"),
        ]);
        assert_eq!(
            a.check(&Method::GET, &evil_origin)
                .await
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        let own_origin = headers(&[
            ("host", "[::1]:9"),
            ("origin", "http://[::1]:9"),
            ("authorization", "Bearer tok"),
        ]);
        assert!(a.check(&Method::GET, &own_origin).await.is_ok());
        let wrong = headers(&[("host", "127.0.0.1:1"), ("authorization", "Bearer nope")]);
        let e = a.check(&Method::GET, &wrong).await.unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(
            e.challenge.unwrap().contains("error=\"invalid_token\""),
            "a refused token says so"
        );
    }

    #[tokio::test]
    async fn cookie_needs_csrf_to_change_things() {
        let a = Access::new("127.0.0.1", "tok".into());
        let id = a.sessions().create("operator").unwrap();
        let csrf = a.sessions().touch(&id).unwrap().csrf;
        let cookie = format!("airun_session={id}");
        let get = headers(&[("host", "127.0.0.1:1"), ("cookie", &cookie)]);
        assert_eq!(
            a.check(&Method::GET, &get).await.unwrap().0,
            Caller::Session
        );
        assert_eq!(
            a.check(&Method::POST, &get).await.unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let wrong = headers(&[
            ("host", "127.0.0.1:1"),
            ("cookie", &cookie),
            ("x-csrf-token", "0000"),
        ]);
        assert_eq!(
            a.check(&Method::POST, &wrong).await.unwrap_err().kind,
            "csrf"
        );
        let post = headers(&[
            ("host", "127.0.0.1:1"),
            ("cookie", &cookie),
            ("x-csrf-token", &csrf),
        ]);
        assert_eq!(
            a.check(&Method::POST, &post).await.unwrap().0,
            Caller::Session
        );
        let unknown = headers(&[("host", "127.0.0.1:1"), ("cookie", "airun_session=ff")]);
        assert_eq!(
            a.check(&Method::GET, &unknown).await.unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(Caller::Session.operator().name(), CONSOLE_OPERATOR);
        let (_, who) = a.check(&Method::GET, &get).await.unwrap();
        assert!(who.is_operator());
        assert_eq!(decider(Caller::Session, &who).name(), CONSOLE_OPERATOR);
        // A session of a user the server does not know (no user database) is refused.
        let ghost = a.sessions().create("ann").unwrap();
        let cookie = format!("airun_session={ghost}");
        let h = headers(&[("host", "127.0.0.1:1"), ("cookie", &cookie)]);
        assert_eq!(
            a.check(&Method::GET, &h).await.unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(Caller::Bearer.operator().name(), "operator");
    }
}

//! Load limits per principal: how many calls each one (the operator, each user) may make,
//! and how many may run at once, so that one agent's flood cannot starve the others.
//!
//! The policy's `[limits]` (`calls_per_second`, `burst`, `concurrent_calls`) give every
//! principal its own allowance; a user's own policy may only lower theirs (see
//! [`LimitsPolicy::narrowed_by`]). The rate is a GCRA token bucket (the `governor` crate)
//! per principal, the concurrency cap a [`Semaphore`] per principal whose permit is held
//! until the call's answer has been sent in full.
//!
//! [`limit`] guards the call paths only: `POST /api/v1/capabilities/{id}/calls` and
//! `POST /mcp`. A call beyond a limit is answered 429 with `Retry-After` and a JSON
//! error naming the limit, before anything of it runs: it changes nothing and leaves no
//! audit record.

use crate::settings::{LimitsPolicy, Settings};
use crate::users::Principal;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderValue, Method, StatusCode};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use serde_json::json;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One principal's allowance: its limits (and the policy file they were read from), its
/// token bucket and its running calls.
struct Lane {
    file: Option<std::path::PathBuf>,
    policy: LimitsPolicy,
    rate: DefaultDirectRateLimiter,
    running: Arc<Semaphore>,
}

impl Lane {
    fn new(file: Option<std::path::PathBuf>, policy: LimitsPolicy) -> Lane {
        let count = |n: u64| NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX).max(1));
        let quota = Quota::per_second(count(policy.calls_per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(count(policy.burst).unwrap_or(NonZeroU32::MIN));
        Lane {
            file,
            policy,
            rate: RateLimiter::direct(quota),
            running: Arc::new(Semaphore::new(
                usize::try_from(policy.concurrent_calls).unwrap_or(Semaphore::MAX_PERMITS),
            )),
        }
    }
}

/// Why a call was not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The principal made more calls than `calls_per_second` and `burst` allow; the
    /// next one is let through after `retry_after`.
    Rate {
        /// Who.
        principal: String,
        /// Their limits.
        policy: LimitsPolicy,
        /// How long until a call is let through again.
        retry_after: Duration,
    },
    /// The principal already has `concurrent_calls` calls running.
    Concurrent {
        /// Who.
        principal: String,
        /// Their limits.
        policy: LimitsPolicy,
    },
    /// The principal's own policy file could not be read.
    Policy(String),
}

impl Refusal {
    /// Whole seconds to wait (at least 1), for `Retry-After`.
    pub fn retry_after_seconds(&self) -> u64 {
        match self {
            Refusal::Rate { retry_after, .. } => retry_after.as_secs_f64().ceil().max(1.0) as u64,
            _ => 1,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let retry = self.retry_after_seconds();
        let (status, kind, limit, message, hint) = match &self {
            Refusal::Rate {
                principal,
                policy,
                ..
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "calls_per_second",
                format!(
                    "`{principal}` made more calls than limits.calls_per_second = {} (with limits.burst = {}) allows; this call was not run",
                    policy.calls_per_second, policy.burst
                ),
                format!(
                    "wait {retry} s (Retry-After) and send it again, spreading calls out; the operator sets [limits] in the policy"
                ),
            ),
            Refusal::Concurrent { principal, policy } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "concurrent_calls",
                format!(
                    "`{principal}` already has limits.concurrent_calls = {} calls running; this call was not run",
                    policy.concurrent_calls
                ),
                "wait for a running call to finish (Retry-After) and send it again; the operator sets [limits] in the policy".to_string(),
            ),
            Refusal::Policy(why) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "execution",
                "policy",
                why.clone(),
                "ask an admin to fix the user's policy file (airun user list shows it)".to_string(),
            ),
        };
        let body =
            json!({"error": {"kind": kind, "limit": limit, "message": message, "hint": hint}});
        let mut r = (status, Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Ok(v) = HeaderValue::from_str(&retry.to_string())
        {
            r.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        r
    }
}

/// The limits of every principal, made on their first call (and again when their
/// policy file changes to another).
pub struct Limits {
    operator: LimitsPolicy,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("operator", &self.operator)
            .finish()
    }
}

impl Limits {
    /// The limits of the operator's settings, for every principal (a user's own policy
    /// lowers theirs).
    pub fn new(operator: &Settings) -> Limits {
        Limits {
            operator: operator.limits,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// `who`'s limits: the operator's, lowered by the user's own policy file.
    fn policy_of(&self, who: &Principal) -> Result<LimitsPolicy, Refusal> {
        let Some(path) = &who.policy else {
            return Ok(self.operator);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            Refusal::Policy(format!(
                "the policy file of `{}` ({}) cannot be read: {e}",
                who.name,
                path.display()
            ))
        })?;
        let user = crate::policy::parse(&text, path)
            .map_err(|e| Refusal::Policy(format!("the policy of `{}`: {}", who.name, e.message)))?;
        Ok(self.operator.narrowed_by(&user.limits))
    }

    fn lane(&self, who: &Principal) -> Result<Arc<Lane>, Refusal> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        // Made again when an admin gave the user another policy file.
        if let Some(lane) = lanes.get(&who.name).filter(|l| l.file == who.policy) {
            return Ok(lane.clone());
        }
        let lane = Arc::new(Lane::new(who.policy.clone(), self.policy_of(who)?));
        lanes.insert(who.name.clone(), lane.clone());
        Ok(lane)
    }

    /// The limits `who` runs under.
    pub fn of(&self, who: &Principal) -> Result<LimitsPolicy, Refusal> {
        self.lane(who).map(|l| l.policy)
    }

    /// Lets one call of `who` through, or says which limit it is beyond. The permit is
    /// one of their running calls until it is dropped.
    pub fn admit(&self, who: &Principal) -> Result<OwnedSemaphorePermit, Refusal> {
        let lane = self.lane(who)?;
        // The running calls first: a call refused for them uses none of the rate.
        let permit = lane
            .running
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Concurrent {
                principal: who.name.clone(),
                policy: lane.policy,
            })?;
        if let Err(later) = lane.rate.check() {
            return Err(Refusal::Rate {
                principal: who.name.clone(),
                policy: lane.policy,
                retry_after: later.wait_time_from(lane.rate.clock().now()),
            });
        }
        Ok(permit)
    }
}

/// True for the requests that make calls: `POST /mcp` and `POST .../capabilities/{id}/calls`
/// (the path as the API's router sees it, with or without its prefix).
pub fn is_call(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    if path == crate::adapters::mcp::http::MCP_PATH {
        return true;
    }
    let path = path
        .strip_prefix(crate::adapters::rest::API_PREFIX)
        .unwrap_or(path);
    path.strip_prefix("/capabilities/")
        .and_then(|rest| rest.strip_suffix("/calls"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

impl Limits {
    /// [`Limits::admit`] for a request of `who` that is a call ([`is_call`]); `None`
    /// for any other request, which is not counted.
    pub fn admit_request(
        &self,
        who: &Principal,
        req: &Request,
    ) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        if !is_call(req.method(), req.uri().path()) {
            return Ok(None);
        }
        self.admit(who).map(Some).inspect_err(|refusal| {
            tracing::debug!(principal = %who.name, ?refusal, "call refused by the limits");
        })
    }
}

/// `response`, with `permit` (a running call) held until its body has been sent.
pub fn holding(response: Response, permit: Option<OwnedSemaphorePermit>) -> Response {
    match permit {
        Some(permit) => response.map(|body| Body::new(Held { body, permit })),
        None => response,
    }
}

/// The middleware: a call of the request's principal (the operator when the access
/// check put none in the request) passes [`Limits::admit`] or is answered 429; other
/// requests pass untouched.
pub async fn limit(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let who = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::operator);
    match limits.admit_request(&who, &req) {
        Ok(permit) => holding(next.run(req).await, permit),
        Err(refusal) => refusal.into_response(),
    }
}

/// A response body that keeps its call's permit until it has been sent in full (or the
/// client went away), so a streamed answer counts as running until it ends.
struct Held {
    body: Body,
    #[allow(dead_code)]
    permit: OwnedSemaphorePermit,
}

impl HttpBody for Held {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Role;

    fn limits(rate: u64, burst: u64, concurrent: u64) -> Limits {
        Limits::new(&Settings {
            limits: LimitsPolicy {
                calls_per_second: rate,
                burst,
                concurrent_calls: concurrent,
            },
            ..Settings::default()
        })
    }

    fn user(name: &str, policy: Option<std::path::PathBuf>) -> Principal {
        Principal {
            name: name.into(),
            role: Role::Agent,
            workspace: None,
            policy,
        }
    }

    #[test]
    fn a_burst_beyond_the_limit_is_refused_with_how_long_to_wait() {
        let l = limits(1, 3, 100);
        let op = Principal::operator();
        for _ in 0..3 {
            drop(l.admit(&op).expect("within the burst"));
        }
        match l.admit(&op) {
            Err(r @ Refusal::Rate { .. }) => {
                let Refusal::Rate { retry_after, .. } = &r else {
                    unreachable!()
                };
                assert!(*retry_after <= Duration::from_secs(1), "{retry_after:?}");
                assert_eq!(r.retry_after_seconds(), 1);
            }
            other => panic!("the fourth call passed: {other:?}"),
        }
        // Another principal has an allowance of its own.
        assert!(l.admit(&user("ann", None)).is_ok());
    }

    #[test]
    fn running_calls_are_capped_per_principal() {
        let l = limits(1000, 1000, 2);
        let ann = user("ann", None);
        let a = l.admit(&ann).unwrap();
        let _b = l.admit(&ann).unwrap();
        assert!(matches!(l.admit(&ann), Err(Refusal::Concurrent { .. })));
        assert!(l.admit(&user("bob", None)).is_ok(), "bob is not ann");
        drop(a);
        assert!(l.admit(&ann).is_ok(), "a finished call frees its place");
    }

    #[test]
    fn a_users_policy_lowers_their_limits_and_never_raises_them() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower.toml");
        std::fs::write(&lower, "[limits]\ncalls_per_second = 2\nburst = 2\n").unwrap();
        let higher = dir.path().join("higher.toml");
        std::fs::write(
            &higher,
            "[limits]\nburst = 99999\nconcurrent_calls = 99999\n",
        )
        .unwrap();
        let l = limits(10, 10, 4);
        let low = l.of(&user("low", Some(lower))).unwrap();
        assert_eq!(
            (low.calls_per_second, low.burst, low.concurrent_calls),
            (2, 2, 4)
        );
        let high = l.of(&user("high", Some(higher.clone()))).unwrap();
        assert_eq!(
            (high.calls_per_second, high.burst, high.concurrent_calls),
            (10, 10, 4)
        );
        let missing = user("gone", Some(dir.path().join("missing.toml")));
        assert!(matches!(l.admit(&missing), Err(Refusal::Policy(_))));
        // Given another policy file, the same user's limits follow it.
        let moved = l.of(&user("low", Some(higher))).unwrap();
        assert_eq!(moved.calls_per_second, 10);
    }

    #[test]
    fn only_the_call_paths_are_limited() {
        assert!(is_call(&Method::POST, "/mcp"));
        assert!(is_call(
            &Method::POST,
            "/capabilities/io.fs.read_file/calls"
        ));
        assert!(is_call(
            &Method::POST,
            "/api/v1/capabilities/io.fs.read_file/calls"
        ));
        assert!(!is_call(&Method::GET, "/mcp"));
        assert!(!is_call(&Method::POST, "/undo"));
        assert!(!is_call(&Method::POST, "/confirmations/3"));
        assert!(!is_call(&Method::GET, "/capabilities/io.fs.read_file"));
        assert!(!is_call(&Method::POST, "/capabilities//calls"));
    }
}

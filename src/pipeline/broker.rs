//! The confirmations broker: calls that wait for a person's yes in the operations console.
//!
//! A call that needs a yes and has nobody else to ask waits here ([`Broker`] is a
//! [`Confirmer`]), listed by `GET /confirmations`, until a person approves or denies it
//! (`POST /confirmations/{id}`) or the policy's `confirm.timeout_seconds` declines it. A
//! decision names the call by its id and by the hash of its arguments, so it approves
//! that exact call and nothing else, and it counts once: a second decision is refused.
//! The decision is the operator's, never the model's: no capability reaches the broker.
//!
//! On a team server each waiting call carries its principal (who made it): a user sees
//! and decides only their own ([`Broker::pending_for`], [`Broker::decide_as`]), an admin
//! everyone's, and a viewer, who makes no calls, decides none.

use super::confirm::{ConfirmRequest, Confirmer, declined};
use crate::error::CapError;
use crate::events::{Draft, EventBus, EventKind};
use crate::hooks::{ApprovedBy, Operator};
use crate::types::same_secret;
use crate::users::Principal;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How many decided ids are remembered, so that a late second decision is told it came
/// too late rather than that the call never existed.
const DECIDED_KEPT: usize = 1024;

/// How often a waiting call looks whether its caller gave up.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// A call waiting for a decision, as `GET /confirmations` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    /// The confirmation's id (the `{id}` of `POST /confirmations/{id}`).
    pub id: u64,
    /// The capability id.
    pub capability: String,
    /// Who made the call (a user's name; `operator` for the server's own token).
    pub principal: String,
    /// What the capability does.
    pub description: String,
    /// The parameters, with sensitive values hidden.
    pub params: Value,
    /// SHA-256 (hex) of the capability id and the parameters as shown: a decision must
    /// send it back.
    pub args_hash: String,
    /// When the call started waiting (RFC 3339).
    pub since: String,
    /// Seconds left before the call is declined.
    pub expires_in_seconds: u64,
    /// The events-bus call id of the waiting call, when there is a bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<u64>,
}

/// Why a decision was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideError {
    /// No call with this id ever waited here (or it was long ago).
    Unknown(u64),
    /// The call was already decided, or timed out: a decision counts once.
    AlreadyDecided(u64),
    /// The hash does not match the waiting call's arguments.
    WrongHash(u64),
    /// The one deciding may not decide (a viewer).
    NotAllowed(u64),
}

impl DecideError {
    /// What was wrong and what to do, for the HTTP answer.
    pub fn message(&self) -> String {
        match self {
            DecideError::Unknown(id) => format!(
                "no call is waiting for confirmation {id}; GET /confirmations lists the waiting ones"
            ),
            DecideError::AlreadyDecided(id) => format!(
                "confirmation {id} was already decided (or timed out); a decision counts once"
            ),
            DecideError::WrongHash(id) => format!(
                "args_hash does not match the arguments of the call waiting as confirmation {id}; send the args_hash GET /confirmations shows for it"
            ),
            DecideError::NotAllowed(id) => format!(
                "a viewer cannot decide confirmation {id}: only the user whose call it is, or an admin, can"
            ),
        }
    }
}

/// The answer a waiting call gets.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Approve(Operator),
    Deny(Operator),
}

struct Waiting {
    pending: Pending,
    deadline: Instant,
    answer: Option<Answer>,
}

#[derive(Default)]
struct State {
    waiting: BTreeMap<u64, Waiting>,
    /// The ids of decided calls, with whose call each was.
    decided: VecDeque<(u64, String)>,
    next: u64,
}

/// The broker. Share it as `Arc<Broker>` between the adapters (which wait in it) and the
/// console (which decides).
pub struct Broker {
    state: Mutex<State>,
    changed: Condvar,
    timeout: Duration,
    events: Option<Arc<EventBus>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Broker {
    /// A broker that declines a call after `timeout` without a decision.
    pub fn new(timeout: Duration) -> Self {
        Broker {
            state: Mutex::new(State {
                next: 1,
                ..State::default()
            }),
            changed: Condvar::new(),
            timeout,
            events: None,
        }
    }

    /// A broker with the timeout of the operator's `[confirm]` policy.
    pub fn for_policy(policy: &crate::settings::ConfirmPolicy) -> Self {
        Broker::new(Duration::from_secs(policy.timeout_seconds))
    }

    /// Announces every waiting call on `bus` (a `confirmation_waiting` event).
    pub fn with_events(mut self, bus: Arc<EventBus>) -> Self {
        self.events = Some(bus);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The calls waiting now, oldest first.
    pub fn pending(&self) -> Vec<Pending> {
        self.pending_where(|_| true)
    }

    /// The calls waiting now that `viewer` may see (their own; all for an admin), oldest
    /// first.
    pub fn pending_for(&self, viewer: &Principal) -> Vec<Pending> {
        self.pending_where(|p| viewer.may_see(&p.principal))
    }

    fn pending_where(&self, shown: impl Fn(&Pending) -> bool) -> Vec<Pending> {
        let now = Instant::now();
        self.lock()
            .waiting
            .values()
            .filter(|w| w.answer.is_none() && shown(&w.pending))
            .map(|w| Pending {
                expires_in_seconds: w.deadline.saturating_duration_since(now).as_secs(),
                ..w.pending.clone()
            })
            .collect()
    }

    /// Decides the waiting call `id`, whose arguments hash to `args_hash`: approve or
    /// deny, in the name of `by`, as the operator.
    pub fn decide(
        &self,
        id: u64,
        args_hash: &str,
        approve: bool,
        by: Operator,
    ) -> Result<(), DecideError> {
        self.decide_as(&Principal::operator(), id, args_hash, approve, by)
    }

    /// [`Broker::decide`] by `who`: a viewer may decide nothing
    /// ([`DecideError::NotAllowed`]); a call `who` may not see is
    /// [`DecideError::Unknown`] to them, as if it did not exist.
    pub fn decide_as(
        &self,
        who: &Principal,
        id: u64,
        args_hash: &str,
        approve: bool,
        by: Operator,
    ) -> Result<(), DecideError> {
        if !who.may_act() {
            return Err(DecideError::NotAllowed(id));
        }
        let mut state = self.lock();
        if state
            .waiting
            .get(&id)
            .is_some_and(|w| !who.may_see(&w.pending.principal))
        {
            return Err(DecideError::Unknown(id));
        }
        let Some(w) = state.waiting.get_mut(&id) else {
            let seen = state
                .decided
                .iter()
                .any(|(d, owner)| *d == id && who.may_see(owner));
            return Err(if seen {
                DecideError::AlreadyDecided(id)
            } else {
                DecideError::Unknown(id)
            });
        };
        if w.answer.is_some() {
            return Err(DecideError::AlreadyDecided(id));
        }
        if !same_secret(w.pending.args_hash.as_bytes(), args_hash.as_bytes()) {
            return Err(DecideError::WrongHash(id));
        }
        w.answer = Some(if approve {
            Answer::Approve(by)
        } else {
            Answer::Deny(by)
        });
        drop(state);
        self.changed.notify_all();
        Ok(())
    }

    /// Waits for a decision on `request`, looking every so often whether `cancelled`
    /// says the caller gave up.
    pub fn wait(
        &self,
        request: &ConfirmRequest<'_>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<ApprovedBy, CapError> {
        let cap = request.capability;
        let args_hash = args_hash(cap.id, request.params);
        let call = self.events.as_ref().map(|b| b.next_call());
        let principal = request.principal.unwrap_or(crate::events::OPERATOR);
        let now = Instant::now();
        let deadline = now + self.timeout;
        let id = {
            let mut state = self.lock();
            let id = state.next;
            state.next += 1;
            state.waiting.insert(
                id,
                Waiting {
                    pending: Pending {
                        id,
                        capability: cap.id.to_string(),
                        principal: principal.to_string(),
                        description: cap.description.to_string(),
                        params: request.params.clone(),
                        args_hash: args_hash.clone(),
                        since: jiff::Timestamp::now().to_string(),
                        expires_in_seconds: self.timeout.as_secs(),
                        call,
                    },
                    deadline,
                    answer: None,
                },
            );
            id
        };
        if let (Some(bus), Some(call)) = (&self.events, call) {
            bus.publish(
                EventKind::ConfirmationWaiting,
                Draft {
                    call,
                    capability: cap.id.to_string(),
                    principal: principal.to_string(),
                    params: request.params.clone(),
                    detail: serde_json::json!({ "confirmation": id, "args_hash": args_hash }),
                    ..Draft::default()
                },
            );
        }
        let mut state = self.lock();
        let answer = loop {
            let answer = state.waiting.get(&id).and_then(|w| w.answer);
            if answer.is_some() {
                break answer;
            }
            let now = Instant::now();
            if now >= deadline || cancelled() {
                break None;
            }
            let slice = (deadline - now).min(CANCEL_POLL);
            state = self
                .changed
                .wait_timeout(state, slice)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        state.waiting.remove(&id);
        if state.decided.len() == DECIDED_KEPT {
            state.decided.pop_front();
        }
        state.decided.push_back((id, principal.to_string()));
        drop(state);
        match answer {
            Some(Answer::Approve(by)) => Ok(ApprovedBy::Console(by)),
            Some(Answer::Deny(by)) => Err(declined(
                format!(
                    "`{}` was denied in the operations console by {}; nothing was executed",
                    cap.id,
                    by.name()
                ),
                "do not retry the same call; ask the user what they want instead",
            )),
            None if cancelled() => Err(CapError::new(
                crate::error::ErrorKind::Cancelled,
                "the call was cancelled while waiting for confirmation in the console",
            )),
            None => Err(declined(
                format!(
                    "`{}` waited {} s for confirmation in the operations console and nobody decided; nothing was executed",
                    cap.id,
                    self.timeout.as_secs()
                ),
                "ask the operator to approve it at GET /confirmations, or to raise confirm.timeout_seconds",
            )),
        }
    }
}

impl Confirmer for Broker {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        self.wait(request, &|| false)
    }
}

/// The broker as the confirmer of one call whose caller may give up: the call waits
/// for the console's decision until `cancelled` says the caller is gone.
pub struct Waiter<'a> {
    /// The broker the call waits in.
    pub broker: &'a Broker,
    /// True once the caller gave up (a closed connection, a cancelled request).
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

impl Confirmer for Waiter<'_> {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        self.broker.wait(request, self.cancelled)
    }
}

impl<C: Confirmer + ?Sized> Confirmer for Arc<C> {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        (**self).confirm(request)
    }
}

/// SHA-256 (hex) of a capability id and its parameters in canonical JSON (object keys
/// sorted), so that the same call always hashes the same.
pub fn args_hash(capability: &str, params: &Value) -> String {
    let mut text = String::with_capacity(64);
    text.push_str(capability);
    text.push('\n');
    canonical_json(params, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Writes `v` as JSON with every object's keys sorted.
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&o[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_user_sees_and_decides_only_their_own_calls() {
        use crate::powers::CapabilitySet;
        use crate::users::Role;
        let broker = Arc::new(Broker::new(Duration::from_secs(30)));
        let cap = crate::stdlib::capabilities()
            .catalog()
            .iter()
            .copied()
            .find(|c| c.id == "io.fs.delete")
            .expect("io.fs.delete");
        let user = |name: &str, role| Principal {
            name: name.into(),
            role,
            workspace: None,
            policy: None,
        };
        let (ann, bob, viewer) = (
            user("ann", Role::Agent),
            user("bob", Role::Agent),
            user("vic", Role::Viewer),
        );
        let waiting = {
            let broker = broker.clone();
            std::thread::spawn(move || {
                let params = json!({"path": "a.txt"});
                let request = ConfirmRequest {
                    capability: cap,
                    params: &params,
                    principal: Some("ann"),
                };
                broker.confirm(&request)
            })
        };
        let start = Instant::now();
        while broker.pending().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the call never waited"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let p = broker.pending_for(&ann).remove(0);
        assert_eq!(p.principal, "ann");
        assert!(broker.pending_for(&bob).is_empty());
        assert!(broker.pending_for(&viewer).is_empty());
        assert_eq!(broker.pending_for(&Principal::operator()).len(), 1);
        let by = Operator::default();
        assert_eq!(
            broker.decide_as(&bob, p.id, &p.args_hash, true, by),
            Err(DecideError::Unknown(p.id))
        );
        assert_eq!(
            broker.decide_as(&viewer, p.id, &p.args_hash, true, by),
            Err(DecideError::NotAllowed(p.id))
        );
        let ann_by = Operator::named("ann").unwrap();
        broker
            .decide_as(&ann, p.id, &p.args_hash, true, ann_by)
            .expect("her own call");
        assert!(matches!(
            waiting.join().unwrap(),
            Ok(ApprovedBy::Console(o)) if o.name() == "ann"
        ));
        // Once decided, it stays unknown to another user and "decided" to its owner.
        assert_eq!(
            broker.decide_as(&bob, p.id, &p.args_hash, true, by),
            Err(DecideError::Unknown(p.id))
        );
        assert_eq!(
            broker.decide_as(&ann, p.id, &p.args_hash, true, by),
            Err(DecideError::AlreadyDecided(p.id))
        );
    }

    #[test]
    fn the_args_hash_ignores_key_order_and_names_the_capability() {
        let a = json!({"b": 1, "a": {"y": 2, "x": [1, {"q": 1, "p": 2}]}});
        let b = json!({"a": {"x": [1, {"p": 2, "q": 1}], "y": 2}, "b": 1});
        assert_eq!(args_hash("io.fs.delete", &a), args_hash("io.fs.delete", &b));
        assert_ne!(args_hash("io.fs.delete", &a), args_hash("io.fs.move", &a));
        assert_ne!(
            args_hash("io.fs.delete", &a),
            args_hash("io.fs.delete", &json!({"b": 2, "a": a["a"]}))
        );
    }
}

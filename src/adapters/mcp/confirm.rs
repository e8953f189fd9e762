//! Confirmation over MCP.
//!
//! Two ways to ask the person behind the client, depending on the negotiated protocol:
//!
//! - up to 2025-11-25: the server sends an `elicitation/create` request while the call
//!   waits ([`McpConfirmer::Elicit`] blocks the call's thread on the peer's answer);
//! - 2026-07-28 and later, which forbids server-to-client requests: the call returns an
//!   `input_required` result carrying the elicitation and a sealed `requestState`
//!   ([`Seals`]); the client asks, then retries the call with the answer and the state.
//!   The state is HMAC-sealed with a per-process key (or, for several instances behind
//!   a load balancer, a key they share: [`Seals::shared`]), bound to a hash of the exact
//!   tool name and arguments, expires after [`STATE_TTL`], and is accepted once.

use crate::adapters::mcp::error_result;
use crate::catalog::Capability;
use crate::error::{CapError, ErrorKind};
use crate::fsutil::Marks;
use crate::pipeline::{ApprovedBy, ConfirmRequest, Confirmer, confirm::declined};
use rmcp::model::{
    CallToolResult, ElicitRequest, ElicitRequestParams, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, InputResponses, RequestStateCodec,
    SealOptions,
};
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a sealed confirmation state stays valid.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// The key of the elicitation inside an `input_required` result.
const CONFIRM_KEY: &str = "confirm";

/// What the operator can do when nobody can be asked.
const OPERATOR_HINT: &str = "the operator can pre-approve it: start the server with `airun serve --yes`, \
     or add the capability id to `auto_approve` in the operator's policy file; otherwise \
     choose a capability that needs no confirmation";

/// The confirmer one MCP call runs with.
pub enum McpConfirmer {
    /// The operator started the server with `--yes`.
    Flag,
    /// The person already approved through an `input_required` round trip.
    Approved,
    /// The person already declined through an `input_required` round trip.
    Declined,
    /// Ask now with an `elicitation/create` request and wait for the answer.
    Elicit {
        /// The client.
        peer: Peer<RoleServer>,
        /// The runtime the request is sent on (the call runs on a blocking thread).
        handle: tokio::runtime::Handle,
        /// Cancelled when the client cancels the call.
        cancel: CancellationToken,
    },
    /// Wait in the operations console until a person decides there (or the policy's
    /// timeout declines).
    Console {
        /// The console's broker.
        broker: std::sync::Arc<crate::pipeline::Broker>,
        /// Cancelled when the client cancels the call.
        cancel: CancellationToken,
    },
    /// Nobody can be asked (the client has no elicitation support).
    Refuse,
}

/// The error for a call the person declined.
pub fn declined_by_user(cap: &Capability) -> CapError {
    declined(
        format!(
            "`{}` was declined by the user; nothing was executed",
            cap.id
        ),
        "do not retry the same call; ask the user what they want instead",
    )
}

impl Confirmer for McpConfirmer {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        let cap = request.capability;
        match self {
            McpConfirmer::Flag => Ok(ApprovedBy::Flag),
            McpConfirmer::Approved => Ok(ApprovedBy::Elicitation),
            McpConfirmer::Declined => Err(declined_by_user(cap)),
            McpConfirmer::Refuse => Err(declined(
                format!(
                    "`{}` needs the user's confirmation, and this MCP client cannot ask (it did not declare the elicitation capability)",
                    cap.id
                ),
                OPERATOR_HINT,
            )),
            McpConfirmer::Console { broker, cancel } => {
                broker.wait(request, &|| cancel.is_cancelled())
            }
            McpConfirmer::Elicit {
                peer,
                handle,
                cancel,
            } => {
                let params = elicitation(request);
                let answer = handle.block_on(async {
                    tokio::select! {
                        r = peer.create_elicitation(params) => Some(r),
                        _ = cancel.cancelled() => None,
                    }
                });
                match answer {
                    None => Err(CapError::new(
                        ErrorKind::Cancelled,
                        "the call was cancelled while waiting for the user's confirmation",
                    )),
                    Some(Err(e)) => Err(declined(
                        format!("could not ask the user to confirm `{}`: {e}", cap.id),
                        OPERATOR_HINT,
                    )),
                    Some(Ok(r)) => match r.action {
                        ElicitationAction::Accept => Ok(ApprovedBy::Elicitation),
                        _ => Err(declined_by_user(cap)),
                    },
                }
            }
        }
    }
}

/// The elicitation shown to the person: the rendered request (capability id, description,
/// parameters with sensitive values hidden, undo strategy) and an empty form, so the
/// answer is just accept, decline or cancel.
fn elicitation(request: &ConfirmRequest<'_>) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: request.render(),
        requested_schema: ElicitationSchema::new(BTreeMap::new()),
    }
}

/// Seals and opens the `requestState` of confirmation round trips (protocol 2026-07-28).
pub struct Seals {
    codec: RequestStateCodec,
    redeemed: Redeemed,
}

/// Where the nonces of states already answered are kept, so each is accepted once.
enum Redeemed {
    /// In this process (its key is its own: no other process accepts its states).
    Memory(Mutex<HashMap<String, Instant>>),
    /// A folder every instance sharing the key uses (on one host): marking a nonce is
    /// atomic, so exactly one instance redeems a state.
    Folder(Marks),
}

impl Redeemed {
    /// Marks `nonce` redeemed; false when it already was.
    fn first_use(&self, nonce: &str) -> bool {
        match self {
            Redeemed::Memory(seen) => {
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.retain(|_, at| at.elapsed() < STATE_TTL);
                seen.insert(nonce.to_string(), Instant::now()).is_none()
            }
            Redeemed::Folder(marks) => marks.mark(nonce),
        }
    }
}

impl std::fmt::Debug for Seals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seals")
    }
}

impl Seals {
    /// Seals with a fresh random key (states do not survive a restart).
    pub fn new() -> Self {
        let mut key = [0u8; 64];
        if getrandom::fill(&mut key).is_err() {
            // No system randomness: fall back to something unpredictable enough to
            // keep states from one process apart; a restart invalidates them anyway.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let seed = format!("{:?}{}{:p}", t, std::process::id(), &key);
            key[..32].copy_from_slice(&Sha256::digest(seed.as_bytes()));
            let more = Sha256::digest(&key[..32]);
            key[32..].copy_from_slice(&more);
        }
        Seals {
            codec: RequestStateCodec::try_new(key.to_vec()).expect("a 64-byte key is long enough"),
            redeemed: Redeemed::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Seals with `key` (at least 32 bytes), so that every server with the same key
    /// accepts the states the others issued; `redeemed` is a folder those servers share
    /// (on one host), where each state is marked answered, once.
    pub fn shared(key: &[u8], redeemed: std::path::PathBuf) -> Result<Self, CapError> {
        // A mark outlives the state it stands for (kept twice its life).
        let marks = Marks::open(redeemed.clone(), STATE_TTL * 2).map_err(|e| {
            CapError::execution(format!(
                "cannot create {} for confirmation states: {e}",
                redeemed.display()
            ))
        })?;
        let codec = RequestStateCodec::try_new(key.to_vec()).map_err(|e| {
            CapError::new(
                ErrorKind::InvalidInput,
                format!("the seal key cannot be used: {e}"),
            )
            .with_hint("use at least 32 random bytes, e.g. `openssl rand -hex 32`")
        })?;
        Ok(Seals {
            codec,
            redeemed: Redeemed::Folder(marks),
        })
    }

    /// The `input_required` result that asks the person to approve this exact call.
    pub fn ask(
        &self,
        request: &ConfirmRequest<'_>,
        tool: &str,
        args: &Value,
    ) -> InputRequiredResult {
        let mut requests = InputRequests::new();
        requests.insert(
            CONFIRM_KEY.to_string(),
            InputRequest::Elicitation(ElicitRequest::new(elicitation(request))),
        );
        InputRequiredResult::new(Some(requests), Some(self.seal(tool, args)))
    }

    fn seal(&self, tool: &str, args: &Value) -> String {
        let mut nonce = [0u8; 16];
        let _ = getrandom::fill(&mut nonce);
        let nonce = hex::encode(nonce);
        let binding = binding(tool, args);
        let payload = json!({"v": 1, "tool": tool, "nonce": nonce});
        self.codec.seal_with(
            payload.to_string().as_bytes(),
            &SealOptions::new().associated_data(&binding).ttl(STATE_TTL),
        )
    }

    /// Opens the state a client echoed back and reads the person's answer: `Ok(true)` for
    /// accept, `Ok(false)` for decline or cancel. A forged, expired, replayed or foreign
    /// state (other tool, other arguments) is an error result.
    pub fn answer(
        &self,
        state: &str,
        tool: &str,
        args: &Value,
        responses: Option<&InputResponses>,
    ) -> Result<bool, Box<CallToolResult>> {
        let stale = |why: &str| {
            Box::new(error_result(
                &CapError::new(
                    ErrorKind::InvalidInput,
                    format!("the confirmation state is not valid: {why}"),
                )
                .with_hint("call the tool again without requestState to ask the user afresh"),
            ))
        };
        let payload = self
            .codec
            .open_with(state, &binding(tool, args))
            .map_err(|e| stale(&format!("{e} (it must come from this server, for the same tool and arguments, within {} minutes)", STATE_TTL.as_secs() / 60)))?;
        let payload: Value = serde_json::from_slice(&payload).map_err(|_| stale("unreadable"))?;
        if payload["tool"] != tool {
            return Err(stale("it belongs to another tool"));
        }
        let nonce = payload["nonce"].as_str().unwrap_or_default();
        if !self.redeemed.first_use(nonce) {
            return Err(stale("it was already used"));
        }
        let action = responses
            .and_then(|r| r.get(CONFIRM_KEY))
            .and_then(|r| r.get("action"))
            .and_then(Value::as_str);
        match action {
            Some("accept") => Ok(true),
            Some(_) => Ok(false),
            None => Err(stale(
                "the answer to the confirmation is missing from inputResponses",
            )),
        }
    }
}

impl Default for Seals {
    fn default() -> Self {
        Seals::new()
    }
}

/// SHA-256 over the tool name and the canonical JSON of the arguments (object keys
/// sorted), so a state approves exactly one call.
fn binding(tool: &str, args: &Value) -> Vec<u8> {
    let mut text = String::with_capacity(64);
    text.push_str(tool);
    text.push('\n');
    crate::pipeline::broker::canonical_json(args, &mut text);
    Sha256::digest(text.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[1,{"q":1,"p":2}]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":[1,{"p":2,"q":1}],"y":2},"b":1}"#).unwrap();
        assert_eq!(binding("t", &a), binding("t", &b));
        assert_ne!(binding("t", &a), binding("u", &a));
    }

    #[test]
    fn shared_seals_accept_each_others_states_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = [7u8; 48];
        let a = Seals::shared(&key, dir.path().join("redeemed")).unwrap();
        let b = Seals::shared(&key, dir.path().join("redeemed")).unwrap();
        let args = json!({"path": "a.txt"});
        let state = a.seal("io_fs_delete", &args);
        let mut responses = InputResponses::new();
        responses.insert(CONFIRM_KEY.into(), json!({"action": "accept"}));
        assert_eq!(
            b.answer(&state, "io_fs_delete", &args, Some(&responses))
                .ok(),
            Some(true)
        );
        // Redeemed on b: a refuses it too.
        assert!(
            a.answer(&state, "io_fs_delete", &args, Some(&responses))
                .is_err()
        );
        // Another key: refused.
        let other = Seals::shared(&[8u8; 48], dir.path().join("other")).unwrap();
        let state = a.seal("io_fs_delete", &args);
        assert!(
            other
                .answer(&state, "io_fs_delete", &args, Some(&responses))
                .is_err()
        );
        assert!(Seals::shared(b"short", dir.path().join("x")).is_err());
    }

    #[test]
    fn state_is_bound_single_use() {
        let seals = Seals::new();
        let args = json!({"path": "a.txt", "content": "x"});
        let state = seals.seal("io_fs_write_file", &args);
        let mut responses = InputResponses::new();
        responses.insert(CONFIRM_KEY.into(), json!({"action": "accept"}));
        // Other arguments: refused.
        assert!(
            seals
                .answer(
                    &state,
                    "io_fs_write_file",
                    &json!({"path": "b.txt", "content": "x"}),
                    Some(&responses)
                )
                .is_err()
        );
        assert_eq!(
            seals
                .answer(&state, "io_fs_write_file", &args, Some(&responses))
                .ok(),
            Some(true)
        );
        // Replay: refused.
        assert!(
            seals
                .answer(&state, "io_fs_write_file", &args, Some(&responses))
                .is_err()
        );
        // Tampered: refused.
        let state = seals.seal("io_fs_write_file", &args);
        let mut forged = state.clone();
        forged.push('x');
        assert!(
            seals
                .answer(&forged, "io_fs_write_file", &args, Some(&responses))
                .is_err()
        );
        responses.insert(CONFIRM_KEY.into(), json!({"action": "decline"}));
        assert_eq!(
            seals
                .answer(&state, "io_fs_write_file", &args, Some(&responses))
                .ok(),
            Some(false)
        );
    }
}

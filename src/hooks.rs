//! Hook points of the call pipeline where the undo journal and the audit log attach: the
//! traits and the types they pass, shared by the pipeline (which calls them), the time
//! machine (which implements them) and the powers (which read history through them).
//!
//! The pipeline calls [`Journal::begin`] after confirmation and before the handler (intent
//! record and before-images of the spec's undo targets), [`JournalOp::finish`] after it
//! (after-image and commit, or putting the before-images back on failure), and
//! [`AuditSink::record`] exactly once per call, whatever its outcome. The defaults do
//! nothing.

use crate::catalog::Capability;
use crate::error::CapError;
use crate::sandbox::{Resolved, Workspace};
use serde::Serialize;

/// A mutating call about to run.
#[derive(Debug)]
pub struct CallIntent<'a> {
    /// The capability.
    pub capability: &'static Capability,
    /// Parameters with sensitive values hidden.
    pub params: &'a serde_json::Value,
    /// The resolved undo targets (input name, path).
    pub undo_targets: Vec<(&'static str, Resolved)>,
    /// The agent session that made the call, when the adapter knows it.
    pub session: Option<&'a Session>,
    /// Who made the call: a user name, `operator` for the server's own token and the
    /// command line.
    pub principal: &'a str,
}

/// How an agent session reached airun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// MCP over standard input and output.
    Stdio,
    /// MCP over Streamable HTTP.
    Http,
    /// The command line (`airun execute`).
    Cli,
}

impl Transport {
    /// The name history shows: `stdio`, `http` or `cli`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
            Transport::Cli => "cli",
        }
    }

    /// The transport of a name [`as_str`](Transport::as_str) gave.
    pub fn parse(name: &str) -> Option<Transport> {
        [Transport::Stdio, Transport::Http, Transport::Cli]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// The agent session a call came from: one MCP session (a stdio server run, or one
/// Streamable HTTP session), or one `airun execute` process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Session {
    /// An opaque id: the MCP session id over HTTP when there is one, else a short random
    /// one.
    pub id: String,
    /// How the session reached airun.
    pub transport: Transport,
    /// The client's name, from `initialize`'s `clientInfo`, when known.
    pub client_name: Option<String>,
    /// The client's version, when known.
    pub client_version: Option<String>,
}

impl Session {
    /// A new session with a random short id and no client yet.
    pub fn new(transport: Transport) -> Session {
        let mut bytes = [0u8; 5];
        if getrandom::fill(&mut bytes).is_err() {
            // No randomness: the time and process still tell sessions apart.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let mix = t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 24);
            bytes.copy_from_slice(&mix.to_le_bytes()[..5]);
        }
        Session {
            id: hex::encode(bytes),
            transport,
            client_name: None,
            client_version: None,
        }
    }

    /// The client as history shows it: `name version`, `name`, or empty.
    pub fn client(&self) -> String {
        client_label(self.client_name.as_deref(), self.client_version.as_deref())
    }
}

/// `name version`, `name`, or empty.
pub fn client_label(name: Option<&str>, version: Option<&str>) -> String {
    match (name, version) {
        (Some(n), Some(v)) if !v.is_empty() => format!("{n} {v}"),
        (Some(n), _) => n.to_string(),
        (None, _) => String::new(),
    }
}

/// One session as `airun history --sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SessionSummary {
    /// The session id.
    pub session: String,
    /// `stdio`, `http` or `cli`.
    pub transport: Transport,
    /// The client's name, when known.
    pub client_name: Option<String>,
    /// The client's version, when known.
    pub client_version: Option<String>,
    /// When its first operation started (RFC 3339).
    pub first: String,
    /// When its newest operation started (RFC 3339).
    pub last: String,
    /// How many operations it recorded.
    pub ops: usize,
    /// How many of them can still be undone.
    pub undoable: usize,
    /// Who made its operations (`operator` for those recorded before airun kept
    /// principals).
    #[serde(default = "operator")]
    pub principal: String,
}

/// One principal as `airun history --by-user` sums it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PrincipalSummary {
    /// The user name, `operator` for the operator.
    pub principal: String,
    /// When their first operation started (RFC 3339).
    pub first: String,
    /// When their newest operation started (RFC 3339).
    pub last: String,
    /// How many operations they recorded.
    pub ops: usize,
    /// How many of them can still be undone.
    pub undoable: usize,
}

/// The principal of records made before airun kept principals, and of calls that name
/// none: the operator (the same name as `users::OPERATOR`, which sits above this module).
fn operator() -> String {
    Operator::default().name().to_string()
}

/// The id the journal gives a recorded operation.
pub type OpId = i64;

/// One operation as history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OpInfo {
    /// The operation id.
    pub op: OpId,
    /// When it started (RFC 3339).
    pub time: String,
    /// The capability id.
    pub capability: String,
    /// One line, e.g. `write notes.txt (+120 B)`.
    pub summary: String,
    /// done, undone, interrupted, irreversible, expired or damaged (partly restored: its
    /// saved copies were lost).
    pub state: crate::types::OpState,
    /// The id of the agent session that made it (none for operations recorded before
    /// airun kept sessions).
    #[serde(default)]
    pub session: Option<String>,
    /// Who made it: a user name, `operator` for the operator (and for operations recorded
    /// before airun kept principals).
    #[serde(default = "operator")]
    pub principal: String,
}

/// What to undo.
#[derive(Debug, Clone, Default)]
pub struct UndoRequest {
    /// How many operations, newest first.
    pub steps: usize,
    /// Undo every operation from this one on (overrides `steps`).
    pub to: Option<OpId>,
    /// Restore even where a file changed after the operation.
    pub force: bool,
    /// Undo every operation of this session that is not undone yet (overrides `steps`;
    /// with `to`, only those from that operation on).
    pub session: Option<String>,
    /// Only the operations this principal made (newest first among theirs; the others'
    /// operations stay, and the drift guard refuses to overwrite a file one of them
    /// changed later); `None` for everyone's.
    pub principal: Option<String>,
}

/// An operation in progress: the journal holds the workspace's operation lock until
/// it is finished.
pub trait JournalOp: Sync {
    /// The operation id.
    fn id(&self) -> OpId;
    /// Waits until the intent (the undo point) is on disk; the handler's powers call it
    /// before their first change the workspace can show (a file published, a folder made
    /// or removed, a rename, a program started), so no change reaches the disk ahead of
    /// the undo point that takes it back. Later calls return at once.
    fn before_change(&self) -> Result<(), CapError> {
        Ok(())
    }
    /// Whether the journal itself keeps what the change writes durable before the
    /// answer (its after-image, synced with its commit, from which a start after a power
    /// cut finishes the change): the files the handler writes then need no sync of their
    /// own. False unless the journal says so.
    fn keeps_content(&self) -> bool {
        false
    }
    /// Records the outcome: after-images and commit on success; on failure, puts the
    /// before-images back so a failed call leaves the workspace as it was.
    fn finish(
        self: Box<Self>,
        ws: &Workspace,
        outcome: Result<&serde_json::Value, &CapError>,
    ) -> Result<(), CapError>;
}

fn no_journal() -> CapError {
    CapError::execution("this airun has no undo journal")
        .with_hint("run airun with its state folder ($AIRUN_HOME)")
}

/// The undo journal.
pub trait Journal: Send + Sync {
    /// Waits until the journal can take calls (its state is open and interrupted calls
    /// are rolled back); the pipeline asks before every call.
    fn ready(&self) -> Result<(), CapError> {
        Ok(())
    }

    /// Starts getting ready on another thread, if that is still to do; never waits.
    fn open_in_background(&self) {}

    /// Waits until what the change `op` did is on disk in full (the folders whose entries
    /// it altered synced); the pipeline calls it after the call's audit record, before the
    /// answer.
    fn durable(&self, _op: OpId) {}

    /// Records the intent and the before-images of the undo targets.
    fn begin<'a>(
        &'a self,
        ws: &'a Workspace,
        intent: &CallIntent<'_>,
    ) -> Result<Option<Box<dyn JournalOp + 'a>>, CapError>;

    /// Undoes operations, newest first; returns what was undone.
    fn undo(&self, _ws: &Workspace, _req: UndoRequest) -> Result<Vec<OpInfo>, CapError> {
        Err(no_journal())
    }

    /// Re-applies undone operations, oldest first; returns what was redone.
    fn redo(&self, _ws: &Workspace, _steps: usize) -> Result<Vec<OpInfo>, CapError> {
        Err(no_journal())
    }

    /// The newest operations, newest first.
    fn history(&self, _limit: usize) -> Result<Vec<OpInfo>, CapError> {
        Ok(Vec::new())
    }

    /// How many operations can still be undone.
    fn undoable(&self) -> Result<usize, CapError> {
        Ok(0)
    }

    /// The newest operations of one session, newest first.
    fn session_history(&self, _session: &str, _limit: usize) -> Result<Vec<OpInfo>, CapError> {
        Ok(Vec::new())
    }

    /// The sessions that recorded operations, the most recently active first.
    fn sessions(&self) -> Result<Vec<SessionSummary>, CapError> {
        Ok(Vec::new())
    }

    /// Re-applies the undone operations of one principal (everyone's with `None`),
    /// oldest first; another principal's later operations do not end their redo chain
    /// (the drift guard refuses to overwrite a file changed since). A journal that keeps
    /// principals implements it; the default redoes only everyone's.
    fn redo_of(
        &self,
        ws: &Workspace,
        steps: usize,
        principal: Option<&str>,
    ) -> Result<Vec<OpInfo>, CapError> {
        match principal {
            None => self.redo(ws, steps),
            Some(p) => Err(CapError::execution(format!(
                "this journal cannot redo the operations of {p} alone"
            ))
            .with_hint("redo without naming a user")),
        }
    }

    /// The newest operations of one principal (everyone's with `None`), newest first.
    /// The default reads the whole history; a journal that keeps principals asks its
    /// index.
    fn history_of(&self, principal: Option<&str>, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        let Some(p) = principal else {
            return self.history(limit);
        };
        let mut ops = self.history(usize::MAX)?;
        ops.retain(|o| o.principal == p);
        ops.truncate(limit);
        Ok(ops)
    }

    /// The sessions of one principal (everyone's with `None`), the most recently active
    /// first.
    fn sessions_of(&self, principal: Option<&str>) -> Result<Vec<SessionSummary>, CapError> {
        let mut list = self.sessions()?;
        if let Some(p) = principal {
            list.retain(|s| s.principal == p);
        }
        Ok(list)
    }

    /// Everyone who recorded operations, with their counts, by name. The default sums up
    /// the whole history.
    fn principals(&self) -> Result<Vec<PrincipalSummary>, CapError> {
        let mut by: std::collections::BTreeMap<String, PrincipalSummary> = Default::default();
        for o in self.history(usize::MAX)? {
            let s = by
                .entry(o.principal.clone())
                .or_insert_with(|| PrincipalSummary {
                    principal: o.principal.clone(),
                    first: o.time.clone(),
                    last: o.time.clone(),
                    ops: 0,
                    undoable: 0,
                });
            s.ops += 1;
            s.undoable += usize::from(o.state == crate::types::OpState::Done);
            s.first = s.first.clone().min(o.time.clone());
            s.last = s.last.clone().max(o.time);
        }
        Ok(by.into_values().collect())
    }
}

/// The journal that records nothing.
#[derive(Debug, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn begin<'a>(
        &'a self,
        _: &'a Workspace,
        _: &CallIntent<'_>,
    ) -> Result<Option<Box<dyn JournalOp + 'a>>, CapError> {
        Ok(None)
    }
}

impl<J: Journal + ?Sized> Journal for std::sync::Arc<J> {
    fn ready(&self) -> Result<(), CapError> {
        (**self).ready()
    }
    fn open_in_background(&self) {
        (**self).open_in_background()
    }
    fn durable(&self, op: OpId) {
        (**self).durable(op)
    }
    fn begin<'a>(
        &'a self,
        ws: &'a Workspace,
        intent: &CallIntent<'_>,
    ) -> Result<Option<Box<dyn JournalOp + 'a>>, CapError> {
        (**self).begin(ws, intent)
    }
    fn undo(&self, ws: &Workspace, req: UndoRequest) -> Result<Vec<OpInfo>, CapError> {
        (**self).undo(ws, req)
    }
    fn redo(&self, ws: &Workspace, steps: usize) -> Result<Vec<OpInfo>, CapError> {
        (**self).redo(ws, steps)
    }
    fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        (**self).history(limit)
    }
    fn undoable(&self) -> Result<usize, CapError> {
        (**self).undoable()
    }
    fn session_history(&self, session: &str, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        (**self).session_history(session, limit)
    }
    fn sessions(&self) -> Result<Vec<SessionSummary>, CapError> {
        (**self).sessions()
    }
    fn redo_of(
        &self,
        ws: &Workspace,
        steps: usize,
        principal: Option<&str>,
    ) -> Result<Vec<OpInfo>, CapError> {
        (**self).redo_of(ws, steps, principal)
    }
    fn history_of(&self, principal: Option<&str>, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        (**self).history_of(principal, limit)
    }
    fn sessions_of(&self, principal: Option<&str>) -> Result<Vec<SessionSummary>, CapError> {
        (**self).sessions_of(principal)
    }
    fn principals(&self) -> Result<Vec<PrincipalSummary>, CapError> {
        (**self).principals()
    }
}

/// Who approved a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovedBy {
    /// A person at the terminal.
    Tty,
    /// The operator's `--yes` flag.
    Flag,
    /// A person through MCP elicitation.
    Elicitation,
    /// The operator's auto-approve list.
    Policy,
    /// A person through the operations console (`POST /confirmations/{id}`).
    Console(Operator),
}

/// Who decided in the operations console: a short name (letters, digits, `.`, `_`, `-`,
/// `@`, at most 64), `operator` when none was given.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Operator(&'static str);

/// How many distinct operator names are kept; later new names are recorded as
/// `operator`.
const MAX_OPERATORS: usize = 256;

impl Operator {
    /// The operator named `name`, or an error saying what is wrong with the name.
    pub fn named(name: &str) -> Result<Operator, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !ok {
            return Err(format!(
                "`{name}` is not an operator name: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`"
            ));
        }
        // Names are few (the people who run the console) and live as long as the
        // process: kept once, so that a decision stays a small `Copy` value.
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = names.iter().find(|n| **n == name) {
            return Ok(Operator(known));
        }
        if names.len() >= MAX_OPERATORS {
            return Ok(Operator::default());
        }
        let kept: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.push(kept);
        Ok(Operator(kept))
    }

    /// The name.
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator("operator")
    }
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Operator({})", self.0)
    }
}

impl Serialize for Operator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// The decision the pipeline took on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Needed no approval.
    Allowed,
    /// Approved by someone.
    Approved(ApprovedBy),
    /// Refused by the operator's settings.
    DeniedPolicy,
    /// Refused by the sandbox.
    DeniedSandbox,
    /// Nobody approved it.
    Declined,
    /// Never got as far as a decision (unknown name or invalid arguments).
    Invalid,
}

impl Decision {
    /// The name the audit log records: `allowed`, `approved_by_tty`, `denied_policy`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Approved(ApprovedBy::Tty) => "approved_by_tty",
            Decision::Approved(ApprovedBy::Flag) => "approved_by_flag",
            Decision::Approved(ApprovedBy::Elicitation) => "approved_by_elicitation",
            Decision::Approved(ApprovedBy::Policy) => "approved_by_policy",
            Decision::Approved(ApprovedBy::Console(_)) => "approved_by_console",
            Decision::DeniedPolicy => "denied_policy",
            Decision::DeniedSandbox => "denied_sandbox",
            Decision::Declined => "declined",
            Decision::Invalid => "invalid",
        }
    }

    /// What the audit log records: [`as_str`](Decision::as_str), and for a console
    /// approval who gave it (`approved_by_console:alice`).
    pub fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            Decision::Approved(ApprovedBy::Console(who)) => {
                format!("{}:{}", self.as_str(), who.name()).into()
            }
            other => other.as_str().into(),
        }
    }
}

/// One finished call, for the audit log.
#[derive(Debug, Serialize)]
pub struct AuditEvent<'a> {
    /// The capability id, or the name as given when it is unknown.
    pub capability: &'a str,
    /// Parameters with sensitive values hidden (null when they did not parse).
    pub params: serde_json::Value,
    /// What the pipeline decided.
    pub decision: Decision,
    /// `ok`, or the error kind.
    pub outcome: &'a str,
    /// Wall time of the whole call.
    pub duration_ms: u64,
    /// The journal's operation id, for mutating calls.
    pub op: Option<OpId>,
    /// Who made the call: a user name, `operator` for the server's own token and the
    /// command line.
    pub principal: &'a str,
}

/// The audit log.
pub trait AuditSink: Send + Sync {
    /// Records one finished call before the call is answered.
    fn record(&self, event: &AuditEvent<'_>);

    /// Records a call that succeeded and could only read local files or facts, just
    /// before it is answered. A sink may queue such records and write them together, off
    /// the answer's path, before any other record and at [`flush`](AuditSink::flush) at
    /// the latest.
    fn record_read(&self, event: &AuditEvent<'_>) {
        self.record(event)
    }

    /// Writes every queued record.
    fn flush(&self) {}

    /// The newest `limit` records, oldest first, as JSON (what `airun audit --json`
    /// shows), for readers such as the MCP resource `airun://audit`.
    fn tail(&self, _limit: usize) -> Result<Vec<serde_json::Value>, CapError> {
        Err(CapError::execution("this airun keeps no audit log"))
    }
}

/// The audit sink that records nothing.
#[derive(Debug, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _: &AuditEvent<'_>) {}
}

impl<A: AuditSink + ?Sized> AuditSink for std::sync::Arc<A> {
    fn record(&self, event: &AuditEvent<'_>) {
        (**self).record(event)
    }
    fn record_read(&self, event: &AuditEvent<'_>) {
        (**self).record_read(event)
    }
    fn flush(&self) {
        (**self).flush()
    }
    fn tail(&self, limit: usize) -> Result<Vec<serde_json::Value>, CapError> {
        (**self).tail(limit)
    }
}

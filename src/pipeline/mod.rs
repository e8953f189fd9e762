//! The call pipeline: validation -> permission -> sandbox -> confirmation -> execution,
//! with the undo journal and the audit log at their hook points.

pub mod broker;
pub mod confirm;
mod isolate;
mod roots;

/// The hook traits and types, re-exported where they were first defined.
pub use crate::hooks;

pub use crate::hooks::{
    AuditEvent, AuditSink, CallIntent, Decision, Journal, JournalOp, NoAudit, NoJournal, OpId,
    OpInfo, UndoRequest,
};
pub use crate::settings::{
    DEFAULT_ENV_ALLOW, EnvPolicy, ExecFallback, ExecPolicy, FsPolicy, HardLinks, McpPolicy,
    NetPolicy, Settings, glob_matches,
};
pub use broker::{Broker, DecideError, Pending, Waiter};
pub use confirm::{
    ApprovedBy, ConfirmRequest, Confirmation, Confirmer, FlagConfirmer, NoConfirmer,
    TerminalConfirmer, needs_confirmation,
};
pub use roots::{RootInfo, overlapping_roots};

use crate::catalog::{Access, CallInfo, Capability, UndoStrategy};
use crate::error::{CapError, ErrorKind};
use crate::events::{Draft, EventBus, EventKind};
use crate::powers::{CapabilitySet, Env, ProgressFn};
use crate::sandbox::{Resolved, Workspace};
use roots::{ExtraRoot, outside_roots};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Per-call options from the adapter: cancellation, progress, and how far the caller may
/// reach.
#[derive(Default)]
pub struct CallOptions<'a> {
    /// Set to cancel the call; handlers stop at their next checkpoint.
    pub cancel: Option<&'a AtomicBool>,
    /// Receives progress reports.
    pub progress: Option<ProgressFn<'a>>,
    /// Folders that this caller's paths must lie in, when its client narrowed the
    /// workspace (MCP roots); `None` for all of it. A relative folder is one of the first
    /// root; an absolute one may lie in any root.
    pub within: Option<&'a [PathBuf]>,
    /// The agent session making the call, recorded with its operation.
    pub session: Option<&'a crate::hooks::Session>,
    /// Who makes the call: a user name, recorded with its operation and its audit record
    /// and a trace attribute; `None` is the operator.
    pub principal: Option<&'a str>,
}

/// The `tracing` target of the call and stage spans: one `airun.call` span per call with
/// a child span per stage (`validate`, `policy`, `sandbox`, `confirm`, `journal`,
/// `execute`, `audit`). Nothing listens unless `airun serve` exports traces over OTLP;
/// then these spans, and only these, are exported.
pub const TRACE_TARGET: &str = "airun::trace";

/// A stage's span, entered until the guard drops.
macro_rules! stage {
    ($name:literal) => {
        tracing::info_span!(target: "airun::trace", $name).entered()
    };
    ($name:literal, $($field:tt)+) => {
        tracing::info_span!(target: "airun::trace", $name, $($field)+).entered()
    };
}

/// A call that passed validation, permission and sandbox, ready to confirm and run.
#[derive(Debug)]
pub struct Prepared<C> {
    call: C,
    /// The root the call works in: 0 for the first, `i` for the `i`-th extra root.
    root: usize,
    undo_targets: Vec<(&'static str, Resolved)>,
    resolved: Vec<(crate::WsPath, Access, Resolved)>,
}

impl<C: CallInfo> Prepared<C> {
    /// The capability being called.
    pub fn capability(&self) -> &'static Capability {
        self.call.capability()
    }

    /// True when the params make this a call that changes nothing (a dry run): it needs
    /// no confirmation and leaves no undo point.
    pub fn changes_nothing(&self) -> bool {
        self.call.params().changes_nothing()
    }
}

/// A call through the stages: its result, and what was decided on the way (for its audit
/// record, whether it ran or not).
struct Staged {
    decision: Decision,
    op: Option<OpId>,
    /// The root whose journal recorded `op`.
    root: usize,
    shown: serde_json::Value,
    result: Result<serde_json::Value, CapError>,
}

impl Staged {
    /// Ends the stages with an error.
    fn failed(mut self, e: CapError) -> Self {
        self.result = Err(e);
        self
    }
}

/// The pipeline: a capability set bound to a workspace and the operator's settings.
pub struct Pipeline<S: CapabilitySet> {
    set: S,
    workspace: Workspace,
    /// The first root is read-only.
    read_only_first: bool,
    /// The roots after the first (`--workspace` given several times).
    extra: Vec<ExtraRoot>,
    settings: Settings,
    journal: Box<dyn Journal>,
    audit: Box<dyn AuditSink>,
    events: Option<Arc<EventBus>>,
}

impl<S: CapabilitySet> Pipeline<S> {
    /// A pipeline with no journal and no audit log.
    pub fn new(set: S, workspace: Workspace, settings: Settings) -> Self {
        Pipeline {
            set,
            workspace,
            read_only_first: false,
            extra: Vec::new(),
            settings,
            journal: Box::new(NoJournal),
            audit: Box::new(NoAudit),
            events: None,
        }
    }

    /// Publishes every call's events (requested, progress, finished / denied / failed)
    /// and every undo and redo made through [`Pipeline::undo`] / [`Pipeline::redo`] on
    /// `bus`.
    pub fn with_events(mut self, bus: Arc<EventBus>) -> Self {
        self.events = Some(bus);
        self
    }

    /// The events bus, when there is one.
    pub fn events(&self) -> Option<&Arc<EventBus>> {
        self.events.as_ref()
    }

    /// Undoes operations through the journal and publishes an `undone` event for each,
    /// in the name of the request's principal (the operator when it names none).
    pub fn undo(&self, req: UndoRequest) -> Result<Vec<OpInfo>, CapError> {
        let who = req.principal.clone();
        self.undo_as(req, who.as_deref())
    }

    /// [`Pipeline::undo`] by `principal` (a user's name; `None` is the operator), whom
    /// its `undone` events name.
    pub fn undo_as(
        &self,
        req: UndoRequest,
        principal: Option<&str>,
    ) -> Result<Vec<OpInfo>, CapError> {
        let done = self.journal.undo(&self.workspace, req)?;
        self.publish_ops(EventKind::Undone, &done, principal);
        Ok(done)
    }

    /// Redoes undone operations through the journal and publishes a `redone` event for
    /// each.
    pub fn redo(&self, steps: usize) -> Result<Vec<OpInfo>, CapError> {
        self.redo_as(steps, None)
    }

    /// [`Pipeline::redo`] by `principal` (`None` is the operator), whom its `redone`
    /// events name.
    pub fn redo_as(&self, steps: usize, principal: Option<&str>) -> Result<Vec<OpInfo>, CapError> {
        let done = self.journal.redo(&self.workspace, steps)?;
        self.publish_ops(EventKind::Redone, &done, principal);
        Ok(done)
    }

    /// Redoes the undone operations of `whose` alone (everyone's for `None`), oldest
    /// first, by `principal`, whom its `redone` events name.
    pub fn redo_of(
        &self,
        steps: usize,
        whose: Option<&str>,
        principal: Option<&str>,
    ) -> Result<Vec<OpInfo>, CapError> {
        let done = self.journal.redo_of(&self.workspace, steps, whose)?;
        self.publish_ops(EventKind::Redone, &done, principal);
        Ok(done)
    }

    fn publish_ops(&self, kind: EventKind, ops: &[OpInfo], principal: Option<&str>) {
        if let Some(bus) = &self.events {
            for op in ops {
                bus.publish(
                    kind,
                    Draft {
                        capability: op.capability.clone(),
                        principal: principal.unwrap_or(crate::events::OPERATOR).into(),
                        op: Some(op.op),
                        outcome: Some("ok".into()),
                        // Whose operation it was, when another undid or redid it.
                        detail: serde_json::json!({ "summary": op.summary, "owner": op.principal }),
                        ..Draft::default()
                    },
                );
            }
        }
    }

    /// Attaches the undo journal.
    pub fn with_journal(mut self, journal: Box<dyn Journal>) -> Self {
        self.journal = journal;
        self
    }

    /// Attaches the audit log.
    pub fn with_audit(mut self, audit: Box<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }

    /// The workspace (its first root).
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The operator's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether a call of `cap` needs a person's yes (see [`needs_confirmation`]);
    /// `changes_nothing` as [`Prepared::changes_nothing`] says.
    pub fn confirmation(&self, cap: &Capability, changes_nothing: bool) -> Confirmation {
        needs_confirmation(&self.settings, cap, changes_nothing)
    }

    /// Writes the audit records still queued (see [`AuditSink::record_read`]).
    pub fn flush_audit(&self) {
        self.audit.flush();
    }

    /// The audit log.
    pub fn audit(&self) -> &dyn AuditSink {
        self.audit.as_ref()
    }

    /// The undo journal.
    pub fn journal(&self) -> &dyn Journal {
        self.journal.as_ref()
    }

    /// Every capability of the set, allowed or not.
    pub fn all_capabilities(&self) -> &'static [&'static Capability] {
        self.set.catalog()
    }

    /// The capabilities the settings allow (read-only mode hides mutating ones).
    pub fn capabilities(&self) -> Vec<&'static Capability> {
        self.set
            .catalog()
            .iter()
            .copied()
            .filter(|c| self.settings.allows(c))
            .collect()
    }

    /// Finds a capability by dotted id or tool name.
    pub fn find(&self, name: &str) -> Option<&'static Capability> {
        self.set
            .catalog()
            .iter()
            .copied()
            .find(|c| c.id == name || c.tool_name == name)
    }

    /// Stages 1-3: validation, permission, sandbox.
    pub fn prepare(
        &self,
        name: &str,
        args: serde_json::Value,
    ) -> Result<Prepared<S::Call>, CapError> {
        self.prepare_within(name, args, None)
    }

    /// Stages 1-3, with every path also required to lie in one of the `within` folders.
    pub fn prepare_within(
        &self,
        name: &str,
        args: serde_json::Value,
        within: Option<&[PathBuf]>,
    ) -> Result<Prepared<S::Call>, CapError> {
        // 1. Validation.
        let stage = stage!("validate");
        let call = self.set.parse(name, args)?;
        let cap = call.capability();
        drop(stage);
        // 2. Permission.
        let stage = stage!("policy");
        if let Some(why) = self.settings.refusal(cap) {
            return Err(CapError::new(ErrorKind::DeniedPolicy, why)
                .with_hint("the operator decides this (--read-only, allowed side effects); choose a capability that is allowed"));
        }
        let paths = call.params().paths();
        let root = self.choose_root(&paths)?;
        let (workspace, _, _) = self.root_at(root);
        self.refuse_read_only(root, &call, &paths)?;
        // The powers' own checks (the exec allowlist, ...), before anything is confirmed
        // or snapshotted.
        self.set.precheck(&call, &self.settings, workspace)?;
        drop(stage);
        // 3. Sandbox: every path input, for the access its spec declares.
        let _stage = stage!("sandbox");
        let mut undo_targets = Vec::new();
        let mut resolved_inputs = Vec::new();
        for input in paths {
            let resolved = workspace
                .resolve(input.path, input.access)
                .map_err(|e| e.with_field(input.field))?;
            if let Some(roots) = within {
                outside_roots(self.workspace.root(), workspace.root(), &resolved, roots)
                    .map_err(|e| e.with_field(input.field))?;
            }
            if cap.undo_targets.contains(&input.field) {
                undo_targets.push((input.field, resolved.clone()));
            }
            resolved_inputs.push((input.path.clone(), input.access, resolved));
        }
        Ok(Prepared {
            call,
            root,
            undo_targets,
            resolved: resolved_inputs,
        })
    }

    /// Runs a call through the whole pipeline and records it in the audit log.
    pub fn execute(
        &self,
        name: &str,
        args: serde_json::Value,
        confirmer: &dyn Confirmer,
        options: CallOptions<'_>,
    ) -> Result<serde_json::Value, CapError> {
        let mut out = None;
        self.execute_replying(name, args, confirmer, options, |r| out = Some(r));
        out.unwrap_or_else(|| Err(CapError::execution("the call gave no result")))
    }

    /// Runs a call through the whole pipeline, hands its result to `reply`, and records
    /// it in the audit log.
    ///
    /// The audit record is written before `reply` for every call that could change or
    /// send anything, and for every refused or failed call. A call that succeeded and can
    /// only read local files or facts (its side effects are `read_only`,
    /// `filesystem_read`, `system_read`) is handed to [`AuditSink::record_read`], which
    /// queues it, and answered at once: its caller does not wait for the audit write.
    pub fn execute_replying(
        &self,
        name: &str,
        args: serde_json::Value,
        confirmer: &dyn Confirmer,
        options: CallOptions<'_>,
        reply: impl FnOnce(Result<serde_json::Value, CapError>),
    ) {
        let started = Instant::now();
        let cap = self.find(name);
        let principal = options.principal.unwrap_or(crate::users::OPERATOR);
        let call = self.events.as_ref().map_or(0, |b| b.next_call());
        // Never a parameter: only the capability (or `unknown`), the principal, and the
        // outcome once known.
        let span = tracing::info_span!(
            target: "airun::trace",
            "airun.call",
            airun.capability = cap.map_or("unknown", |c| c.id),
            airun.principal = principal,
            airun.outcome = tracing::field::Empty,
            airun.decision = tracing::field::Empty,
            airun.op = tracing::field::Empty,
        );
        let _call = span.enter();
        let Staged {
            decision,
            op,
            root,
            shown,
            result,
        } = self.run_stages(name, args, confirmer, options, call);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        };
        let reply_first = result.is_ok()
            && decision == Decision::Allowed
            && cap.is_some_and(Capability::reads_locally);
        span.record("airun.outcome", outcome);
        span.record("airun.decision", decision.as_str());
        if let Some(op) = op {
            span.record("airun.op", op);
        }
        let audit_stage = stage!("audit");
        let mut event = AuditEvent {
            capability: cap.map_or(name, |c| c.id),
            params: shown,
            decision,
            outcome,
            duration_ms: started.elapsed().as_millis() as u64,
            op,
            principal,
        };
        // HOOK(audit): exactly one record per call, allowed or not.
        if reply_first {
            // Queued (not written) before the answer, so that no record of a call the
            // client makes after this answer can be written ahead of it.
            self.audit.record_read(&event);
        } else {
            self.audit.record(&event);
        }
        if let Some(op) = op {
            self.root_at(root).2.durable(op);
        }
        drop(audit_stage);
        // The call's last event, after its audit record and before its answer.
        if let Some(bus) = &self.events {
            let kind = match (&result, decision) {
                (Ok(_), _) => EventKind::Finished,
                (Err(_), Decision::DeniedPolicy | Decision::DeniedSandbox | Decision::Declined) => {
                    EventKind::Denied
                }
                (Err(_), _) => EventKind::Failed,
            };
            bus.publish(
                kind,
                Draft {
                    call,
                    capability: event.capability.to_string(),
                    principal: principal.to_string(),
                    op,
                    outcome: Some(outcome.to_string()),
                    params: std::mem::take(&mut event.params),
                    detail: serde_json::json!({
                        "decision": decision.label(),
                        "duration_ms": event.duration_ms,
                        "duration_us": started.elapsed().as_micros() as u64,
                    }),
                },
            );
        }
        reply(result);
    }

    /// Stages 1-5 and the journal's hooks: the result, and what was decided on the way.
    fn run_stages(
        &self,
        name: &str,
        args: serde_json::Value,
        confirmer: &dyn Confirmer,
        options: CallOptions<'_>,
        call: u64,
    ) -> Staged {
        let mut staged = Staged {
            decision: Decision::Invalid,
            op: None,
            root: 0,
            shown: serde_json::Value::Null,
            result: Ok(serde_json::Value::Null),
        };
        // No call runs before the journal has rolled back what a crash interrupted.
        if let Err(e) = self.journal.ready() {
            return staged.failed(e);
        }
        let prepared = match self.prepare_within(name, args, options.within) {
            Ok(p) => p,
            Err(e) => {
                staged.decision = match e.kind {
                    ErrorKind::DeniedPolicy => Decision::DeniedPolicy,
                    ErrorKind::DeniedSandbox => Decision::DeniedSandbox,
                    _ => Decision::Invalid,
                };
                return staged.failed(e);
            }
        };
        let cap = prepared.capability();
        let (workspace, _, journal) = self.root_at(prepared.root);
        if prepared.root != 0
            && let Err(e) = journal.ready()
        {
            return staged.failed(e);
        }
        staged.shown = redact(cap, prepared.call.params().to_json());
        if let Some(bus) = &self.events {
            bus.publish(
                EventKind::Requested,
                Draft {
                    call,
                    capability: cap.id.to_string(),
                    principal: options.principal.unwrap_or(crate::events::OPERATOR).into(),
                    params: staged.shown.clone(),
                    ..Draft::default()
                },
            );
        }
        // A call whose spec flag says it changes nothing (a dry run) needs no confirmation
        // and leaves no undo point.
        let changes_nothing = prepared.changes_nothing();
        // 4. Confirmation.
        let stage = stage!("confirm");
        staged.decision = match self.confirmation(cap, changes_nothing) {
            Confirmation::NotNeeded => Decision::Allowed,
            Confirmation::ByPolicy => Decision::Approved(ApprovedBy::Policy),
            Confirmation::Ask => {
                let request = ConfirmRequest {
                    capability: cap,
                    params: &staged.shown,
                    principal: options.principal,
                };
                match confirmer.confirm(&request) {
                    Ok(by) => Decision::Approved(by),
                    Err(e) => {
                        staged.decision = Decision::Declined;
                        return staged.failed(e);
                    }
                }
            }
        };
        drop(stage);
        // HOOK(time-machine): intent record and before-images of the undo targets.
        let stage = stage!("journal", phase = "begin");
        let journal_op = if cap.is_mutating()
            && cap.undo_strategy != UndoStrategy::Journal
            && !changes_nothing
        {
            let intent = CallIntent {
                capability: cap,
                params: &staged.shown,
                undo_targets: prepared.undo_targets.clone(),
                session: options.session,
                principal: options.principal.unwrap_or(crate::users::OPERATOR),
            };
            match journal.begin(workspace, &intent) {
                Ok(op) => op,
                Err(e) => return staged.failed(e),
            }
        } else {
            None
        };
        drop(stage);
        staged.op = journal_op.as_ref().map(|o| o.id());
        staged.root = prepared.root;
        // 5. Execution, with the spec's time limit.
        let never = AtomicBool::new(false);
        // Progress goes to the caller and, at most every PROGRESS_EVERY, to the bus.
        let last_progress = std::sync::Mutex::new(None::<Instant>);
        let forward = |done: u64, total: Option<u64>, message: &str| {
            if let Some(p) = options.progress {
                p(done, total, message);
            }
            let Some(bus) = &self.events else { return };
            let mut last = last_progress.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) && total != Some(done) {
                return;
            }
            *last = Some(Instant::now());
            bus.publish(
                EventKind::Progress,
                Draft {
                    call,
                    capability: cap.id.to_string(),
                    principal: options.principal.unwrap_or(crate::events::OPERATOR).into(),
                    detail: serde_json::json!({
                        "done": done, "total": total, "message": message,
                    }),
                    ..Draft::default()
                },
            );
        };
        let progress: Option<ProgressFn<'_>> =
            if options.progress.is_some() || self.events.is_some() {
                Some(&forward)
            } else {
                None
            };
        let env = Env {
            workspace,
            settings: &self.settings,
            deadline: Instant::now() + Duration::from_secs(cap.timeout_seconds),
            cancel: options.cancel.unwrap_or(&never),
            progress,
            journal: self.journal.as_ref(),
            op: journal_op.as_deref(),
            // The operator sees and undoes everyone's operations.
            principal: options.principal.filter(|p| *p != crate::users::OPERATOR),
            resolved: if cap.is_mutating() || cap.requires_confirmation {
                &[]
            } else {
                &prepared.resolved
            },
        };
        // A pure computation runs in a child process its time limit and a memory bound
        // hold for, whatever its input makes it do.
        let pure = !cap.side_effects.is_empty()
            && cap
                .side_effects
                .iter()
                .all(|e| *e == crate::catalog::SideEffect::ReadOnly);
        let stage = stage!("execute");
        let result = if pure {
            let env = Env {
                progress: None,
                ..env
            };
            isolate::run(env.deadline, env.cancel, || {
                self.set.dispatch(prepared.call, &env)
            })
        } else {
            self.set.dispatch(prepared.call, &env)
        };
        drop(stage);
        // HOOK(time-machine): after-images and commit, or the before-images put back.
        if let Some(jop) = journal_op {
            let _stage = stage!("journal", phase = "commit");
            if let Err(e) = jop.finish(workspace, result.as_ref()) {
                return staged.failed(e);
            }
        }
        staged.result = result;
        staged
    }
}

/// The shortest time between two progress events of one call on the events bus.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Hides sensitive inputs of a capability's params, and the user name and password of
/// every URL written in any text input (`https://user:pw@host/` becomes
/// `https://<redacted>@host/`), whether or not the call is then refused.
pub fn redact(cap: &Capability, mut params: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = params.as_object_mut() {
        for name in cap.sensitive_inputs {
            if let Some(v) = obj.get_mut(*name) {
                *v = serde_json::Value::String("<redacted>".into());
            }
        }
    }
    redact_url_credentials(&mut params);
    params
}

/// Replaces the user information of URLs in every string of `v`.
fn redact_url_credentials(v: &mut serde_json::Value) {
    static USERINFO: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) =
        USERINFO.get_or_init(|| regex::Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@").ok())
    else {
        return;
    };
    match v {
        serde_json::Value::String(s) => {
            if s.contains('@')
                && let std::borrow::Cow::Owned(clean) = re.replace_all(s, "${1}<redacted>@")
            {
                *s = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_url_credentials),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_url_credentials),
        _ => {}
    }
}

/// The access a path input of a capability needs (for documentation and tests).
pub fn path_access(cap: &Capability, field: &str) -> Option<Access> {
    cap.path_inputs
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::redact_url_credentials;
    use serde_json::json;

    #[test]
    fn url_user_information_is_redacted_everywhere() {
        let mut v = json!({
            "url": "https://alice:s3cret@example.com/path?q=1",
            "args": ["git", "clone", "http://tok@host:8080/r.git", "plain@text"],
            "nested": {"u": "HTTPS://bob:p@ss@h.example/"},
            "n": 3,
        });
        redact_url_credentials(&mut v);
        assert_eq!(
            v,
            json!({
                "url": "https://<redacted>@example.com/path?q=1",
                "args": ["git", "clone", "http://<redacted>@host:8080/r.git", "plain@text"],
                "nested": {"u": "HTTPS://<redacted>@h.example/"},
                "n": 3,
            })
        );
    }
}

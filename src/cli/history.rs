//! `airun undo`, `redo`, `history`, `audit` and `gc`.

use super::term::{self, Grid, GridCell};
use super::{AuditAction, Global, pipeline_and_state};
use crate::error::{CapError, ErrorKind};
use crate::hooks::client_label;
use crate::pipeline::{OpInfo, UndoRequest};
use crate::powers::CapabilitySet;
use crate::types::OpState;
use crate::users::{self, OPERATOR};
use std::process::ExitCode;

/// With several writable roots, says on stderr (not with `--json`) that history, undo
/// and redo act on the first root's journal: each root keeps its own.
fn first_root_note<S: CapabilitySet>(k: &crate::pipeline::Pipeline<S>, json: bool) {
    let roots = k.roots();
    if json || roots.iter().skip(1).all(|r| r.read_only) {
        return;
    }
    eprintln!(
        "note: the history of the first root {}; each root keeps its own (give another root first to see or undo its operations)",
        roots[0].path.display()
    );
}

/// The principal a `--user NAME` option names: a user name (one that was removed still
/// names their records), or `operator`.
pub fn principal_arg(user: Option<String>) -> Result<Option<String>, CapError> {
    match user {
        Some(name) if name != OPERATOR => {
            users::check_name(&name).map_err(|mut e| {
                e.message = format!("--user: {}", e.message);
                e
            })?;
            Ok(Some(name))
        }
        other => Ok(other),
    }
}

/// The options to act on `user`'s operations and records with: in their workspace when
/// the command line names none (no `--workspace`, no `AIRUN_WORKSPACE`) and `user` is a
/// user of this airun; else the options as given.
pub fn users_lane(global: &Global, user: Option<&str>) -> Result<Global, CapError> {
    let mut lane = global.clone();
    let Some(name) = user.filter(|n| *n != OPERATOR) else {
        return Ok(lane);
    };
    let home = super::home::airun_home();
    if !global.workspace.is_empty() || !home.join("users.db").is_file() {
        return Ok(lane);
    }
    if let Some(found) = users::UserStore::open(&home)?.get(name)? {
        lane.workspace = vec![found.workspace];
    }
    Ok(lane)
}

fn ops_table(ops: &[OpInfo]) -> String {
    if ops.is_empty() {
        return "no operations in this workspace yet\n".to_string();
    }
    let mut t = Grid::new(
        [
            "op",
            "time",
            "user",
            "session",
            "capability",
            "summary",
            "state",
        ],
        &[0, 1, 2, 3, 4],
    );
    for o in ops {
        t.row([
            GridCell::from(o.op.to_string()),
            (&o.time).into(),
            (&o.principal).into(),
            o.session.as_deref().unwrap_or("-").into(),
            (&o.capability).into(),
            (&o.summary).into(),
            term::state_cell(o.state.as_str()),
        ]);
    }
    t.render()
}

/// What an undo or redo acted on: everyone's operations, or one user's.
#[derive(Clone, Copy)]
struct Whose<'a>(Option<&'a str>);

impl Whose<'_> {
    /// `operation` or `operation of alice`, for the messages.
    fn operation(self) -> String {
        match self.0 {
            Some(user) => format!("operation of {user}"),
            None => "operation".to_string(),
        }
    }
}

/// Prints what an undo or redo did: one line per operation, and on stderr how many of the
/// asked-for steps found no operation to act on.
fn print_ops(
    done: &str,
    (verb, left): (&str, &str),
    whose: Whose<'_>,
    ops: &[OpInfo],
    asked: Option<usize>,
    json: bool,
) {
    if json {
        super::render::print_json(ops);
        return;
    }
    if ops.is_empty() {
        println!(
            "nothing to {verb}: no {left} {} is left in this workspace",
            whose.operation()
        );
        return;
    }
    for o in ops {
        anstream::println!(
            "{style}{done}:{style:#} op {} {} ({})",
            o.op,
            o.summary,
            o.capability,
            style = term::DONE
        );
    }
    if let Some(asked) = asked.filter(|&a| a > ops.len()) {
        anstream::eprintln!(
            "{style}not {done}:{style:#} {} more step(s) asked for, but no other {left} {} is left to {verb}",
            asked - ops.len(),
            whose.operation(),
            style = term::WARN
        );
    }
}

/// `airun undo`: the newest operations, everything from one on, or everything one
/// agent session did.
pub fn undo<S: CapabilitySet>(
    set: S,
    global: &Global,
    req: UndoRequest,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, tm) = pipeline_and_state(set, global)?;
    first_root_note(&k, json);
    if let Some(op) = req.to {
        let found = k
            .journal()
            .history(HISTORY_ALL)?
            .into_iter()
            .find(|o| o.op == op);
        let Some(found) = found else {
            return Err(CapError::new(
                ErrorKind::NotFound,
                format!("there is no operation {op} in this workspace"),
            )
            .with_hint("`airun history` lists the operations and their ids"));
        };
        if let Some(user) = req.principal.as_deref().filter(|u| *u != found.principal) {
            return Err(CapError::new(
                ErrorKind::InvalidInput,
                format!(
                    "operation {op} was made by {}, not by {user}",
                    found.principal
                ),
            )
            .with_hint(format!(
                "`airun history --user {user}` lists the operations of {user}"
            )));
        }
    }
    let started = std::time::Instant::now();
    let params = serde_json::json!({
        "steps": req.steps,
        "to": req.to,
        "force": req.force,
        "session": req.session,
        "user": req.principal,
    });
    let asked = (req.to.is_none() && req.session.is_none()).then_some(req.steps);
    let session = req.session.clone();
    let user = req.principal.clone();
    let whose = Whose(user.as_deref());
    let res = k.journal().undo(k.workspace(), req);
    audit_journal_command(
        &tm,
        crate::stdlib::generated::sys::UNDO.id,
        params,
        &res,
        started,
    )?;
    let ops = res?;
    match session {
        Some(s) if !json => {
            if ops.is_empty() {
                println!("nothing to undo: session {s} has no operation left that is done");
            } else {
                print_ops("undone", ("undo", "done"), whose, &ops, None, false);
            }
            let mut left = k.journal().session_history(&s, HISTORY_ALL)?;
            left.retain(|o| whose.0.is_none_or(|u| o.principal == u));
            print_not_undone(&left);
        }
        _ => print_ops("undone", ("undo", "done"), whose, &ops, asked, json),
    }
    Ok(ExitCode::SUCCESS)
}

/// After an undo of a session, says on stderr which of its operations stay as they are
/// because they cannot be undone (irreversible, expired, damaged).
fn print_not_undone(ops: &[OpInfo]) {
    for o in ops {
        let why = match o.state {
            OpState::Irreversible => "irreversible: it kept no undo point",
            OpState::Expired => "expired: its undo point was given up to the retention limits",
            OpState::Damaged => "damaged: some of its saved copies are lost",
            _ => continue,
        };
        anstream::eprintln!(
            "{style}not undone:{style:#} op {} {} ({why})",
            o.op,
            o.summary,
            style = term::WARN
        );
    }
}

/// Writes the audit record of an undo or redo run from the command line, like the
/// record of any other change: what was asked, the outcome, and the operations.
fn audit_journal_command(
    tm: &crate::timemachine::TimeMachine,
    capability: &str,
    mut params: serde_json::Value,
    res: &Result<Vec<OpInfo>, CapError>,
    started: std::time::Instant,
) -> Result<(), CapError> {
    params["via"] = "cli".into();
    let outcome = match res {
        Ok(ops) => {
            params["ops"] = ops.iter().map(|o| o.op).collect::<Vec<_>>().into();
            "ok"
        }
        Err(e) => e.kind.as_str(),
    };
    tm.record_event(
        capability,
        params,
        outcome,
        started.elapsed().as_millis() as u64,
    )
}

/// `airun redo`: everyone's oldest undone operations, or one user's.
pub fn redo<S: CapabilitySet>(
    set: S,
    global: &Global,
    steps: usize,
    user: Option<&str>,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, tm) = pipeline_and_state(set, global)?;
    first_root_note(&k, json);
    let started = std::time::Instant::now();
    let res = k.journal().redo_of(k.workspace(), steps, user);
    audit_journal_command(
        &tm,
        "sys.redo",
        serde_json::json!({"steps": steps, "user": user}),
        &res,
        started,
    )?;
    let ops = res?;
    print_ops(
        "redone",
        ("redo", "undone"),
        Whose(user),
        &ops,
        Some(steps),
        json,
    );
    Ok(ExitCode::SUCCESS)
}

/// As many operations as `history` can list: enough to find any id.
const HISTORY_ALL: usize = 1 << 40;

/// Whose operations `airun history` lists: one session's, one user's, both, or all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Of<'a> {
    /// Only this agent session's.
    pub session: Option<&'a str>,
    /// Only this user's.
    pub user: Option<&'a str>,
}

/// `airun history`: every operation, or one session's or one user's.
pub fn history<S: CapabilitySet>(
    set: S,
    global: &Global,
    limit: usize,
    of: Of<'_>,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, _) = pipeline_and_state(set, global)?;
    first_root_note(&k, json);
    let ops = match of.session {
        Some(s) => {
            let mut ops = k.journal().session_history(s, HISTORY_ALL)?;
            ops.retain(|o| of.user.is_none_or(|u| o.principal == u));
            ops.truncate(limit);
            ops
        }
        None => k.journal().history_of(of.user, limit)?,
    };
    if json {
        super::render::print_json(&ops);
    } else if !ops.is_empty() {
        print!("{}", ops_table(&ops));
    } else {
        match (of.session, of.user) {
            (Some(s), Some(u)) => {
                println!("no operations of {u} in session {s} in this workspace")
            }
            (Some(s), None) => println!("no operations of session {s} in this workspace"),
            (None, Some(u)) => println!("no operations of {u} in this workspace"),
            (None, None) => print!("{}", ops_table(&ops)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `airun history --by-user`: a section per user (by name), each with how many
/// operations they made and can still undo, and their newest `limit` operations.
pub fn by_user<S: CapabilitySet>(
    set: S,
    global: &Global,
    limit: usize,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, _) = pipeline_and_state(set, global)?;
    let mut sections = Vec::new();
    for p in k.journal().principals()? {
        let ops = k.journal().history_of(Some(&p.principal), limit)?;
        sections.push((p, ops));
    }
    if json {
        let list: Vec<_> = sections
            .iter()
            .map(|(p, ops)| {
                let mut v = serde_json::to_value(p).unwrap_or_default();
                v["operations"] = serde_json::to_value(ops).unwrap_or_default();
                v
            })
            .collect();
        super::render::print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    if sections.is_empty() {
        print!("{}", ops_table(&[]));
        return Ok(ExitCode::SUCCESS);
    }
    for (i, (p, ops)) in sections.iter().enumerate() {
        if i > 0 {
            println!();
        }
        anstream::println!(
            "{style}{}{style:#}: {} operation(s), {} undoable, {} to {}",
            p.principal,
            p.ops,
            p.undoable,
            p.first,
            p.last,
            style = term::DONE
        );
        print!("{}", ops_table(ops));
        if p.ops > ops.len() {
            println!(
                "({} older operation(s) of {}: `airun history --user {} --limit {}` shows them)",
                p.ops - ops.len(),
                p.principal,
                p.principal,
                p.ops
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `airun history --sessions`: the agent sessions (of one user, when given), the most
/// recently active first.
pub fn sessions<S: CapabilitySet>(
    set: S,
    global: &Global,
    user: Option<&str>,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, _) = pipeline_and_state(set, global)?;
    let list = k.journal().sessions_of(user)?;
    if json {
        super::render::print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        match user {
            Some(u) => {
                println!("no agent sessions of {u} have recorded operations in this workspace")
            }
            None => println!("no agent sessions have recorded operations in this workspace yet"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Grid::new(
        [
            "session", "user", "via", "client", "first", "last", "ops", "undoable",
        ],
        &[0, 1, 2, 4],
    );
    for s in &list {
        t.row([
            GridCell::from(s.session.clone()),
            (&s.principal).into(),
            s.transport.as_str().into(),
            client_label(s.client_name.as_deref(), s.client_version.as_deref()).into(),
            (&s.first).into(),
            (&s.last).into(),
            s.ops.to_string().into(),
            s.undoable.to_string().into(),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

/// `airun audit [verify | export --jsonl] [--user NAME]`.
pub fn audit<S: CapabilitySet>(
    set: S,
    global: &Global,
    action: Option<AuditAction>,
    limit: usize,
    user: Option<&str>,
    json: bool,
) -> Result<ExitCode, CapError> {
    if let (Some(AuditAction::Verify), Some(_)) = (&action, user) {
        return Err(CapError::new(
            ErrorKind::InvalidInput,
            "`audit verify` checks the whole chain, every user's records together; --user does not apply to it",
        )
        .with_hint("run `airun audit verify` without --user"));
    }
    let (_, tm) = pipeline_and_state(set, global)?;
    match action {
        Some(AuditAction::Verify) => match tm.audit_verify()? {
            Ok(n) => {
                println!("audit log intact: {n} records");
                Ok(ExitCode::SUCCESS)
            }
            Err(why) => Err(CapError::new(
                ErrorKind::Execution,
                format!("audit log broken: {why}"),
            )
            .with_hint("the audit database was changed outside airun")),
        },
        Some(AuditAction::Export { .. }) => {
            for r in tm.audit_records_of(user, None)? {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let records = tm.audit_records_of(user, Some(limit))?;
            if json {
                super::render::print_json(&records);
            } else {
                let mut t = Grid::new(
                    [
                        "seq",
                        "time",
                        "user",
                        "capability",
                        "decision",
                        "outcome",
                        "ms",
                        "op",
                    ],
                    &[0, 1, 2, 3],
                );
                for r in records {
                    t.row([
                        GridCell::from(r.seq.to_string()),
                        (&r.time).into(),
                        (&r.principal).into(),
                        (&r.capability).into(),
                        term::state_cell(&r.decision),
                        term::state_cell(&r.outcome),
                        r.duration_ms.to_string().into(),
                        r.op.map(|o| o.to_string()).unwrap_or_default().into(),
                    ]);
                }
                if t.is_empty() {
                    match user {
                        Some(u) => println!("no audit records of {u}"),
                        None => println!("no audit records yet"),
                    }
                } else {
                    print!("{}", t.render());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `airun gc`.
pub fn gc<S: CapabilitySet>(set: S, global: &Global, json: bool) -> Result<ExitCode, CapError> {
    let (_, tm) = pipeline_and_state(set, global)?;
    let spinner = term::spinner("expiring old undo points and unused blobs");
    let report = tm.gc();
    spinner.finish_and_clear();
    let report = report?;
    if json {
        super::render::print_json(&report);
    } else {
        println!(
            "expired {} undo point(s), removed {} unused blob(s), {} partly written blob(s) and {} leftover program temp folder(s)",
            report.expired_ops,
            report.removed_blobs,
            report.removed_temps,
            report.removed_exec_temps
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `airun state reset`.
pub fn state_reset(global: &Global, force: bool, json: bool) -> Result<ExitCode, CapError> {
    let (workspace, settings, home) = super::open_workspace(global)?;
    let report =
        crate::timemachine::TimeMachine::reset(&home, &workspace, settings.retention, force)?;
    if json {
        super::render::print_json(&report);
    } else {
        let lost = report
            .lost_head
            .as_ref()
            .map_or("unknown".to_string(), |h| h.to_string());
        println!(
            "started a new journal and audit log; the state had held {lost}; the old database is kept in {}",
            report.kept_in.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `airun undo`, `redo`, `history`, `audit` and `gc`.

use super::term::{self, Grid, GridCell};
use super::{AuditAction, Global, pipeline_and_state};
use crate::error::{CapError, ErrorKind};
use crate::hooks::client_label;
use crate::pipeline::{OpInfo, UndoRequest};
use crate::powers::CapabilitySet;
use crate::types::OpState;
use std::process::ExitCode;

fn ops_table(ops: &[OpInfo]) -> String {
    if ops.is_empty() {
        return "no operations in this workspace yet\n".to_string();
    }
    let mut t = Grid::new(
        ["op", "time", "session", "capability", "summary", "state"],
        &[0, 1, 2, 3],
    );
    for o in ops {
        t.row([
            GridCell::from(o.op.to_string()),
            (&o.time).into(),
            o.session.as_deref().unwrap_or("-").into(),
            (&o.capability).into(),
            (&o.summary).into(),
            term::state_cell(o.state.as_str()),
        ]);
    }
    t.render()
}

/// Prints what an undo or redo did: one line per operation, and on stderr how many of the
/// asked-for steps found no operation to act on.
fn print_ops(done: &str, verb: &str, left: &str, ops: &[OpInfo], asked: Option<usize>, json: bool) {
    if json {
        super::render::print_json(ops);
        return;
    }
    if ops.is_empty() {
        println!("nothing to {verb}: no {left} operation is left in this workspace");
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
            "{style}not {done}:{style:#} {} more step(s) asked for, but no other {left} operation is left to {verb}",
            asked - ops.len(),
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
    if let Some(op) = req.to {
        let known = k.journal().history(HISTORY_ALL)?.iter().any(|o| o.op == op);
        if !known {
            return Err(CapError::new(
                ErrorKind::NotFound,
                format!("there is no operation {op} in this workspace"),
            )
            .with_hint("`airun history` lists the operations and their ids"));
        }
    }
    let started = std::time::Instant::now();
    let params = serde_json::json!({
        "steps": req.steps,
        "to": req.to,
        "force": req.force,
        "session": req.session,
    });
    let asked = (req.to.is_none() && req.session.is_none()).then_some(req.steps);
    let session = req.session.clone();
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
                print_ops("undone", "undo", "done", &ops, None, false);
            }
            print_not_undone(&k.journal().session_history(&s, HISTORY_ALL)?);
        }
        _ => print_ops("undone", "undo", "done", &ops, asked, json),
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

/// `airun redo`.
pub fn redo<S: CapabilitySet>(
    set: S,
    global: &Global,
    steps: usize,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, tm) = pipeline_and_state(set, global)?;
    let started = std::time::Instant::now();
    let res = k.journal().redo(k.workspace(), steps);
    audit_journal_command(
        &tm,
        "sys.redo",
        serde_json::json!({"steps": steps}),
        &res,
        started,
    )?;
    let ops = res?;
    print_ops("redone", "redo", "undone", &ops, Some(steps), json);
    Ok(ExitCode::SUCCESS)
}

/// As many operations as `history` can list: enough to find any id.
const HISTORY_ALL: usize = 1 << 40;

/// `airun history`: every operation, or one session's.
pub fn history<S: CapabilitySet>(
    set: S,
    global: &Global,
    limit: usize,
    session: Option<&str>,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, _) = pipeline_and_state(set, global)?;
    let ops = match session {
        Some(s) => k.journal().session_history(s, limit)?,
        None => k.journal().history(limit)?,
    };
    if json {
        super::render::print_json(&ops);
    } else if let (Some(s), true) = (session, ops.is_empty()) {
        println!("no operations of session {s} in this workspace");
    } else {
        print!("{}", ops_table(&ops));
    }
    Ok(ExitCode::SUCCESS)
}

/// `airun history --sessions`: the agent sessions, the most recently active first.
pub fn sessions<S: CapabilitySet>(
    set: S,
    global: &Global,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, _) = pipeline_and_state(set, global)?;
    let list = k.journal().sessions()?;
    if json {
        super::render::print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no agent sessions have recorded operations in this workspace yet");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Grid::new(
        [
            "session", "via", "client", "first", "last", "ops", "undoable",
        ],
        &[0, 1, 3],
    );
    for s in &list {
        t.row([
            GridCell::from(s.session.clone()),
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

/// `airun audit [verify | export --jsonl]`.
pub fn audit<S: CapabilitySet>(
    set: S,
    global: &Global,
    action: Option<AuditAction>,
    limit: usize,
    json: bool,
) -> Result<ExitCode, CapError> {
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
            for r in tm.audit_records(None)? {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let records = tm.audit_records(Some(limit))?;
            if json {
                super::render::print_json(&records);
            } else {
                let mut t = Grid::new(
                    [
                        "seq",
                        "time",
                        "capability",
                        "decision",
                        "outcome",
                        "ms",
                        "op",
                    ],
                    &[0, 1, 2],
                );
                for r in records {
                    t.row([
                        GridCell::from(r.seq.to_string()),
                        (&r.time).into(),
                        (&r.capability).into(),
                        term::state_cell(&r.decision),
                        term::state_cell(&r.outcome),
                        r.duration_ms.to_string().into(),
                        r.op.map(|o| o.to_string()).unwrap_or_default().into(),
                    ]);
                }
                if t.is_empty() {
                    println!("no audit records yet");
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

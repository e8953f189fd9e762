//! `airun undo`, `redo`, `history`, `audit` and `gc`.

use super::{AuditAction, Global, kernel_and_state};
use crate::catalog::CapabilitySet;
use crate::error::{CapError, ErrorKind};
use crate::kernel::{OpInfo, UndoRequest};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::process::ExitCode;

fn ops_table(ops: &[OpInfo]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["op", "time", "capability", "summary", "state"]);
    for o in ops {
        t.add_row([
            o.op.to_string(),
            o.time.clone(),
            o.capability.clone(),
            o.summary.clone(),
            o.state.clone(),
        ]);
    }
    t.to_string()
}

fn print_ops(what: &str, ops: &[OpInfo], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(ops).unwrap_or_default());
    } else if ops.is_empty() {
        println!("nothing to {what}");
    } else {
        for o in ops {
            println!("{what}: {} {} ({})", o.op, o.summary, o.capability);
        }
    }
}

/// `airun undo`.
pub fn undo<S: CapabilitySet>(
    set: S,
    global: &Global,
    steps: usize,
    to: Option<i64>,
    force: bool,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, tm) = kernel_and_state(set, global)?;
    let started = std::time::Instant::now();
    let res = k
        .journal()
        .undo(k.workspace(), UndoRequest { steps, to, force });
    let params = serde_json::json!({"steps": steps, "to": to, "force": force});
    audit_journal_command(&tm, "sys.undo", params, &res, started)?;
    let ops = res?;
    print_ops("undone", &ops, json);
    Ok(ExitCode::SUCCESS)
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
    let (k, tm) = kernel_and_state(set, global)?;
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
    print_ops("redone", &ops, json);
    Ok(ExitCode::SUCCESS)
}

/// `airun history`.
pub fn history<S: CapabilitySet>(
    set: S,
    global: &Global,
    limit: usize,
    json: bool,
) -> Result<ExitCode, CapError> {
    let (k, _) = kernel_and_state(set, global)?;
    let ops = k.journal().history(limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&ops).unwrap_or_default());
    } else {
        println!("{}", ops_table(&ops));
    }
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
    let (_, tm) = kernel_and_state(set, global)?;
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
                println!(
                    "{}",
                    serde_json::to_string_pretty(&records).unwrap_or_default()
                );
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_header([
                        "seq",
                        "time",
                        "capability",
                        "decision",
                        "outcome",
                        "ms",
                        "op",
                    ]);
                for r in records {
                    t.add_row([
                        r.seq.to_string(),
                        r.time,
                        r.capability,
                        r.decision,
                        r.outcome,
                        r.duration_ms.to_string(),
                        r.op.map(|o| o.to_string()).unwrap_or_default(),
                    ]);
                }
                println!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `airun gc`.
pub fn gc<S: CapabilitySet>(set: S, global: &Global, json: bool) -> Result<ExitCode, CapError> {
    let (_, tm) = kernel_and_state(set, global)?;
    let report = tm.gc()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
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
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
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

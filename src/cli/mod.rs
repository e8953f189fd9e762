//! The `airun` command line: `list`, `inspect`, `execute`, `doctor`.
//!
//! Exit codes: 0 ok, 1 execution error, 2 invalid input, 3 denied by policy or sandbox,
//! 4 declined at confirmation. Errors are one line on stderr plus a hint.

mod args;
mod doctor;
mod history;
pub mod home;
pub mod openai;
pub mod policy;
pub mod render;
pub mod roots;
pub mod serve;
pub mod telemetry;
pub mod term;
mod user;

pub use args::{
    AuditAction, Cli, Command, Global, PolicyAction, StateAction, UserAction, UserTokenAction,
};

use crate::error::{CapError, ErrorKind};
use crate::hooks::{Session, Transport};
use crate::pipeline::{CallOptions, Pipeline, TerminalConfirmer, UndoRequest};
use crate::powers::CapabilitySet;
use crate::sandbox::Workspace;
use crate::settings::Settings;
use crate::timemachine::{Deferred, TimeMachine};
use clap::Parser;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Runs the CLI over the standard capability set.
pub fn main() -> ExitCode {
    main_with(crate::stdlib::capabilities())
}

/// Runs the CLI over any generated capability set.
pub fn main_with<S: CapabilitySet>(set: S) -> ExitCode {
    let cli = Cli::parse();
    run(set, cli)
}

/// Runs one parsed command line.
pub fn run<S: CapabilitySet>(set: S, cli: Cli) -> ExitCode {
    term::set_wide(cli.global.wide);
    match dispatch(set, cli) {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            ExitCode::from(e.kind.exit_code())
        }
    }
}

fn print_error(e: &CapError) {
    term::print_error(&e.message, e.hint.as_deref());
}

/// Builds the pipeline the global options describe, with its undo journal and audit log.
pub fn pipeline<S: CapabilitySet>(set: S, global: &Global) -> Result<Pipeline<S>, CapError> {
    pipeline_and_state(set, global).map(|(k, _)| k)
}

/// Builds the pipeline and hands back its time machine too (for history and audit commands).
pub fn pipeline_and_state<S: CapabilitySet>(
    set: S,
    global: &Global,
) -> Result<(Pipeline<S>, Arc<TimeMachine>), CapError> {
    let (workspace, settings, home) = open_workspace(global)?;
    let extra = open_extra_roots(global, &workspace, &home)?;
    let retention = settings.retention;
    let tm = Arc::new(TimeMachine::open(&home, &workspace, retention)?);
    let mut pipeline = Pipeline::new(set, workspace, settings)
        .with_first_root_read_only(first_read_only(global)?)
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm.clone()));
    for (ws, read_only) in extra {
        let journal: Box<dyn crate::hooks::Journal> = if read_only {
            Box::new(crate::hooks::NoJournal)
        } else {
            Box::new(TimeMachine::open(&home, &ws, retention)?)
        };
        pipeline = pipeline.with_root(ws, read_only, journal);
    }
    Ok((pipeline, tm))
}

/// Builds the pipeline with its time machine opened later (see [`Deferred`]): for servers,
/// which answer their client at once; every call still waits for the opening (and its
/// crash recovery) to finish.
pub fn pipeline_deferred<S: CapabilitySet>(
    set: S,
    global: &Global,
) -> Result<Pipeline<S>, CapError> {
    pipeline_deferred_and_state(set, global).map(|(k, _)| k)
}

/// [`pipeline_deferred`], and its time machine too (for the REST API's history and audit).
pub fn pipeline_deferred_and_state<S: CapabilitySet>(
    set: S,
    global: &Global,
) -> Result<(Pipeline<S>, Arc<Deferred>), CapError> {
    let (workspace, settings, home) = open_workspace(global)?;
    let extra = open_extra_roots(global, &workspace, &home)?;
    let retention = settings.retention;
    let tm = Arc::new(Deferred::new(home.clone(), &workspace, retention)?);
    let mut pipeline = Pipeline::new(set, workspace, settings)
        .with_first_root_read_only(first_read_only(global)?)
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm.clone()));
    for (ws, read_only) in extra {
        let journal: Box<dyn crate::hooks::Journal> = if read_only {
            Box::new(crate::hooks::NoJournal)
        } else {
            // Opened (and rolled back after a crash) at once, on a thread of its own.
            let deferred = Deferred::new(home.clone(), &ws, retention)?;
            crate::hooks::Journal::open_in_background(&deferred);
            Box::new(deferred)
        };
        pipeline = pipeline.with_root(ws, read_only, journal);
    }
    Ok((pipeline, tm))
}

/// A pipeline without a time machine, which also opens when `$AIRUN_HOME` is inside the
/// workspace: for `airun doctor`, which reports that instead of refusing to start.
pub fn pipeline_to_inspect<S: CapabilitySet>(
    set: S,
    global: &Global,
) -> Result<Pipeline<S>, CapError> {
    let (workspace, settings, home) = open_workspace_unchecked(global)?;
    let extra = open_extra_roots(global, &workspace, &home)?;
    let mut pipeline =
        Pipeline::new(set, workspace, settings).with_first_root_read_only(first_read_only(global)?);
    for (ws, read_only) in extra {
        pipeline = pipeline.with_root(ws, read_only, Box::new(crate::hooks::NoJournal));
    }
    Ok(pipeline)
}

/// Whether the first root the global options name is read-only (`DIR:ro`).
fn first_read_only(global: &Global) -> Result<bool, CapError> {
    Ok(roots::parse(&global.workspace)?
        .first()
        .is_some_and(|r| r.read_only))
}

/// The roots after the first the global options name, opened, each with whether it is
/// read-only. Each is checked as the first is ($AIRUN_HOME and, for a writable root, the
/// policy file may not lie inside), and no two roots may overlap.
fn open_extra_roots(
    global: &Global,
    first: &Workspace,
    home: &std::path::Path,
) -> Result<Vec<(Workspace, bool)>, CapError> {
    let specs = roots::parse(&global.workspace)?;
    let mut out: Vec<(Workspace, bool)> = Vec::new();
    for spec in specs.iter().skip(1) {
        let ws = Workspace::open(&spec.path, false, Some(home))?;
        home_outside(&ws, home)?;
        if !spec.read_only {
            policy::check_outside(&policy::load(global)?, &ws)?;
        }
        out.push((ws, spec.read_only));
    }
    let all: Vec<&std::path::Path> = std::iter::once(first.root())
        .chain(out.iter().map(|(w, _)| w.root()))
        .collect();
    if let Some((a, b)) = crate::pipeline::overlapping_roots(&all) {
        return Err(CapError::new(
            ErrorKind::InvalidInput,
            format!(
                "the workspace roots {} and {} overlap (one is inside the other)",
                a.display(),
                b.display()
            ),
        )
        .with_hint("give folders side by side, none inside another: --workspace ~/app --workspace ~/docs:ro"));
    }
    Ok(out)
}

/// Refuses a root that holds airun's home folder.
fn home_outside(workspace: &Workspace, home: &std::path::Path) -> Result<(), CapError> {
    // $AIRUN_HOME holds the policy, the undo journal and the audit log: inside the
    // workspace (by any spelling: compared as canonical paths) a capability or a program
    // could change them, so airun does not start.
    if let Some(state) = workspace.protected().state() {
        return Err(CapError::new(
            ErrorKind::InvalidInput,
            format!(
                "airun's home folder {} ($AIRUN_HOME) is inside the workspace {} (at `{}`), where capabilities could change the policy, the undo journal and the audit log",
                home.display(),
                workspace.root().display(),
                state.display()
            ),
        )
        .with_hint("set AIRUN_HOME to a folder outside the workspace, or choose another workspace"));
    }
    Ok(())
}

/// The workspace and settings the global options describe, and airun's home folder
/// (which may lie inside the workspace).
fn open_workspace_unchecked(global: &Global) -> Result<(Workspace, Settings, PathBuf), CapError> {
    let (root, create) = match roots::parse(&global.workspace)?.first() {
        Some(r) => (r.path.clone(), false),
        None => (home::default_workspace(), true),
    };
    let loaded = policy::load(global)?;
    let home = home::airun_home();
    let workspace = Workspace::open(&root, create, Some(&home))?;
    policy::check_outside(&loaded, &workspace)?;
    Ok((workspace, loaded.settings, home))
}

/// The workspace and settings the global options describe, and airun's home folder.
pub(crate) fn open_workspace(global: &Global) -> Result<(Workspace, Settings, PathBuf), CapError> {
    let (workspace, settings, home) = open_workspace_unchecked(global)?;
    home_outside(&workspace, &home)?;
    Ok((workspace, settings, home))
}

/// The capabilities the policy and `--read-only` let callers see. Listing needs no
/// workspace, so none is opened.
fn visible<S: CapabilitySet>(
    set: &S,
    global: &Global,
) -> Result<Vec<&'static crate::catalog::Capability>, CapError> {
    // When the workspace exists, the same checks as every other command (a policy file
    // or $AIRUN_HOME a capability could change is refused); listing creates nothing.
    let root = roots::parse(&global.workspace)?
        .first()
        .map(|r| r.path.clone())
        .unwrap_or_else(home::default_workspace);
    let settings = if root.is_dir() {
        open_workspace(global)?.1
    } else {
        policy::load(global)?.settings
    };
    Ok(set
        .catalog()
        .iter()
        .copied()
        .filter(|c| settings.allows(c))
        .collect())
}

fn dispatch<S: CapabilitySet>(set: S, cli: Cli) -> Result<ExitCode, CapError> {
    match cli.command {
        Command::List { json, markdown } => {
            let caps = visible(&set, &cli.global)?;
            if json {
                let list: Vec<_> = caps.iter().map(|c| c.summary_json()).collect();
                render::print_json(&list);
            } else if markdown {
                print!("{}", render::capability_markdown(&caps));
            } else {
                print!("{}", render::capability_table(&caps));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { id, json } => {
            let cap = set
                .catalog()
                .iter()
                .copied()
                .find(|c| c.id == id || c.tool_name == id)
                .ok_or_else(|| CapError::unknown_capability(&id, set.catalog()))?;
            if json {
                render::print_json(&render::capability_full_json(cap));
            } else {
                print!("{}", render::capability_detail(cap));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Execute {
            id,
            params,
            yes,
            json,
        } => execute(set, &cli.global, &id, &params, yes, json),
        Command::Doctor { json } => doctor::run(set, &cli.global, json),
        Command::Policy { action } => policy::run(&cli.global, &action),
        Command::Undo {
            steps,
            to,
            session,
            user,
            force,
            json,
        } => {
            let principal = history::principal_arg(user)?;
            let global = history::users_lane(&cli.global, principal.as_deref())?;
            let req = UndoRequest {
                steps,
                to,
                force,
                session,
                principal,
            };
            history::undo(set, &global, req, json)
        }
        Command::Redo { steps, user, json } => {
            let user = history::principal_arg(user)?;
            let global = history::users_lane(&cli.global, user.as_deref())?;
            history::redo(set, &global, steps, user.as_deref(), json)
        }
        Command::History {
            limit,
            session,
            sessions,
            user,
            by_user,
            json,
        } => {
            let user = history::principal_arg(user)?;
            let global = history::users_lane(&cli.global, user.as_deref())?;
            if sessions {
                history::sessions(set, &global, user.as_deref(), json)
            } else if by_user {
                history::by_user(set, &global, limit, json)
            } else {
                let of = history::Of {
                    session: session.as_deref(),
                    user: user.as_deref(),
                };
                history::history(set, &global, limit, of, json)
            }
        }
        Command::Audit {
            action,
            limit,
            user,
            json,
        } => {
            let user = history::principal_arg(user)?;
            let global = history::users_lane(&cli.global, user.as_deref())?;
            history::audit(set, &global, action, limit, user.as_deref(), json)
        }
        Command::Gc { json } => history::gc(set, &cli.global, json),
        Command::State {
            action: StateAction::Reset { force, json },
        } => history::state_reset(&cli.global, force, json),
        Command::User { action } => user::run(&cli.global, &action),
        Command::Serve(args) => serve::run(set, &cli.global, &args),
        Command::Openai(args) => openai::run(set, &cli.global, &args),
    }
}

fn read_params(params: &str) -> Result<serde_json::Value, CapError> {
    let text = if params == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            CapError::new(
                ErrorKind::InvalidInput,
                format!("cannot read --params from stdin: {e}"),
            )
        })?;
        s
    } else {
        params.to_string()
    };
    serde_json::from_str(&text).map_err(|e| {
        CapError::new(
            ErrorKind::InvalidInput,
            format!("--params is not valid JSON: {e}"),
        )
        .with_hint("pass a JSON object, e.g. --params '{\"path\":\"notes.txt\"}'")
    })
}

fn execute<S: CapabilitySet>(
    set: S,
    global: &Global,
    id: &str,
    params: &str,
    yes: bool,
    json_out: bool,
) -> Result<ExitCode, CapError> {
    let started = Instant::now();
    let mut cap = id.to_string();
    let outcome = pipeline(set, global).and_then(|k| {
        if let Some(c) = k.find(id) {
            cap = c.id.to_string();
        }
        let args = read_params(params)?;
        let bar = term::progress_bar();
        let report = |done: u64, total: Option<u64>, message: &str| {
            term::report_progress(&bar, done, total, message)
        };
        // One `airun execute` process is one session.
        let session = Session::new(Transport::Cli);
        let options = CallOptions {
            progress: Some(&report),
            session: Some(&session),
            ..CallOptions::default()
        };
        let result = k.execute(id, args, &TerminalConfirmer { yes }, options);
        bar.finish_and_clear();
        result
    });
    let ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(result) => {
            if json_out {
                let env =
                    json!({"status": "ok", "capability": cap, "result": result, "duration_ms": ms});
                println!("{}", serde_json::to_string(&env).unwrap_or_default());
            } else {
                let (out, err) = render::result_for_people(&result);
                print!("{out}");
                eprint!("{err}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json_out {
                let err = crate::adapters::error_json(&e);
                let env =
                    json!({"status": "error", "capability": cap, "error": err, "duration_ms": ms});
                println!("{}", serde_json::to_string(&env).unwrap_or_default());
                Ok(ExitCode::from(e.kind.exit_code()))
            } else {
                Err(e)
            }
        }
    }
}

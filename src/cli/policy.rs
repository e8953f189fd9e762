//! `airun policy show`, and reading the operator's policy for every command.

use super::{Global, PolicyAction, home};
use crate::error::{CapError, ErrorKind};
use crate::policy::{self, Loaded, Source};
use crate::sandbox::Workspace;
use std::process::ExitCode;

/// Reads the policy the global options name (`--policy FILE`, or
/// `$AIRUN_HOME/policy.toml`), with `--read-only` forcing read-only mode.
pub fn load(global: &Global) -> Result<Loaded, CapError> {
    let mut loaded = policy::load(global.policy.as_deref(), &home::airun_home())?;
    if global.read_only {
        loaded.settings.read_only = true;
    }
    Ok(loaded)
}

/// Refuses a policy file that a capability could change: one inside the workspace and not
/// under airun's own (protected) state folder.
pub fn check_outside(loaded: &Loaded, workspace: &Workspace) -> Result<(), CapError> {
    let Source::File(path) = &loaded.source else {
        return Ok(());
    };
    let Ok(real) = path.canonicalize() else {
        return Ok(());
    };
    let Ok(rel) = real.strip_prefix(workspace.root()) else {
        return Ok(());
    };
    let protected = workspace
        .protected()
        .state()
        .is_some_and(|s| rel.starts_with(s));
    if protected {
        return Ok(());
    }
    Err(CapError::new(
        ErrorKind::InvalidInput,
        format!(
            "the policy file {} is inside the workspace {}, where capabilities could change it",
            path.display(),
            workspace.root().display()
        ),
    )
    .with_hint(
        "move the policy file outside the workspace (the default is $AIRUN_HOME/policy.toml)",
    ))
}

/// The workspace roots the command line names, as TOML comment lines (none for the
/// default single workspace).
fn roots_comment(global: &Global) -> Result<Vec<String>, CapError> {
    let roots = super::roots::parse(&global.workspace)?;
    Ok(roots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mode = if r.read_only { "read-only" } else { "writable" };
            let first = if i == 0 {
                ", relative paths resolve here"
            } else {
                ""
            };
            format!("# Workspace root: {} ({mode}{first})", r.path.display())
        })
        .collect())
}

/// Runs `airun policy ...`.
pub fn run(global: &Global, action: &PolicyAction) -> Result<ExitCode, CapError> {
    match action {
        PolicyAction::Show { json } => {
            let loaded = load(global)?;
            let effective = &loaded.settings;
            if *json {
                super::render::print_json(&effective);
            } else {
                match &loaded.source {
                    Source::File(p) => println!(
                        "# Effective policy: {} plus the defaults of keys it leaves out.",
                        p.display()
                    ),
                    Source::Defaults(p) => println!(
                        "# Effective policy: the defaults ({} does not exist).",
                        p.display()
                    ),
                }
                for line in roots_comment(global)? {
                    println!("{line}");
                }
                print!("{}", effective.to_toml());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

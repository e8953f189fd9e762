//! `airun doctor`: what airun will use, and whether the sandbox mechanism is in force.

use super::{Global, home, pipeline_to_inspect};
use crate::error::CapError;
use crate::powers::CapabilitySet;
use serde_json::json;
use std::process::ExitCode;

/// Which mechanism confines path resolution on this machine.
pub fn sandbox_mechanism() -> (&'static str, bool) {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
        let ok = openat2(
            CWD,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        )
        .is_ok();
        if ok {
            return ("cap-std directory handle, openat2 RESOLVE_BENEATH", true);
        }
    }
    (
        "cap-std directory handle, component-by-component resolution",
        false,
    )
}

/// Runs the checks and prints them.
pub fn run<S: CapabilitySet>(
    set: S,
    global: &Global,
    json_out: bool,
) -> Result<ExitCode, CapError> {
    // Opens even when airun's home is inside the workspace, to say so.
    let k = pipeline_to_inspect(set, global)?;
    let home_inside = k
        .workspace()
        .protected()
        .state()
        .map(|s| s.display().to_string());
    let (mechanism, beneath) = sandbox_mechanism();
    let root = k.workspace().root().display().to_string();
    let home = home::airun_home();
    let state = home.join("state");
    let visible = k.capabilities().len();
    let total = k.all_capabilities().len();
    let landlock = crate::powers::exec::landlock_abi();
    let tcp_confined = landlock.is_some_and(|abi| abi >= 4) && !k.settings().exec.network;
    let exec_sandbox = exec_sandbox(&k.settings().exec, landlock, tcp_confined);
    let bwrap = crate::powers::bwrap::available();
    let policy = super::policy::load(global)?;
    let policy_shown = match &policy.source {
        crate::policy::Source::File(p) => p.display().to_string(),
        crate::policy::Source::Defaults(p) => format!("{} (not found: defaults)", p.display()),
    };
    let hardlinks = k.settings().fs.hardlinks;
    let hardlinks_shown = match hardlinks {
        crate::settings::HardLinks::RefuseWrites => {
            "refuse_writes: files with other hard links are never written; reading them is allowed (they may be outside files)"
        }
        crate::settings::HardLinks::RefuseAll => {
            "refuse_all: files with other hard links are neither written nor read"
        }
    };
    let roots = k.roots();
    if json_out {
        let v = json!({
            "workspace": root,
            "roots": roots,
            "airun_home": home.display().to_string(),
            "state_dir": state.display().to_string(),
            "sandbox": mechanism,
            "resolve_beneath": beneath,
            "fs_hardlinks": hardlinks.as_str(),
            "airun_home_inside_workspace": home_inside,
            "read_only": k.settings().read_only,
            "policy": policy_shown,
            "landlock": {"enforced": landlock.is_some(), "abi": landlock, "tcp_confined": tcp_confined},
            "exec_sandbox": exec_sandbox,
            "bubblewrap": {
                "available": bwrap.is_ok(),
                "path": bwrap.ok().map(|p| p.display().to_string()),
                "error": bwrap.err(),
                "fallback": k.settings().exec.fallback.as_str(),
            },
            "capabilities": {"available": visible, "total": total},
        });
        super::render::print_json(&v);
    } else {
        println!("workspace:    {root}");
        if roots.len() > 1 || roots.iter().any(|r| r.read_only) {
            for (i, r) in roots.iter().enumerate() {
                let mode = if r.read_only { "read-only" } else { "writable" };
                let first = if i == 0 {
                    ", relative paths resolve here"
                } else {
                    ""
                };
                println!("root:         {} ({mode}{first})", r.path.display());
            }
        }
        println!("airun home:   {}", home.display());
        println!("state folder: {}", state.display());
        println!("sandbox:      {mechanism}");
        println!("hard links:   {hardlinks_shown}");
        if let Some(at) = &home_inside {
            println!(
                "problem:      airun's home is inside the workspace (at `{at}`); other commands refuse to start until AIRUN_HOME is moved out"
            );
        }
        println!(
            "read-only:    {}",
            if k.settings().read_only { "yes" } else { "no" }
        );
        println!("policy:       {policy_shown}");
        println!("exec sandbox: {exec_sandbox}");
        println!("capabilities: {visible} of {total} available");
    }
    Ok(ExitCode::SUCCESS)
}

/// How programs run by `sys.exec.run` are confined here, in one line.
fn exec_sandbox(
    exec: &crate::settings::ExecPolicy,
    landlock: Option<i32>,
    tcp_confined: bool,
) -> String {
    let network = if exec.network {
        "network allowed by exec.network"
    } else {
        "no network"
    };
    match (crate::powers::bwrap::available(), exec.fallback) {
        (Ok(path), _) => format!(
            "bubblewrap ({}): programs see the system folders{} read-only, write only in the workspace (`.git` and hard-linked files read-only) and a private /tmp, run in their own PID namespace with no capabilities, {network}; {}",
            path.display(),
            if exec.read_paths.is_empty() {
                ""
            } else {
                " and exec.read_paths"
            },
            match landlock {
                Some(abi) => format!("Landlock ABI {abi} inside"),
                None => "no Landlock inside (not available on this kernel)".to_string(),
            }
        ),
        (Err(why), crate::settings::ExecFallback::Refuse) => format!(
            "bubblewrap cannot run ({why}): sys.exec.run refuses every program (exec.fallback = \"refuse\")"
        ),
        (Err(why), crate::settings::ExecFallback::LandlockOnly) => {
            let landlock = match landlock {
                Some(abi) => format!(
                    "Landlock ABI {abi} enforced: programs can write only in the workspace and a private temp folder; TCP {}",
                    if tcp_confined {
                        "refused"
                    } else if exec.network {
                        "allowed by exec.network"
                    } else {
                        "not confined (needs Landlock ABI 4)"
                    }
                ),
                None => "Landlock not available on this kernel: programs are not confined (only the allowlist, cleared environment and time limit apply)".to_string(),
            };
            format!(
                "bubblewrap cannot run ({why}); exec.fallback = \"landlock_only\": {landlock}; not confined: file metadata, `.git`, hard-linked files, reads, other processes, UDP and Unix sockets"
            )
        }
    }
}

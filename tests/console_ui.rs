//! The operator's console in a real headless Chromium (Debian's `chromium`, driven by
//! Playwright for Python with the system browser), against the real `airun serve
//! --port 0`: log in, watch a write made over MCP appear in the live feed, read its diff,
//! undo and redo it from the page (the file on disk follows), force an undo past the
//! drift guard, approve and deny waiting calls, undo a whole agent session, page the
//! audit log, dry-run a capability from its generated form, read the policy; then a
//! read-only server whose pages show no button that would change anything; then a team
//! server where a viewer gets no button that acts and an agent user sees their own calls
//! (no user column: that is an admin's) and approves their own waiting call, and an admin
//! opens another user's lane.
//!
//! One browser session does every check (`tests/python/console_ui.py`). Screenshots of
//! each page are saved under the target folder; the test prints where.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::mcp::{AIRUN, Dirs};
use support::serve::{Running, add_user, command, start};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A running `airun serve --port 0`.
struct Served {
    _process: Running,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// The operator token it made and printed.
    token: String,
}

/// Starts the server without `--token`: it makes one and prints it, and `/mcp` needs
/// none on loopback.
fn serve(dirs: &Dirs, policy: &Path, extra: &[&str]) -> Served {
    let mut args = vec!["--policy", policy.to_str().expect("a UTF-8 path")];
    args.extend(extra);
    let started = start(command(Path::new(AIRUN), &dirs.ws, &dirs.home, &args));
    Served {
        _process: started.process,
        base: format!("http://{}", started.addr),
        token: started
            .made_token
            .expect("the server prints the token it made"),
    }
}

/// Where the screenshots go.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the screenshots folder");
    dir
}

#[test]
fn the_console_in_a_real_browser() {
    if !support::ci::require(
        "chromium (Debian's `chromium` package: apt-get install chromium)",
        Path::new(CHROMIUM).is_file(),
    ) {
        return;
    }
    let py = support::python::python();
    let has_playwright = Command::new(&py)
        .args(["-c", "import playwright.async_api"])
        .status()
        .is_ok_and(|s| s.success());
    if !support::ci::require(
        "Playwright for Python (pinned in tests/python/requirements.txt)",
        has_playwright,
    ) {
        return;
    }
    let dirs = Dirs::new();
    // Writes run at once (so the live feed and the history have something to show);
    // deletes wait for a yes in the console.
    let policy = dirs.home.join("console-policy.toml");
    std::fs::write(&policy, "auto_approve = [\"io.fs.write_file\"]\n").expect("policy");
    let rw = serve(&dirs, &policy, &[]);
    // The same workspace served read-only: its history has operations, and no button
    // to undo them.
    let ro = serve(&dirs, &policy, &["--read-only"]);
    // A team server on a workspace of its own, shared by a viewer and an agent.
    let team_dirs = Dirs::new();
    let team_policy = team_dirs.home.join("team-policy.toml");
    std::fs::write(&team_policy, "auto_approve = [\"io.fs.write_file\"]\n").expect("policy");
    let shared = team_dirs.ws.to_str().expect("a UTF-8 path");
    let airun = Path::new(AIRUN);
    let vic = add_user(
        airun,
        &team_dirs.home,
        "vic",
        "viewer",
        &["--workspace", shared],
    );
    let ann = add_user(
        airun,
        &team_dirs.home,
        "ann",
        "agent",
        &["--workspace", shared],
    );
    // An agent in a workspace of their own, whose lane an admin opens from the console.
    let bo = add_user(airun, &team_dirs.home, "bo", "agent", &[]);
    let team = serve(&team_dirs, &team_policy, &[]);
    let shots = artifacts();
    let config = serde_json::json!({
        "chromium": CHROMIUM,
        "base": rw.base,
        "token": rw.token,
        "read_only_token": ro.token,
        "workspace": dirs.ws,
        "read_only_base": ro.base,
        "team_base": team.base,
        "team_workspace": team_dirs.ws,
        "viewer_token": vic.token,
        "agent_token": ann.token,
        "team_token": team.token,
        "own_lane_token": bo.token,
        "screenshots": shots,
    });
    let out = Command::new(&py)
        .arg(support::python::script("console_ui.py"))
        .arg(config.to_string())
        .output()
        .expect("python runs");
    println!("console screenshots: {}", shots.display());
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
    for page in [
        "live",
        "history",
        "confirmations",
        "audit",
        "catalog",
        "policy",
        "read-only",
        "viewer",
        "agent",
        "admin-lane",
    ] {
        let shot = shots.join(format!("{page}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 1000,
            "no screenshot of the {page} page at {}",
            shot.display()
        );
    }
}

//! Helpers the integration tests share, one module per job:
//!
//! - [`pipeline`]: a workspace in a temporary folder with a pipeline over the standard
//!   capabilities, and checks that a refused call changed nothing;
//! - [`mcp`]: a real MCP client handler, the `airun` binary, checks on tool results;
//! - [`python`]: the Python (with pinned packages) the interoperability tests drive;
//! - [`serve`]: a real `airun serve --port 0` process and free loopback ports;
//! - [`browser`]: a browser's login, session cookie and CSRF token;
//! - [`http`]: requests to a running server (status, headers, JSON body);
//! - [`team`]: a team server with four users of every role;
//! - [`snapshot`]: everything on disk under a folder, to compare before and after;
//! - [`ci`]: tests that need something this machine may lack (they fail under CI);
//! - [`jwt`]: an identity provider's keys, JWKS on loopback and signed tokens.
//!
//! Each test file takes it whole with `mod support;`; a file uses only some helpers.

#![allow(dead_code)]

pub mod browser;
pub mod ci;
pub mod console;
pub mod http;
pub mod jwt;
pub mod mcp;
pub mod pipeline;
pub mod python;
pub mod serve;
pub mod snapshot;
pub mod team;

use std::path::PathBuf;

/// This package's folder, as `cargo test` gives it when the test runs (a path built in at
/// compile time would name another checkout when a shared build cache is reused).
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Runs `f` on another thread and fails if it does not finish within `secs` seconds
/// (for calls that must not hang).
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what} did not finish within {secs} s (hang?)"))
}

/// Runs `cmd` and fails, showing what it printed, unless it exits with success: its
/// output.
#[track_caller]
pub fn succeeds(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `airun` binary with a controlled environment: `AIRUN_HOME` and `HOME` at `home`,
/// `USER=tester`, no `AIRUN_WORKSPACE`, and no terminal on stdin.
pub fn isolated_airun(home: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(mcp::AIRUN);
    c.env_remove("AIRUN_WORKSPACE")
        .env("AIRUN_HOME", home)
        .env("HOME", home)
        .env("USER", "tester")
        .stdin(std::process::Stdio::null());
    c
}

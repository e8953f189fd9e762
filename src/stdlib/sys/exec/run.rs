//! `sys.exec.run`: runs an allowed program through the context's exec power.

use crate::error::CapError;
use crate::powers::ExecRequest;
use crate::stdlib::generated::sys::exec::*;
use std::time::Duration;

/// Text of captured output: invalid UTF-8 becomes U+FFFD, and a character cut in half at
/// the output limit is dropped.
fn text(mut bytes: Vec<u8>, cut: bool) -> String {
    if cut
        && let Err(e) = std::str::from_utf8(&bytes)
        && e.error_len().is_none()
    {
        bytes.truncate(e.valid_up_to());
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `sys.exec.run`: argv only, never a shell; the exec power enforces the allowlist, the
/// cleared environment, the time limit (on the whole process group), the output caps and
/// the bubblewrap confinement (with Landlock inside).
pub fn run(ctx: &mut RunCtx<'_>, p: RunParams) -> Result<RunResult, CapError> {
    let timeout = Duration::from_secs(u64::try_from(p.timeout_seconds).unwrap_or(1).max(1));
    let out = ctx.run_program(ExecRequest {
        command: &p.command,
        args: &p.args,
        cwd: &p.cwd,
        timeout,
        stdin: p.stdin.as_deref().map(str::as_bytes),
    })?;
    Ok(RunResult {
        exit_code: out.exit_code,
        stdout: text(out.stdout, out.truncated),
        stderr: text(out.stderr, out.truncated),
        truncated: out.truncated,
        timed_out: out.timed_out,
        duration_ms: i64::try_from(out.duration.as_millis()).unwrap_or(i64::MAX),
        signal: out.signal.map(i64::from),
    })
}

//! Exec power: running a program from the operator's allowlist, on contexts whose spec
//! declares `system_exec`.
//!
//! The program gets an argument vector (never a shell), a working folder resolved by the
//! sandbox, an environment cleared down to `exec.env_allow` plus a private `TMPDIR`, empty
//! standard input unless some is given, and its own process group, which is killed as a
//! whole at the time limit and when the program ends. Its output is read concurrently and
//! capped. The program runs under bubblewrap (see [`super::bwrap`]), with Landlock added
//! inside where the kernel has it. Where bubblewrap cannot run, programs are refused,
//! unless the operator's `exec.fallback = "landlock_only"` runs them under Landlock alone:
//! they can then read and run what the system allows, but write only inside the workspace
//! and a private temporary folder.

use super::{Ctx, Exec};
use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::sandbox::Workspace;
use crate::settings::program::lookup;
use crate::settings::{ExecFallback, ExecPolicy};
use crate::types::WsPath;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct ExecRequest<'r> {
    /// Program name as allowed by the operator (or its exact allowed path).
    pub command: &'r str,
    /// Arguments, passed as they are.
    pub args: &'r [String],
    /// Working folder, resolved by the sandbox for writing.
    pub cwd: &'r WsPath,
    /// Time limit asked for; the operator's `exec.timeout_max` caps it.
    pub timeout: Duration,
    /// Bytes for standard input; `None` gives an empty, closed standard input.
    pub stdin: Option<&'r [u8]>,
}

/// What a program did.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    /// Exit status; `128 + N` when killed by signal N (as shells report it).
    pub exit_code: i64,
    /// The signal that ended the program, if one did.
    pub signal: Option<i32>,
    /// Standard output (at most `exec.output_max` bytes).
    pub stdout: Vec<u8>,
    /// Standard error (at most `exec.output_max` bytes).
    pub stderr: Vec<u8>,
    /// True when some output was cut at the limit.
    pub truncated: bool,
    /// True when the program was killed at the time limit.
    pub timed_out: bool,
    /// Wall time from start to end.
    pub duration: Duration,
    /// True when Landlock confined the program's writes.
    pub landlock: bool,
    /// True when the program ran under bubblewrap.
    pub bubblewrap: bool,
}

/// The program an allowed command runs, and the name it is started under (`argv[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedProgram {
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// `argv[0]`: the allowed name.
    pub name: String,
}

/// Finds `command` on the allowlist. A bare name must be an entry (or the file name of an
/// absolute entry); a path must be exactly where an entry resolves, so an allowed name
/// copied elsewhere (`/tmp/x/ls` when `ls` is allowed) is refused.
pub fn find_allowed(policy: &ExecPolicy, command: &str) -> Result<AllowedProgram, CapError> {
    let names = || {
        if policy.allow.is_empty() {
            "the operator's policy allows no programs; ask the operator to add the program to `allow` under `[exec]` in policy.toml".to_string()
        } else {
            format!("allowed programs: {}", policy.allow.join(", "))
        }
    };
    if command.contains('\0') {
        return Err(CapError::invalid_field(
            "command",
            "contains a NUL character",
        ));
    }
    let entry_name = |e: &str| {
        Path::new(e)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    let found = if command.contains('/') {
        policy.allow.iter().find_map(|e| {
            let p = lookup(e)?;
            (p == Path::new(command)).then(|| AllowedProgram {
                path: p,
                name: entry_name(e).unwrap_or_else(|| e.clone()),
            })
        })
    } else {
        let entry = policy
            .allow
            .iter()
            .find(|e| e.as_str() == command)
            .or_else(|| {
                policy
                    .allow
                    .iter()
                    .find(|e| e.contains('/') && entry_name(e).as_deref() == Some(command))
            });
        match entry {
            Some(e) => match lookup(e) {
                Some(p) => Some(AllowedProgram {
                    path: p,
                    name: command.to_string(),
                }),
                None => {
                    return Err(CapError::execution(format!(
                        "`{command}` is allowed, but no executable of that name is on airun's PATH"
                    ))
                    .with_field("command")
                    .with_hint("the operator should install it or fix PATH"));
                }
            },
            None => None,
        }
    };
    match found {
        Some(p) => Ok(p),
        None if command.contains('/') => {
            let by_name = policy.allow.iter().find(|e| {
                entry_name(e).as_deref() == Path::new(command).file_name().and_then(|n| n.to_str())
            });
            let hint = match by_name {
                Some(e) => format!(
                    "`{e}` is allowed as `{}`; pass `command: \"{}\"` instead of a path",
                    lookup(e)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    entry_name(e).unwrap_or_default()
                ),
                None => names(),
            };
            Err(CapError::new(
                ErrorKind::DeniedPolicy,
                format!("`{command}` is not an allowed executable"),
            )
            .with_field("command")
            .with_hint(hint))
        }
        None => Err(CapError::new(
            ErrorKind::DeniedPolicy,
            format!("`{command}` is not on the operator's list of programs that may run"),
        )
        .with_field("command")
        .with_hint(format!(
            "{}; there is no shell, so pass a program name and put its arguments in `args`",
            names()
        ))),
    }
}

/// Whether Landlock can confine programs on this machine: `Some(abi)` with the kernel's
/// Landlock ABI version, `None` when the kernel lacks it (or it is disabled).
pub fn landlock_abi() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only
        // returns the ABI version; it reads no memory.
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32,
            )
        };
        if v > 0 {
            return Some(v as i32);
        }
    }
    None
}

/// A Landlock ruleset: read and execute everywhere, write only beneath `writable`, and
/// no TCP (connect or bind) unless `network` (on kernels with Landlock ABI 4 or later).
/// `Ok(None)` when the kernel has no Landlock.
#[cfg(target_os = "linux")]
pub(crate) fn landlock_ruleset(
    writable: &[&Path],
    network: bool,
) -> Result<Option<OwnedFd>, CapError> {
    use landlock::{
        ABI, Access as _, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr,
        path_beneath_rules,
    };
    if landlock_abi().is_none() {
        return Ok(None);
    }
    let abi = ABI::V5;
    let err = |e: landlock::RulesetError| {
        CapError::execution(format!("could not set up the Landlock sandbox: {e}"))
    };
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?;
    if !network {
        // Handled with no rule allowing any port: every TCP connect and bind is refused.
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(err)?;
    }
    let ruleset = ruleset
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules(writable, AccessFs::from_all(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            ["/dev/null", "/dev/zero", "/dev/full"],
            AccessFs::from_all(abi),
        ))
        .map_err(err)?;
    Ok(ruleset.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn landlock_ruleset(_: &[&Path], _: bool) -> Result<Option<OwnedFd>, CapError> {
    Ok(None)
}

/// A private temporary folder (mode 0700), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, CapError> {
        use std::os::unix::fs::DirBuilderExt;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd)
            .map_err(|e| CapError::execution(format!("no randomness for a temp folder: {e}")))?;
        let p = std::env::temp_dir().join(crate::fsutil::temp_name::exec_dir(&rnd));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .map_err(|e| {
                CapError::execution(format!(
                    "cannot create a temporary folder {}: {e}",
                    p.display()
                ))
            })?;
        Ok(TempDir(p.canonicalize().unwrap_or(p)))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One captured stream: the bytes kept, and whether more were dropped.
#[derive(Default)]
struct Capture {
    data: Vec<u8>,
    truncated: bool,
    done: bool,
}

/// Reads a pipe to its end on a thread, keeping at most `max` bytes and draining the rest
/// so the child never blocks on a full pipe.
fn capture(mut pipe: impl Read + Send + 'static, max: usize) -> Arc<Mutex<Capture>> {
    let cap = Arc::new(Mutex::new(Capture::default()));
    let shared = cap.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut c = shared.lock().unwrap_or_else(|p| p.into_inner());
            let room = max.saturating_sub(c.data.len());
            if n > room {
                c.truncated = true;
            }
            let keep = n.min(room);
            c.data.extend_from_slice(&buf[..keep]);
        }
        shared.lock().unwrap_or_else(|p| p.into_inner()).done = true;
    });
    cap
}

/// Waits until both captures are done or `grace` passes, then takes what they hold.
fn collect(caps: [&Arc<Mutex<Capture>>; 2], grace: Duration) -> [(Vec<u8>, bool); 2] {
    let until = Instant::now() + grace;
    loop {
        let done = caps
            .iter()
            .all(|c| c.lock().unwrap_or_else(|p| p.into_inner()).done);
        if done || Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    caps.map(|c| {
        let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
        // A stream still open (held by a process that left the group) counts as cut.
        let cut = c.truncated || !c.done;
        (std::mem::take(&mut c.data), cut)
    })
}

fn kill_group(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Refuses a program run the operator's policy does not allow, before the pipeline asks for
/// confirmation or takes before-images: a `command` off the allowlist, or any run while
/// airun's state folder lies inside the workspace (a program could change it).
pub fn precheck(
    policy: &ExecPolicy,
    ws: &Workspace,
    params: &serde_json::Value,
) -> Result<(), CapError> {
    if let Some(state) = ws.protected().state() {
        return Err(CapError::new(
            ErrorKind::DeniedPolicy,
            format!(
                "airun's state folder `{}` is inside the workspace, where a program could change it",
                state.display()
            ),
        )
        .with_hint("set AIRUN_HOME to a folder outside the workspace to run programs"));
    }
    if let Some(command) = params.get("command").and_then(|c| c.as_str()) {
        let program = find_allowed(policy, command)?;
        if let Ok(real) = program.path.canonicalize()
            && real.starts_with(ws.root())
        {
            return Err(CapError::new(
                ErrorKind::DeniedPolicy,
                format!(
                    "`{command}` resolves to `{}`, inside the workspace, where capabilities can change it",
                    real.display()
                ),
            )
            .with_field("command")
            .with_hint("the operator should remove workspace folders from PATH"));
        }
    }
    if policy.fallback == ExecFallback::Refuse
        && let Err(why) = super::bwrap::available()
    {
        return Err(no_bubblewrap(why));
    }
    Ok(())
}

/// The refusal where bubblewrap cannot run and the policy has no fallback.
fn no_bubblewrap(why: &str) -> CapError {
    CapError::new(
        ErrorKind::DeniedPolicy,
        format!("programs run only under bubblewrap, which cannot run here: {why}"),
    )
    .with_hint(
        "install bubblewrap (Debian and Ubuntu: `apt-get install bubblewrap`), or have the operator set `fallback = \"landlock_only\"` under `[exec]` in policy.toml to run programs under Landlock alone (weaker; `airun doctor` says what it leaves open)",
    )
}

/// How a program is confined, and what must live as long as it runs.
struct Confined {
    landlock: bool,
    bubblewrap: bool,
    /// The private temporary folder (Landlock-only mode; bubblewrap's /tmp is in memory).
    tmp: Option<TempDir>,
    /// The ruleset the child applies before exec (Landlock-only mode).
    ruleset: Option<OwnedFd>,
    /// Where the helper inside bubblewrap reports the signal that ended the program: the
    /// end airun reads, and the end the child gets as [`super::bwrap::STATUS_FD`].
    status: Option<(std::io::PipeReader, std::io::PipeWriter)>,
}

/// The command that runs `program` confined: under bubblewrap, or where it cannot run and
/// the policy allows, directly with a Landlock ruleset. Its environment is cleared down
/// to `TMPDIR`.
fn confined_command(
    ws: &Workspace,
    cwd: &crate::sandbox::Resolved,
    program: &AllowedProgram,
    args: &[String],
    policy: &ExecPolicy,
) -> Result<(Command, Confined), CapError> {
    match super::bwrap::available() {
        Ok(bwrap) => {
            let cwd_abs: PathBuf = ws
                .root()
                .components()
                .chain(cwd.rel().components())
                .filter(|c| *c != std::path::Component::CurDir)
                .collect();
            let plan = super::bwrap::Plan {
                ws: ws.root(),
                cwd: &cwd_abs,
                program: &program.path,
                argv0: &program.name,
                args,
                network: policy.network,
                read_paths: &policy.read_paths,
            };
            let (mut cmd, helper) = super::bwrap::command(bwrap, &plan)?;
            cmd.env_clear().env("TMPDIR", "/tmp");
            let status = if helper {
                Some(std::io::pipe().map_err(|e| {
                    CapError::execution(format!("cannot create a pipe for the program: {e}"))
                })?)
            } else {
                None
            };
            let confined = Confined {
                landlock: helper && landlock_abi().is_some(),
                bubblewrap: true,
                tmp: None,
                ruleset: None,
                status,
            };
            Ok((cmd, confined))
        }
        Err(why) if policy.fallback == ExecFallback::Refuse => Err(no_bubblewrap(why)),
        Err(_) => {
            let dir = TempDir::new()?;
            let ruleset = landlock_ruleset(&[ws.root(), &dir.0], policy.network)?;
            let mut cmd = Command::new(&program.path);
            cmd.arg0(&program.name)
                .args(args)
                .env_clear()
                .env("TMPDIR", &dir.0);
            let confined = Confined {
                landlock: ruleset.is_some(),
                bubblewrap: false,
                tmp: Some(dir),
                ruleset,
                status: None,
            };
            Ok((cmd, confined))
        }
    }
}

/// Exec power.
impl<P> Ctx<'_, P> {
    /// Runs an allowed program and waits for it (see the module docs for the confinement).
    /// A refused program is a denied-policy error; a program that runs and fails is an
    /// outcome with its exit code, not an error.
    pub fn run_program(&self, req: ExecRequest<'_>) -> Result<ExecOutcome, CapError>
    where
        P: Exec,
    {
        let ws = self.env.workspace;
        let policy = &self.env.settings.exec;
        precheck(policy, ws, &serde_json::json!({ "command": req.command }))?;
        let program = find_allowed(policy, req.command)?;
        let cwd = ws
            .resolve(req.cwd, Access::Write)
            .map_err(|e| e.with_field("cwd"))?;
        let cwd_dir = ws
            .dir()
            .open_dir(cwd.rel())
            .map_err(|e| super::fs::io_err(e, cwd.rel(), "opening the folder").with_field("cwd"))?;
        let cwd_fd: OwnedFd = cwd_dir.into_std_file().into();
        let (mut cmd, confined) = confined_command(ws, &cwd, &program, req.args, policy)?;
        let Confined {
            landlock,
            bubblewrap,
            tmp,
            ruleset,
            status,
        } = confined;
        let (status_r, status_w) = status.unzip();
        cmd.envs(
            policy
                .env_allow
                .iter()
                .filter(|k| k.as_str() != "TMPDIR")
                .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
        )
        .stdin(if req.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        let cwd_raw = cwd_fd.as_raw_fd();
        let ruleset_raw = ruleset.as_ref().map(|f| f.as_raw_fd());
        let status_raw = status_w.as_ref().map(|f| f.as_raw_fd());
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe system calls on descriptors the parent keeps open until
        // `spawn` returns; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || child_setup(cwd_raw, ruleset_raw, status_raw));
        }
        self.before_change()?;
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            CapError::execution(format!("could not start `{}`: {e}", program.path.display()))
                .with_field("command")
        })?;
        drop(ruleset);
        drop(cwd_fd);
        drop(status_w);
        let pid = child.id() as i32;
        let max = usize::try_from(policy.output_max).unwrap_or(usize::MAX);
        let out = capture(child.stdout.take().expect("stdout is piped"), max);
        let err = capture(child.stderr.take().expect("stderr is piped"), max);
        if let (Some(mut pipe), Some(data)) = (child.stdin.take(), req.stdin) {
            let data = data.to_vec();
            std::thread::spawn(move || {
                // The program may exit without reading: a broken pipe is not an error.
                let _ = pipe.write_all(&data);
            });
        }
        let limit = req
            .timeout
            .min(Duration::from_secs(policy.timeout_max))
            .min(self.env.deadline.saturating_duration_since(started));
        let deadline = started + limit;
        let mut timed_out = false;
        let mut cancelled = false;
        // Wait for the program to end without reaping it, so its process group cannot be
        // reused before it is killed.
        loop {
            let exited = wait_exited(pid);
            if exited {
                break;
            }
            if self.env.cancel.load(Ordering::Relaxed) {
                cancelled = true;
                kill_group(pid);
                break;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                kill_group(pid);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whatever the program left running in its group ends with it.
        kill_group(pid);
        let status = child
            .wait()
            .map_err(|e| CapError::execution(format!("could not wait for the program: {e}")))?;
        let duration = started.elapsed();
        drop(tmp);
        let [(stdout, cut_out), (stderr, cut_err)] = collect([&out, &err], Duration::from_secs(2));
        if cancelled {
            return Err(CapError::new(
                ErrorKind::Cancelled,
                "the call was cancelled; the program was killed",
            ));
        }
        let signal = status
            .signal()
            .or_else(|| status_r.and_then(reported_signal));
        let exit_code = match (status.code(), status.signal()) {
            (Some(c), _) => i64::from(c),
            (None, Some(s)) => 128 + i64::from(s),
            (None, None) => -1,
        };
        Ok(ExecOutcome {
            exit_code,
            signal,
            stdout,
            stderr,
            truncated: cut_out || cut_err,
            timed_out,
            duration,
            landlock,
            bubblewrap,
        })
    }
}

/// The signal the helper inside bubblewrap reported (`signal N`), if it wrote one. Every
/// writer is gone once bwrap has exited (the helper died with its namespace).
fn reported_signal(mut pipe: std::io::PipeReader) -> Option<i32> {
    let _ = rustix::io::ioctl_fionbio(&pipe, true);
    let mut text = String::new();
    pipe.by_ref().take(64).read_to_string(&mut text).ok()?;
    text.strip_prefix("signal ")?.trim().parse().ok()
}

/// True once the child `pid` has exited (it stays a zombie until `wait`).
fn wait_exited(pid: i32) -> bool {
    use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
    let Some(p) = Pid::from_raw(pid) else {
        return true;
    };
    match waitid(
        WaitId::Pid(p),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    ) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Runs in the child between fork and exec: die with the parent, enter the working
/// folder, hand the helper its status descriptor, and (Landlock-only mode) confine
/// writes with Landlock.
fn child_setup(cwd: i32, ruleset: Option<i32>, status: Option<i32>) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on integers and descriptors owned by the parent.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::fchdir(cwd) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(fd) = status {
            let to = super::bwrap::STATUS_FD;
            if libc::dup2(fd, to) < 0 || libc::fcntl(to, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(fd) = ruleset {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ruleset, status);
        // SAFETY: `cwd` is a descriptor the parent keeps open until spawn returns.
        rustix::process::fchdir(unsafe { std::os::fd::BorrowedFd::borrow_raw(cwd) })?;
    }
    Ok(())
}

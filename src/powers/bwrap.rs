//! Bubblewrap confinement of programs run by `sys.exec.run`.
//!
//! The program runs in new user (where possible), PID, IPC, UTS, cgroup and (unless
//! `exec.network`) network namespaces, with every capability dropped, in a new session,
//! and dies with airun. Its file system is built from nothing: the system folders
//! (`/usr`, `/bin`, `/sbin`, `/lib*`, `/etc`) and `exec.read_paths` read-only, a fresh
//! `/dev`, its own `/proc` (which shows only its own processes), a private `/tmp` and
//! `/run`, and the workspace writable, except every `.git` entry, every file with other
//! hard links and every folder airun may not list, which are re-bound read-only.
//! `$AIRUN_HOME` is not there (or hidden under an empty private folder when a read path
//! holds it). When the PID namespace's first process ends, the kernel kills everything
//! left in it, `setsid` or not.

use crate::error::{CapError, ErrorKind};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// System folders programs may read (when they exist).
pub const SYSTEM_READ: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// Files under the system folders that stay hidden: password hashes and sudo rules
/// (readable to a program run by root, which keeps file ownership).
const MASKED: [&str; 5] = [
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
];

/// Most files with other hard links re-bound read-only in one run; past it the run is
/// refused.
pub const MAX_HARD_LINKED: usize = 256;

/// Where the Landlock helper (airun itself) is bound inside the sandbox; airun starts
/// in helper mode when its `argv[0]` ends with this file name.
pub const HELPER_PATH: &str = "/run/airun/airun-exec-helper";

/// The descriptor on which the helper reports the signal that ended the program (bwrap
/// itself reports only an exit code, 128 + N for signal N).
pub const STATUS_FD: i32 = 63;

/// Where bwrap is looked for: `$AIRUN_BWRAP` (the operator's environment) or the usual
/// system locations.
fn locate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AIRUN_BWRAP").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "bubblewrap (`bwrap`) is not installed (looked in /usr/bin, /bin, /usr/local/bin)"
                .to_string()
        })
}

/// Runs a trivial program under the same namespaces real runs use.
fn probe(bwrap: &Path) -> Result<(), String> {
    let out = Command::new(bwrap)
        .args(["--unshare-user-try", "--unshare-ipc", "--unshare-pid"])
        .args(["--unshare-uts", "--unshare-cgroup-try", "--unshare-net"])
        .args(["--die-with-parent", "--new-session", "--cap-drop", "ALL"])
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--tmpfs", "/tmp", "--", "true"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("`{}` could not start: {e}", bwrap.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` cannot create a sandbox here ({}): {}",
            bwrap.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The bwrap that works on this machine, or why none does (checked once per process).
pub fn available() -> Result<&'static Path, &'static str> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(|| {
        let p = locate()?;
        probe(&p)?;
        Ok(p)
    }) {
        Ok(p) => Ok(p),
        Err(e) => Err(e),
    }
}

/// The helper airun binds into the sandbox to add Landlock after bwrap's mounts (a
/// process under Landlock cannot mount, so it cannot wrap bwrap). Set by the `airun`
/// binary to itself; library users may set another `airun` binary.
static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Names the `airun` binary that applies Landlock inside the sandbox. The first call wins.
pub fn set_helper(airun_binary: &Path) {
    let _ = HELPER.set(airun_binary.to_path_buf());
}

fn helper() -> Option<&'static Path> {
    HELPER.get().map(PathBuf::as_path).filter(|p| p.is_file())
}

/// What the walk of the workspace found.
#[derive(Debug, Default)]
struct Scan {
    /// `.git` entries (folders or files) at any depth, and folders `.git` links point to.
    git: Vec<PathBuf>,
    /// Regular files with more than one link.
    hard_linked: Vec<PathBuf>,
    /// Folders the walk was not allowed to list.
    unlisted: Vec<PathBuf>,
}

fn scan(root: &Path) -> Result<Scan, CapError> {
    let mut found = Scan::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // A folder the walk may not list could hold hard links it cannot see: the
            // program gets it read-only (so it cannot `chmod` its way in either).
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                found.unlisted.push(dir);
                continue;
            }
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if entry.file_name().eq_ignore_ascii_case(".git") {
                // A link, or a `gitdir: ` file, may name the real git folder elsewhere in
                // the workspace: that folder is protected too.
                let elsewhere = if meta.file_type().is_symlink() {
                    path.canonicalize().ok()
                } else if meta.is_file() {
                    gitdir_of(&path)
                } else {
                    None
                };
                if let Some(target) = elsewhere.filter(|t| t.starts_with(root) && t != root) {
                    found.git.push(target);
                }
                if !meta.file_type().is_symlink() {
                    found.git.push(path);
                }
                continue;
            }
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && meta.nlink() > 1 {
                found.hard_linked.push(path);
            }
        }
    }
    found.git.sort();
    found.git.dedup();
    found.hard_linked.sort();
    Ok(found)
}

/// The folder a `.git` file (`gitdir: PATH`, as linked worktrees and submodules have)
/// points to, canonical.
fn gitdir_of(dot_git: &Path) -> Option<PathBuf> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, and only a regular file: a FIFO put in its place cannot hang the call.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(dot_git)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut head = String::new();
    file.take(4096).read_to_string(&mut head).ok()?;
    let target = head.lines().next()?.strip_prefix("gitdir:")?.trim();
    dot_git.parent()?.join(target).canonicalize().ok()
}

/// One program run to confine.
pub(crate) struct Plan<'a> {
    /// The canonical workspace root.
    pub ws: &'a Path,
    /// The working folder (absolute, inside the workspace).
    pub cwd: &'a Path,
    /// The program's absolute path.
    pub program: &'a Path,
    /// `argv[0]` (kept only when the Landlock helper runs).
    pub argv0: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// `exec.network`.
    pub network: bool,
    /// `exec.read_paths`.
    pub read_paths: &'a [PathBuf],
}

/// The bwrap command for a plan, and whether Landlock is added inside.
pub(crate) fn command(bwrap: &Path, plan: &Plan<'_>) -> Result<(Command, bool), CapError> {
    let found = scan(plan.ws)?;
    if found.hard_linked.len() > MAX_HARD_LINKED {
        let shown: Vec<String> = found
            .hard_linked
            .iter()
            .take(5)
            .map(|p| rel(plan.ws, p))
            .collect();
        return Err(CapError::new(
            ErrorKind::DeniedPolicy,
            format!(
                "{} files in the workspace have other hard links (e.g. {}); programs may not write them, and more than {MAX_HARD_LINKED} cannot be made read-only for one run",
                found.hard_linked.len(),
                shown.join(", ")
            ),
        )
        .with_hint("replace the extra links with copies (e.g. `cp --remove-destination`), or keep hard-linked trees outside the workspace"));
    }
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
    push(&[
        "--unshare-user-try".as_ref(),
        "--unshare-ipc".as_ref(),
        "--unshare-pid".as_ref(),
        "--unshare-uts".as_ref(),
        "--unshare-cgroup-try".as_ref(),
    ]);
    if !plan.network {
        push(&["--unshare-net".as_ref()]);
    }
    push(&[
        "--die-with-parent".as_ref(),
        "--new-session".as_ref(),
        "--cap-drop".as_ref(),
        "ALL".as_ref(),
    ]);
    // Read paths under /tmp and /run go on top of the private /tmp and /run; the others
    // go first, so that /dev, /proc, /tmp, /run and the masked files cover whatever a
    // broad read path (`/`) holds.
    let in_tmp = |p: &&PathBuf| p.starts_with("/tmp") || p.starts_with("/run");
    for dir in SYSTEM_READ {
        push(&["--ro-bind-try".as_ref(), dir.as_ref(), dir.as_ref()]);
    }
    for p in plan.read_paths.iter().filter(|p| !in_tmp(p)) {
        push(&["--ro-bind-try".as_ref(), p.as_os_str(), p.as_os_str()]);
    }
    for file in MASKED {
        if Path::new(file).exists() {
            push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), file.as_ref()]);
        }
    }
    push(&[
        "--dev".as_ref(),
        "/dev".as_ref(),
        "--proc".as_ref(),
        "/proc".as_ref(),
        "--tmpfs".as_ref(),
        "/tmp".as_ref(),
        "--tmpfs".as_ref(),
        "/run".as_ref(),
    ]);
    if plan.network {
        // resolv.conf often links here.
        let resolve = "/run/systemd/resolve";
        push(&["--ro-bind-try".as_ref(), resolve.as_ref(), resolve.as_ref()]);
    }
    for p in plan.read_paths.iter().filter(in_tmp) {
        push(&["--ro-bind-try".as_ref(), p.as_os_str(), p.as_os_str()]);
    }
    let bound_above = |p: &Path| {
        SYSTEM_READ.iter().any(|s| p.starts_with(s))
            || plan.read_paths.iter().any(|r| p.starts_with(r))
    };
    // The program itself, when it lives outside the folders bound above (and the file
    // its path links to).
    let real = plan.program.canonicalize().ok();
    for p in [Some(plan.program), real.as_deref()].into_iter().flatten() {
        if !bound_above(p) {
            push(&["--ro-bind".as_ref(), p.as_os_str(), p.as_os_str()]);
        }
    }
    // airun's own home, when a read path holds it: hidden under an empty private folder.
    let home = crate::settings::airun_home();
    let home = home.canonicalize().unwrap_or(home);
    if home.is_dir() && bound_above(&home) {
        push(&["--tmpfs".as_ref(), home.as_os_str()]);
    }
    push(&["--bind".as_ref(), plan.ws.as_os_str(), plan.ws.as_os_str()]);
    for p in found
        .git
        .iter()
        .chain(&found.hard_linked)
        .chain(&found.unlisted)
    {
        push(&["--ro-bind".as_ref(), p.as_os_str(), p.as_os_str()]);
    }
    push(&["--chdir".as_ref(), plan.cwd.as_os_str()]);
    let helper = helper();
    if let Some(h) = helper {
        push(&["--ro-bind".as_ref(), h.as_os_str(), HELPER_PATH.as_ref()]);
    }
    push(&["--".as_ref()]);
    if helper.is_some() {
        let writable = [plan.ws.as_os_str(), OsStr::new("/tmp")];
        push(&[
            HELPER_PATH.as_ref(),
            if plan.network { "1" } else { "0" }.as_ref(),
            writable.len().to_string().as_ref(),
        ]);
        push(&writable);
        push(&[STATUS_FD.to_string().as_ref(), plan.argv0.as_ref()]);
    }
    push(&[plan.program.as_os_str()]);
    a.extend(plan.args.iter().map(OsString::from));
    let mut cmd = Command::new(bwrap);
    cmd.args(a);
    Ok((cmd, helper.is_some()))
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Helper mode, inside the sandbox:
/// `HELPER network(0|1) N writable×N status-fd argv0 program args…`. Confines this
/// process with Landlock (writes only beneath the writable paths, no TCP unless
/// `network`), runs the program, waits for it, writes `signal N` to the status
/// descriptor when a signal ended it, and exits with the program's status.
pub fn helper_main(args: &[OsString]) -> std::process::ExitCode {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let fail = |m: String| {
        eprintln!("airun exec helper: {m}");
        std::process::ExitCode::from(126)
    };
    let network = args.first().is_some_and(|n| n == "1");
    let number = |i: usize| args.get(i)?.to_str()?.parse::<usize>().ok();
    let Some(n) = number(1) else {
        return fail("bad arguments".into());
    };
    let writable: Vec<&Path> = args.iter().skip(2).take(n).map(Path::new).collect();
    let (Some(status_fd), Some(argv0), Some(program)) =
        (number(2 + n), args.get(3 + n), args.get(4 + n))
    else {
        return fail("bad arguments".into());
    };
    match super::exec::landlock_ruleset(&writable, network) {
        Ok(Some(fd)) => {
            if let Err(e) = restrict_self(&fd) {
                return fail(format!("Landlock refused: {e}"));
            }
        }
        Ok(None) => {}
        Err(e) => return fail(e.message),
    }
    // The status descriptor stays with the helper: the program does not inherit it.
    let status = i32::try_from(status_fd).ok().and_then(|fd| {
        // SAFETY: only looks at the descriptor number, which may not be open.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC).ok()?;
        // SAFETY: the descriptor is open, and was handed to this process for its own use.
        let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Some(std::fs::File::from(owned))
    });
    let run = Command::new(program)
        .arg0(argv0)
        .args(&args[5 + n..])
        .status();
    match run {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(code), _) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(255)),
            (None, Some(sig)) => {
                if let Some(mut f) = status {
                    use std::io::Write;
                    let _ = write!(f, "signal {sig}");
                }
                std::process::ExitCode::from(u8::try_from(128 + sig).unwrap_or(255))
            }
            (None, None) => std::process::ExitCode::from(255),
        },
        Err(err) => {
            eprintln!(
                "airun exec helper: cannot run {}: {err}",
                Path::new(program).display()
            );
            std::process::ExitCode::from(127)
        }
    }
}

/// Puts this process (one thread: airun's helper has started no other) under a Landlock
/// ruleset.
#[cfg(target_os = "linux")]
fn restrict_self(ruleset: &std::os::fd::OwnedFd) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system calls on integers and an owned descriptor.
    let r = unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            -1
        } else {
            libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32)
        }
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn restrict_self(_: &std::os::fd::OwnedFd) -> std::io::Result<()> {
    Ok(())
}

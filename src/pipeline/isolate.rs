//! Pure computations (capabilities whose only side effect is `read_only`: templates,
//! regular expressions, JSON) run in a forked child process, so that their time limit
//! and a memory bound hold whatever the input does: a template that doubles a list forty
//! times cannot be interrupted from inside the template engine, but its process can be
//! killed. The child gets an address-space limit ([`MEMORY_LIMIT`] above what the
//! process already maps), sends its result back as JSON through a pipe, and is killed
//! when the call's time limit passes; the caller gets a timeout error at once and its
//! worker is free again.

use crate::error::{CapError, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Memory a pure computation may allocate beyond what the process already maps.
pub const MEMORY_LIMIT: u64 = 512 << 20;

/// Most bytes of result a pure computation may send back.
const RESULT_LIMIT: usize = 64 << 20;

/// Runs `f` in a forked child and returns its result; a timeout error when `deadline`
/// passes first (the child is killed), an execution error when it runs out of memory.
#[cfg(target_os = "linux")]
pub fn run<F>(deadline: Instant, cancel: &AtomicBool, f: F) -> Result<serde_json::Value, CapError>
where
    F: FnOnce() -> Result<serde_json::Value, CapError>,
{
    let mapped = mapped_bytes();
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(CapError::execution(format!(
            "cannot start the computation: {}",
            std::io::Error::last_os_error()
        )));
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // SAFETY: the child only runs `f` (a pure computation on memory it owns: no locks of
    // other threads, no I/O but the pipe), then leaves with `_exit`. glibc's fork keeps
    // malloc usable in the child.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: closing the descriptors this function opened.
        unsafe {
            libc::close(read_fd);
            libc::close(write_fd);
        }
        return Err(CapError::execution(format!(
            "cannot start the computation: {e}"
        )));
    }
    if pid == 0 {
        child(read_fd, write_fd, mapped, f);
    }
    // SAFETY: the parent's copy of the write end is not used.
    unsafe { libc::close(write_fd) };
    let outcome = collect(read_fd, deadline, cancel);
    // SAFETY: closing the read end this function opened.
    unsafe { libc::close(read_fd) };
    let status = match outcome {
        Collected::Done(_) => reap(pid, false),
        Collected::TooLarge | Collected::Late | Collected::Cancelled => reap(pid, true),
    };
    match outcome {
        Collected::Cancelled => Err(CapError::new(
            ErrorKind::Cancelled,
            "the call was cancelled",
        )),
        Collected::Late => Err(CapError::new(
            ErrorKind::Timeout,
            "the call ran past its time limit and was stopped",
        )
        .with_hint("give it less work (a smaller input, fewer loops)")),
        Collected::TooLarge => Err(CapError::execution(format!(
            "the result is larger than {} MiB",
            RESULT_LIMIT >> 20
        ))
        .with_hint("give it less work (a smaller input, fewer loops)")),
        Collected::Done(bytes) => decode(&bytes).unwrap_or_else(|| {
            let why = if status.is_some_and(|s| libc::WIFSIGNALED(s)) {
                format!(
                    "it needed more than the {} MiB of memory a computation may use",
                    MEMORY_LIMIT >> 20
                )
            } else {
                "it stopped without a result".to_string()
            };
            Err(
                CapError::execution(format!("the computation failed: {why}"))
                    .with_hint("give it less work (a smaller input, fewer loops)"),
            )
        }),
    }
}

/// Without fork isolation (not Linux): runs `f` here.
#[cfg(not(target_os = "linux"))]
pub fn run<F>(_deadline: Instant, _cancel: &AtomicBool, f: F) -> Result<serde_json::Value, CapError>
where
    F: FnOnce() -> Result<serde_json::Value, CapError>,
{
    f()
}

/// The child's side: limit memory, run, send the result, leave.
#[cfg(target_os = "linux")]
fn child<F>(read_fd: i32, write_fd: i32, mapped: u64, f: F) -> !
where
    F: FnOnce() -> Result<serde_json::Value, CapError>,
{
    // SAFETY: plain system calls on this process's own descriptors and limits.
    let write_fd = unsafe {
        libc::close(read_fd);
        // An allocation failure aborts with a message: keep it off airun's stderr.
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null >= 0 {
            libc::dup2(null, 2);
        }
        // Keep only the result pipe (as descriptor 3): a copy of another descriptor (a
        // lock file, a pipe another call waits on) would outlive its closing.
        if write_fd != 3 {
            libc::dup2(write_fd, 3);
        }
        if libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) != 0 {
            for fd in 4..4096 {
                libc::close(fd);
            }
        }
        let limit = mapped.saturating_add(MEMORY_LIMIT);
        let rl = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        libc::setrlimit(libc::RLIMIT_AS, &rl);
        3
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let frame = match result {
        Ok(Ok(v)) => serde_json::json!({ "ok": v }),
        Ok(Err(e)) => serde_json::json!({ "err": e }),
        Err(_) => serde_json::json!({ "err": CapError::execution("the computation failed") }),
    };
    let bytes = serde_json::to_vec(&frame).unwrap_or_default();
    let mut sent = 0;
    while sent < bytes.len() {
        // SAFETY: writing from a live buffer to our pipe.
        let n = unsafe { libc::write(write_fd, bytes[sent..].as_ptr().cast(), bytes.len() - sent) };
        if n <= 0 {
            break;
        }
        sent += n as usize;
    }
    // SAFETY: leaving the child without running the parent's exit handlers.
    unsafe { libc::_exit(0) }
}

#[cfg(target_os = "linux")]
enum Collected {
    Done(Vec<u8>),
    TooLarge,
    Late,
    Cancelled,
}

/// Reads the child's result until end of file, the deadline or a cancellation.
#[cfg(target_os = "linux")]
fn collect(fd: i32, deadline: Instant, cancel: &AtomicBool) -> Collected {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Collected::Cancelled;
        }
        // Waits in short slices, so a cancellation is seen soon.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        if deadline <= Instant::now() {
            return Collected::Late;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: polling one descriptor we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Collected::Done(out);
        }
        if ready == 0 {
            continue;
        }
        // SAFETY: reading into a live buffer from a descriptor we own.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Collected::Done(out);
        }
        if n == 0 {
            return Collected::Done(out);
        }
        out.extend_from_slice(&buf[..n as usize]);
        if out.len() > RESULT_LIMIT {
            return Collected::TooLarge;
        }
    }
}

/// Waits for the child (killing it first when `kill`), returning its wait status.
#[cfg(target_os = "linux")]
fn reap(pid: i32, kill: bool) -> Option<i32> {
    // SAFETY: signalling and waiting for our own child.
    unsafe {
        if kill {
            libc::kill(pid, libc::SIGKILL);
        }
        let mut status = 0;
        loop {
            let r = libc::waitpid(pid, &mut status, 0);
            if r == pid {
                return Some(status);
            }
            if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return None;
            }
        }
    }
}

/// The result the child sent.
fn decode(bytes: &[u8]) -> Option<Result<serde_json::Value, CapError>> {
    let mut frame: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(v) = frame.get_mut("ok") {
        return Some(Ok(v.take()));
    }
    let e = frame.get("err")?;
    let kind = match e.get("kind")?.as_str()? {
        "invalid_input" => ErrorKind::InvalidInput,
        "denied_policy" => ErrorKind::DeniedPolicy,
        "denied_sandbox" => ErrorKind::DeniedSandbox,
        "declined" => ErrorKind::Declined,
        "not_found" => ErrorKind::NotFound,
        "already_exists" => ErrorKind::AlreadyExists,
        "timeout" => ErrorKind::Timeout,
        "cancelled" => ErrorKind::Cancelled,
        _ => ErrorKind::Execution,
    };
    let text = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Some(Err(CapError {
        kind,
        message: text("message").unwrap_or_default(),
        field: text("field"),
        hint: text("hint"),
    }))
}

/// Bytes of address space the process maps now (`/proc/self/statm`, first field).
#[cfg(target_os = "linux")]
fn mapped_bytes() -> u64 {
    let pages: u64 = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(page.max(4096) as u64)
}

//! Named crash points for the crash tests: at each one a test build can kill the process
//! (the `fail` crate's failpoints, set through `FAILPOINTS`); outside test builds they
//! compile to nothing.

/// Crashes the process at the named step when a test asks for it.
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            std::process::abort()
        })
    };
}
pub(crate) use crash_point;

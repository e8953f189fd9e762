//! The `airun` binary.

fn main() -> std::process::ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`airun list | head`) instead of failing on a broken pipe.
    #[cfg(target_os = "linux")]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Test builds can crash the process at named steps (FAILPOINTS=name=return); a
    // release build has no failpoints.
    let _failpoints = fail::FailScenario::setup();
    airun::cli::main()
}

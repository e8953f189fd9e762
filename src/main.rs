//! The `airun` binary.

fn main() -> std::process::ExitCode {
    // Inside the exec sandbox airun runs as the helper that adds Landlock and starts the
    // program.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        == std::path::Path::new(airun::powers::bwrap::HELPER_PATH).file_name()
    {
        return airun::powers::bwrap::helper_main(&args[1..]);
    }
    if let Ok(me) = std::env::current_exe() {
        airun::powers::bwrap::set_helper(&me);
    }
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

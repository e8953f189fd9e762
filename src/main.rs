//! The `airun` binary.

fn main() -> std::process::ExitCode {
    // Test builds can crash the process at named steps (FAILPOINTS=name=return); a
    // release build has no failpoints.
    let _failpoints = fail::FailScenario::setup();
    airun::cli::main()
}

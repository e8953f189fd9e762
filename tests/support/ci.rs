//! Tests that need something this machine may lack (a program, a kernel feature, a
//! privilege). Under CI (the `CI` environment variable set, as CI services do) a missing
//! need fails the test; elsewhere the test is skipped and says why, so a developer's
//! machine without it still runs the rest.

/// True when the tests run under CI.
pub fn on_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Whether a test needing `what` can go on: true when `available`. When it is not, fails
/// the test under CI and otherwise prints that the test is skipped and returns false
/// (the test then returns early).
///
/// ```ignore
/// if !support::ci::require("python3", python.is_file()) {
///     return;
/// }
/// ```
#[track_caller]
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        !on_ci(),
        "{what} is needed and missing here; under CI a test never skips \
         (install it, or unset CI to skip this test on a machine without it)"
    );
    eprintln!(
        "SKIPPED ({}): {what} is missing here (under CI this fails)",
        std::panic::Location::caller()
    );
    false
}

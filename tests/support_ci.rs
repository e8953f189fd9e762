//! The rule for tests that need something this machine may lack, checked on a real test
//! process: `support::ci::require` fails the test under CI and skips it (saying why)
//! elsewhere.

mod support;

use std::process::{Command, Output};

/// Set in the environment of the test process [`missing_need`] runs in.
const PROBE: &str = "AIRUN_CI_REQUIRE_PROBE";

/// A test that needs something missing. It only runs as a child of the test below; run
/// on its own (`--include-ignored`) it checks that an available need lets a test go on.
#[test]
#[ignore = "run as a child process by `a_missing_need_fails_under_ci_and_skips_elsewhere`"]
fn missing_need() {
    if std::env::var_os(PROBE).is_none() {
        assert!(support::ci::require("something available", true));
        return;
    }
    if !support::ci::require("a program this machine lacks", false) {
        return;
    }
    panic!("require said yes to something missing");
}

/// Runs [`missing_need`] in a child test process, with or without `CI` set.
fn run_missing_need(ci: bool) -> Output {
    let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
    cmd.args(["--ignored", "--exact", "missing_need", "--nocapture"])
        .env(PROBE, "1");
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    cmd.output().expect("run the test binary again")
}

#[test]
fn a_missing_need_fails_under_ci_and_skips_elsewhere() {
    let shown = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let under_ci = run_missing_need(true);
    let text = shown(&under_ci);
    assert!(!under_ci.status.success(), "passed under CI:\n{text}");
    assert!(
        text.contains("a program this machine lacks is needed and missing here"),
        "{text}"
    );
    assert!(text.contains("1 failed"), "{text}");

    let elsewhere = run_missing_need(false);
    let text = shown(&elsewhere);
    assert!(elsewhere.status.success(), "failed outside CI:\n{text}");
    assert!(
        text.contains("SKIPPED") && text.contains("a program this machine lacks is missing here"),
        "{text}"
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn an_available_need_lets_the_test_go_on() {
    assert!(support::ci::require("something available", true));
}

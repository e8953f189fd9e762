//! Runs this crate's binary: the capability defined by `specs/ext.demo.reverse.yaml`
//! appears in `list` and runs through `execute` with no edit anywhere else.

use serde_json::Value;
use std::process::{Command, Output};
use tempfile::TempDir;

/// Runs the binary with `args`, keeping its state folder and workspace in `dirs`.
fn airun(dirs: &Dirs, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airun-fixture-ext"))
        .args(args)
        .env("AIRUN_HOME", dirs.home.path())
        .env_remove("AIRUN_WORKSPACE")
        .output()
        .expect("the binary runs")
}

/// A private state folder and workspace for one test.
struct Dirs {
    home: TempDir,
    workspace: TempDir,
}

impl Dirs {
    fn new() -> Self {
        Dirs {
            home: tempfile::tempdir().expect("a temporary folder"),
            workspace: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn workspace(&self) -> &str {
        self.workspace
            .path()
            .to_str()
            .expect("a UTF-8 temporary path")
    }
}

/// Parses the stdout of a successful run as JSON.
fn json_stdout(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn list_shows_the_new_capability() {
    let dirs = Dirs::new();
    let list = json_stdout(&airun(
        &dirs,
        &["list", "--json", "--workspace", dirs.workspace()],
    ));
    let caps = list.as_array().expect("list --json prints an array");
    let ids: Vec<&str> = caps.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["ext.demo.reverse"],
        "only this crate's capability is in its set"
    );
    let cap = &caps[0];
    assert_eq!(cap["tool_name"], "ext_demo_reverse");
    assert_eq!(cap["title"], "Reverse text");
    assert_eq!(cap["side_effects"], serde_json::json!(["read_only"]));
}

#[test]
fn execute_runs_the_new_capability() {
    let dirs = Dirs::new();
    let out = json_stdout(&airun(
        &dirs,
        &[
            "execute",
            "ext.demo.reverse",
            "--params",
            r#"{"text":"abc"}"#,
            "--json",
            "--workspace",
            dirs.workspace(),
        ],
    ));
    assert_eq!(out["status"], "ok", "{out}");
    assert_eq!(out["capability"], "ext.demo.reverse");
    assert_eq!(out["result"]["reversed"], "cba");
}

#[test]
fn execute_checks_the_new_capability_inputs() {
    let dirs = Dirs::new();
    let out = airun(
        &dirs,
        &[
            "execute",
            "ext_demo_reverse",
            "--params",
            r#"{"txt":"abc"}"#,
            "--json",
            "--workspace",
            dirs.workspace(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "invalid input exits with 2");
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON error envelope");
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["kind"], "invalid_input");
    assert_eq!(v["error"]["field"], "txt");
}

//! The operator policy, through the real `airun` binary: a malformed or unknown key is a
//! startup error naming the key and line (exit 2); `policy show` is the file plus the
//! defaults; read-only and auto-approve take effect; no capability can reach the policy.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    ws: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let home = base.join("home");
        let ws = base.join("ws");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&ws).unwrap();
        Env {
            _tmp: tmp,
            home,
            ws,
        }
    }

    /// Writes `text` as the default policy file, `$AIRUN_HOME/policy.toml`.
    fn policy(&self, text: &str) -> PathBuf {
        let p = self.home.join("policy.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_airun"))
            .args(args)
            .env("AIRUN_HOME", &self.home)
            .env("AIRUN_WORKSPACE", &self.ws)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_malformed_policy_is_a_startup_error_naming_the_key_and_line() {
    let e = Env::new();
    let p = e.policy("read_only = false\n\n[exec]\nallow = [\"ls\"]\ntimeout_max = \"ten\"\n");
    let o = e.run(&["list"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let want = format!(
        "error: {}:5:15: `exec.timeout_max`: invalid type: string \"ten\", expected u64",
        p.display()
    );
    assert!(
        stderr(&o).starts_with(&want),
        "got: {}\nwant: {want}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("hint:"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "nothing runs with a bad policy");

    // Broken TOML syntax is reported the same way.
    e.policy("read_only = false\n[net\nallow_private = true\n");
    let o = e.run(&["doctor"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("policy.toml:2:"), "{}", stderr(&o));
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let e = Env::new();
    e.policy("[net]\nallow_hosts = [\"example.com\"]\nallow_privat = true\n");
    let o = e.run(&["list"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("policy.toml:3:1: `net.allow_privat`: unknown field `allow_privat`"),
        "{err}"
    );
    e.policy("readonly = true\n");
    let err = stderr(&e.run(&["list"]));
    assert!(
        err.contains("policy.toml:1:1: `readonly`: unknown field `readonly`"),
        "{err}"
    );
}

#[test]
fn a_bad_value_is_refused_with_its_line() {
    let e = Env::new();
    e.policy("allowed_side_effects = [\"filesystem_read\",\n  \"teleport\"]\n");
    let err = stderr(&e.run(&["list"]));
    assert!(
        err.contains("policy.toml:2:3: `allowed_side_effects`: unknown side effect `teleport`"),
        "{err}"
    );
    e.policy("[exec]\nallow = [\"no-such-program-airun-test\"]\n");
    let o = e.run(&["list"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "policy.toml:2:10: `exec.allow`: `no-such-program-airun-test` is not found on PATH"
        ),
        "{}",
        stderr(&o)
    );
    e.policy("[confirm]\nvia = [\"console\", \"pager\"]\n");
    let err = stderr(&e.run(&["list"]));
    assert!(
        err.contains("policy.toml:2:19: `confirm.via`: `pager` is not a way to ask"),
        "{err}"
    );
    e.policy("[confirm]\ntimeout_seconds = 0\n");
    let err = stderr(&e.run(&["list"]));
    assert!(err.contains("`confirm.timeout_seconds`"), "{err}");
    e.policy("[limits]\nconcurrent_calls = 0\n");
    let err = stderr(&e.run(&["list"]));
    assert!(
        err.contains("`limits.concurrent_calls`: must be at least 1 call"),
        "{err}"
    );
}

#[test]
fn policy_show_is_the_file_plus_the_defaults() {
    let e = Env::new();
    // No file: the built-in defaults.
    let o = e.run(&["policy", "show", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let defaults: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(defaults["read_only"], json!(false));
    assert_eq!(defaults["exec"]["allow"], json!([]));
    assert_eq!(defaults["net"]["allow_private"], json!(false));
    assert_eq!(defaults["undo"]["max_ops"], json!(1000));
    assert!(stdout(&e.run(&["policy", "show"])).contains("does not exist"));

    e.policy(
        "read_only = true\nauto_approve = [\"io.fs.*\"]\n[exec]\nallow = [\"ls\"]\ntimeout_max = 60\n[env]\nallow = [\"HOME\"]\n[undo]\nmax_ops = 5\n",
    );
    let o = e.run(&["policy", "show", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut want = defaults.clone();
    want["read_only"] = json!(true);
    want["auto_approve"] = json!(["io.fs.*"]);
    want["exec"]["allow"] = json!(["ls"]);
    want["exec"]["timeout_max"] = json!(60);
    want["env"]["allow"] = json!(["HOME"]);
    want["undo"]["max_ops"] = json!(5);
    assert_eq!(shown, want);

    // The TOML form is a policy file that gives the same policy back.
    let toml_shown = stdout(&e.run(&["policy", "show"]));
    assert!(toml_shown.contains("timeout_max = 60"), "{toml_shown}");
    let copy = e.home.join("copy.toml");
    std::fs::write(&copy, &toml_shown).unwrap();
    let again = e.run(&[
        "--policy",
        copy.to_str().unwrap(),
        "policy",
        "show",
        "--json",
    ]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        serde_json::from_slice::<Value>(&again.stdout).unwrap(),
        want
    );
}

#[test]
fn an_explicit_policy_file_must_exist() {
    let e = Env::new();
    let o = e.run(&["--policy", "/nonexistent/airun-policy.toml", "list"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot read the policy file /nonexistent/airun-policy.toml"),
        "{}",
        stderr(&o)
    );
}

fn listed_ids(o: &Output) -> Vec<String> {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn read_only_in_the_policy_hides_and_refuses_mutating_capabilities() {
    let e = Env::new();
    let all = listed_ids(&e.run(&["list", "--json"]));
    assert!(all.iter().any(|id| id == "io.fs.write_file"));
    e.policy("read_only = true\n");
    let shown = listed_ids(&e.run(&["list", "--json"]));
    assert!(shown.iter().any(|id| id == "io.fs.read_file"), "{shown:?}");
    for hidden in ["io.fs.write_file", "io.fs.delete", "sys.exec.run"] {
        assert!(
            !shown.iter().any(|id| id == hidden),
            "{hidden} is listed in read-only mode"
        );
    }
    refused_to_write_a(&e, &[]);
}

#[test]
fn the_read_only_flag_overrides_a_policy_that_allows_writes() {
    let e = Env::new();
    e.policy("read_only = false\n");
    refused_to_write_a(&e, &["--read-only"]);
}

/// `airun [before..] execute io.fs.write_file` exits 3 (denied by policy) and writes nothing.
fn refused_to_write_a(e: &Env, before: &[&str]) {
    let mut args = before.to_vec();
    args.extend([
        "execute",
        "io.fs.write_file",
        "--yes",
        "--params",
        r#"{"path":"a.txt","content":"x"}"#,
    ]);
    let o = e.run(&args);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!e.ws.join("a.txt").exists());
}

#[test]
fn allowed_side_effects_limit_what_is_listed_and_run() {
    let e = Env::new();
    e.policy("allowed_side_effects = [\"read_only\", \"filesystem_read\"]\n");
    let shown = listed_ids(&e.run(&["list", "--json"]));
    assert!(shown.iter().any(|id| id == "io.fs.read_file"));
    assert!(
        !shown.iter().any(|id| id == "sys.info.get_os"),
        "system_read is not allowed: {shown:?}"
    );
    let o = e.run(&["execute", "sys.info.get_os"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
}

#[test]
fn an_auto_approve_glob_approves_without_yes() {
    let e = Env::new();
    let params = r#"{"path":"a.txt","content":"approved"}"#;
    // Without the policy nobody can be asked: declined.
    let o = e.run(&["execute", "io.fs.write_file", "--params", params]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(!e.ws.join("a.txt").exists());
    e.policy("auto_approve = [\"io.fs.write_*\"]\n");
    let o = e.run(&["execute", "io.fs.write_file", "--params", params]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(e.ws.join("a.txt")).unwrap(),
        "approved"
    );
    // The glob does not reach other capabilities.
    let o = e.run(&["execute", "io.fs.delete", "--params", r#"{"path":"a.txt"}"#]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(e.ws.join("a.txt").exists());
}

#[test]
fn a_policy_file_inside_the_workspace_is_refused() {
    let e = Env::new();
    let inside = e.ws.join("policy.toml");
    std::fs::write(&inside, "read_only = false\n").unwrap();
    let o = e.run(&["--policy", inside.to_str().unwrap(), "list"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("inside the workspace"),
        "{}",
        stderr(&o)
    );
}

/// Policy tampering: with `$AIRUN_HOME` inside the workspace a capability could rewrite
/// the policy (`auto_approve = ["*"]`) or delete the audit log, so airun refuses to start,
/// whatever the spelling of the home: plain, not existing yet behind `sub/..`, through a
/// symlink, or relative to the current folder. Nothing is created or changed.
#[test]
fn policy_tampering_airun_home_inside_the_workspace_by_any_spelling_is_refused_at_start() {
    let e = Env::new();
    std::fs::create_dir_all(e.ws.join("sub")).unwrap();
    std::os::unix::fs::symlink(&e.ws, e.home.join("ws-link")).unwrap();
    std::fs::create_dir_all(e.ws.join("dot-airun")).unwrap();
    let spellings: Vec<(PathBuf, &str)> = vec![
        (e.ws.join("dot-airun"), "existing"),
        (e.ws.join("sub/../.airun"), "missing, with .."),
        (
            e.ws.join("sub/new/../../.airun2"),
            "missing parents, with ..",
        ),
        (e.home.join("ws-link/.airun3"), "through a symlink"),
        (PathBuf::from("ws/.airun4"), "relative"),
    ];
    let base = e.ws.parent().unwrap().to_path_buf();
    for (home, how) in spellings {
        let run = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_airun"))
                .args(args)
                .current_dir(&base)
                .env("AIRUN_HOME", &home)
                .env("AIRUN_WORKSPACE", &e.ws)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let o = run(&[
            "execute",
            "io.fs.write_file",
            "--params",
            r#"{"path":".airun/policy.toml","content":"auto_approve = [\"*\"]\n"}"#,
        ]);
        assert_eq!(code(&o), 2, "{how}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("inside the workspace") && stderr(&o).contains("AIRUN_HOME"),
            "{how}: {}",
            stderr(&o)
        );
        let o = run(&["list"]);
        assert_eq!(code(&o), 2, "{how}: {}", stderr(&o));
    }
    // `doctor` still runs there, and names the problem.
    let o = Command::new(env!("CARGO_BIN_EXE_airun"))
        .args(["doctor"])
        .env("AIRUN_HOME", e.ws.join("sub/../.airun"))
        .env("AIRUN_WORKSPACE", &e.ws)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("airun's home is inside the workspace (at `.airun`)"),
        "{}",
        stdout(&o)
    );
    // Nothing was created: no policy, no state folder.
    for name in [".airun", ".airun2", ".airun3", ".airun4", "sub/new"] {
        assert!(!e.ws.join(name).exists(), "{name} was created");
    }
    assert_eq!(
        std::fs::read_dir(e.ws.join("dot-airun")).unwrap().count(),
        0
    );
    // A home outside the workspace (next to it, sharing a name prefix) still starts.
    let o = Command::new(env!("CARGO_BIN_EXE_airun"))
        .args(["list"])
        .env("AIRUN_HOME", base.join("ws-home"))
        .env("AIRUN_WORKSPACE", &e.ws)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The README documents every key with its default: its example file is exactly the
/// defaults, and covers every key `policy show` prints.
#[test]
fn the_readme_documents_every_key_with_its_default() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Operator policy")
        .expect("an Operator policy section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let parsed = airun::policy::parse(block, std::path::Path::new("README.md")).unwrap();
    let defaults = airun::pipeline::Settings::default();
    assert_eq!(parsed, defaults);
    let shown: Value = serde_json::to_value(&defaults).unwrap();
    for (key, value) in shown.as_object().unwrap() {
        match value.as_object() {
            Some(table) => {
                assert!(block.contains(&format!("[{key}]")), "README lacks [{key}]");
                for k in table.keys() {
                    assert!(
                        block.contains(&format!("\n{k} = ")),
                        "README lacks {key}.{k}"
                    );
                }
            }
            None => assert!(block.contains(&format!("{key} = ")), "README lacks {key}"),
        }
    }
}

mod support;
use support::manifest_dir;

/// One rule says whether a call needs a person's yes: the spec's flag, params that change
/// nothing (a dry run), then the operator's `auto_approve` list.
#[test]
fn one_rule_decides_whether_a_call_is_confirmed() {
    use airun::pipeline::{Confirmation, needs_confirmation};
    let cap = |id: &str| {
        airun::stdlib::CATALOG
            .iter()
            .copied()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no {id} in the catalog"))
    };
    let (write, read) = (cap("io.fs.write_file"), cap("io.fs.read_file"));
    let defaults = airun::pipeline::Settings::default();
    let approving = airun::policy::parse(
        "auto_approve = [\"io.fs.*\"]\n",
        std::path::Path::new("p.toml"),
    )
    .unwrap();
    assert_eq!(
        needs_confirmation(&defaults, write, false),
        Confirmation::Ask
    );
    assert_eq!(
        needs_confirmation(&defaults, write, true),
        Confirmation::NotNeeded
    );
    assert_eq!(
        needs_confirmation(&approving, write, false),
        Confirmation::ByPolicy
    );
    assert_eq!(
        needs_confirmation(&approving, write, true),
        Confirmation::NotNeeded
    );
    assert_eq!(
        needs_confirmation(&defaults, read, false),
        Confirmation::NotNeeded
    );
}

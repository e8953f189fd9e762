//! `sys.exec.run` with real processes: the allowlist (no shell, no other paths), the
//! cleared environment, the time limit on the whole process group, output caps, Landlock,
//! and undo of everything a command did to the workspace.

use airun::kernel::{CallOptions, ExecPolicy, FlagConfirmer, Kernel, Settings, UndoRequest};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use airun::{CapError, ErrorKind};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::tree;

struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    ws: PathBuf,
    home: PathBuf,
    k: Kernel<Capabilities<Stdlib>>,
    tm: Arc<TimeMachine>,
}

fn env_with(exec: ExecPolicy) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let ws = base.join("ws");
    let home = base.join("home");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    seed(&ws);
    let workspace = Workspace::open(&ws, false, Some(&home)).unwrap();
    let tm = Arc::new(TimeMachine::open(&home, &workspace, Retention::default()).unwrap());
    let settings = Settings {
        exec,
        ..Settings::default()
    };
    let k = Kernel::new(airun::stdlib::capabilities(), workspace, settings)
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm.clone()));
    Env {
        _tmp: tmp,
        base,
        ws,
        home,
        k,
        tm,
    }
}

fn allowing(names: &[&str]) -> Env {
    env_with(ExecPolicy {
        allow: names.iter().map(|s| s.to_string()).collect(),
        ..ExecPolicy::default()
    })
}

fn seed(ws: &Path) {
    std::fs::create_dir_all(ws.join("src/deep")).unwrap();
    std::fs::write(ws.join("notes.txt"), "first line\n").unwrap();
    std::fs::write(ws.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(ws.join("src/deep/secret.key"), "k3y").unwrap();
    std::fs::set_permissions(
        ws.join("src/deep/secret.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("main.rs", ws.join("src/link.rs")).unwrap();
}

impl Env {
    fn call(&self, args: Value) -> Result<Value, CapError> {
        self.k
            .execute("sys.exec.run", args, &FlagConfirmer, CallOptions::default())
    }

    fn ok(&self, args: Value) -> Value {
        let shown = args.to_string();
        self.call(args)
            .unwrap_or_else(|e| panic!("sys.exec.run {shown} failed: {e:?}"))
    }

    fn refused(&self, args: Value) -> CapError {
        let shown = args.to_string();
        // The workspace and its surroundings, not airun's state (the audit log records the refusal).
        let files = || (tree(&self.ws), tree(&self.base.join("outside")));
        let before = files();
        let e = match self.call(args) {
            Ok(v) => panic!("{shown} should be refused, returned {v}"),
            Err(e) => e,
        };
        assert_eq!(e.kind, ErrorKind::DeniedPolicy, "{shown}: {e:?}");
        assert!(files() == before, "{shown}: a refused call changed files");
        e
    }

    fn undo(&self) {
        self.k
            .journal()
            .undo(
                self.k.workspace(),
                UndoRequest {
                    steps: 1,
                    to: None,
                    force: false,
                },
            )
            .unwrap();
    }
}

/// Where `name` is on this process's PATH.
fn which(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// True while `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

fn gone_within(pid: u32, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

#[test]
fn an_allowed_program_runs_with_its_arguments_and_exit_code() {
    let e = allowing(&["ls", "sh"]);
    let v = e.ok(json!({"command": "ls", "args": ["-1", "src"]}));
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "deep\nlink.rs\nmain.rs\n");
    assert_eq!(v["timed_out"], false);
    assert_eq!(v["truncated"], false);
    assert!(v["duration_ms"].as_i64().unwrap() >= 0);
    // Arguments are passed as is: no globbing or expansion.
    let v = e.ok(json!({"command": "ls", "args": ["*.txt", "$HOME"]}));
    assert_ne!(v["exit_code"], 0);
    assert!(v["stderr"].as_str().unwrap().contains("*.txt"), "{v}");
    // A failing program is a result, not an error.
    let v = e.ok(json!({"command": "sh", "args": ["-c", "echo oops >&2; exit 3"]}));
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["stderr"], "oops\n");
    // cwd is a workspace folder.
    let v = e.ok(json!({"command": "ls", "cwd": "src/deep"}));
    assert_eq!(v["stdout"], "secret.key\n");
}

#[test]
fn a_program_not_on_the_allowlist_is_refused() {
    let e = allowing(&["ls"]);
    let err = e.refused(json!({"command": "touch", "args": ["made.txt"]}));
    assert_eq!(err.field.as_deref(), Some("command"));
    assert!(
        err.message
            .contains("`touch` is not on the operator's list"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("allowed programs: ls"),
        "{err:?}"
    );
    // Nothing is allowed by default.
    let e = env_with(ExecPolicy::default());
    let err = e.refused(json!({"command": "ls"}));
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("allows no programs"),
        "{err:?}"
    );
}

#[test]
fn a_shell_is_refused_unless_allowed() {
    let e = allowing(&["ls", "echo"]);
    e.refused(json!({"command": "sh", "args": ["-c", "touch made.txt"]}));
    e.refused(json!({"command": "bash", "args": ["-c", "touch made.txt"]}));
    // A command line in `command` is one (unknown) program name, never parsed by a shell.
    e.refused(json!({"command": "ls; touch made.txt"}));
    e.refused(json!({"command": "sh -c 'touch made.txt'"}));
    assert!(!e.ws.join("made.txt").exists());
}

#[test]
fn an_allowed_name_at_another_path_is_refused() {
    let e = allowing(&["ls"]);
    // A copy of the real ls, outside and inside the workspace.
    let copy_out = e.base.join("outside/ls");
    std::fs::copy(which("ls"), &copy_out).unwrap();
    let err = e.refused(json!({"command": copy_out.to_str().unwrap()}));
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("pass `command: \"ls\"`"),
        "{err:?}"
    );
    std::fs::copy(which("ls"), e.ws.join("ls")).unwrap();
    e.refused(json!({"command": "./ls"}));
    e.refused(json!({"command": e.ws.join("ls").to_str().unwrap()}));
    // The exact path the allowed name resolves to is the same program.
    let v = e.ok(json!({"command": which("ls").to_str().unwrap(), "args": ["-d", "src"]}));
    assert_eq!(v["stdout"], "src\n");
}

#[test]
fn the_working_folder_goes_through_the_sandbox() {
    let e = allowing(&["ls"]);
    let err = e.call(json!({"command": "ls", "cwd": ".."})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeniedSandbox, "{err:?}");
    std::os::unix::fs::symlink(e.base.join("outside"), e.ws.join("out")).unwrap();
    let err = e.call(json!({"command": "ls", "cwd": "out"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeniedSandbox, "{err:?}");
    let err = e
        .call(json!({"command": "ls", "cwd": "missing"}))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
}

/// The server's own environment (here: the `airun` process, given a secret) is not passed
/// to the child; only `exec.env_allow` and a private TMPDIR are.
#[test]
fn a_secret_in_the_servers_environment_is_not_visible_to_the_child() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (home, ws) = (base.join("home"), base.join("ws"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        home.join("policy.toml"),
        "[exec]\nallow = [\"env\"]\nenv_allow = [\"PATH\", \"AIRUN_TEST_SHARED\"]\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_airun"))
        .args([
            "execute",
            "sys.exec.run",
            "--yes",
            "--json",
            "--params",
            r#"{"command":"env"}"#,
        ])
        .env("AIRUN_HOME", &home)
        .env("AIRUN_WORKSPACE", &ws)
        .env("AIRUN_TEST_SECRET_TOKEN", "hunter2-s3cr3t")
        .env("AIRUN_TEST_SHARED", "visible-value")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let out = v["result"]["stdout"].as_str().unwrap();
    assert!(!out.contains("hunter2-s3cr3t"), "the secret leaked: {out}");
    assert!(!out.contains("AIRUN_HOME"), "{out}");
    assert!(!out.contains("HOME="), "{out}");
    assert!(out.contains("AIRUN_TEST_SHARED=visible-value\n"), "{out}");
    assert!(out.contains("PATH="), "{out}");
    assert!(out.contains("TMPDIR=/"), "{out}");
    let names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    assert_eq!(
        names.len(),
        3,
        "only PATH, AIRUN_TEST_SHARED and TMPDIR: {out}"
    );
}

#[test]
fn a_refused_program_exits_3_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (home, ws) = (base.join("home"), base.join("ws"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(home.join("policy.toml"), "[exec]\nallow = [\"ls\"]\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_airun"))
        .args([
            "execute",
            "sys.exec.run",
            "--yes",
            "--params",
            r#"{"command":"sh","args":["-c","touch x"]}"#,
        ])
        .env("AIRUN_HOME", &home)
        .env("AIRUN_WORKSPACE", &ws)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("`sh` is not on the operator's list"));
    assert!(!ws.join("x").exists());
}

#[test]
fn the_timeout_kills_the_whole_process_group() {
    let e = allowing(&["sh"]);
    let started = Instant::now();
    let v = e.ok(json!({
        "command": "sh",
        "args": ["-c", "sleep 30 & echo $!; sleep 30"],
        "timeout_seconds": 1
    }));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the call took {:?}",
        started.elapsed()
    );
    assert_eq!(v["timed_out"], true, "{v}");
    assert_eq!(v["signal"], 9, "{v}");
    assert_eq!(v["exit_code"], 137, "{v}");
    let grandchild: u32 = v["stdout"].as_str().unwrap().trim().parse().unwrap();
    assert!(
        gone_within(grandchild, 5),
        "the grandchild {grandchild} survived the timeout"
    );
}

#[test]
fn the_policy_caps_the_time_limit() {
    let e = env_with(ExecPolicy {
        allow: vec!["sleep".into()],
        timeout_max: 1,
        ..ExecPolicy::default()
    });
    let started = Instant::now();
    let v = e.ok(json!({"command": "sleep", "args": ["20"], "timeout_seconds": 600}));
    assert_eq!(v["timed_out"], true);
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn background_processes_do_not_outlive_the_program() {
    let e = allowing(&["sh"]);
    let started = Instant::now();
    // The background sleep holds stdout open; the call must not wait for it.
    let v =
        e.ok(json!({"command": "sh", "args": ["-c", "sleep 30 & echo $!"], "timeout_seconds": 20}));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited {:?} for a background process",
        started.elapsed()
    );
    assert_eq!(v["timed_out"], false);
    assert_eq!(v["exit_code"], 0);
    let pid: u32 = v["stdout"].as_str().unwrap().trim().parse().unwrap();
    assert!(gone_within(pid, 5), "the background process {pid} survived");
}

#[test]
fn output_is_capped_and_the_program_is_drained_to_its_end() {
    let e = env_with(ExecPolicy {
        allow: vec!["seq".into(), "sh".into()],
        output_max: 1000,
        ..ExecPolicy::default()
    });
    // ~1.3 MB: far more than a pipe holds, so seq finishes only if the rest is drained.
    let v = e.ok(json!({"command": "seq", "args": ["1", "200000"], "timeout_seconds": 20}));
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["timed_out"], false);
    assert_eq!(v["truncated"], true);
    let out = v["stdout"].as_str().unwrap();
    assert_eq!(out.len(), 1000);
    assert!(out.starts_with("1\n2\n3\n"));
    let v = e.ok(json!({"command": "sh", "args": ["-c", "seq 1 100000 >&2; echo done"]}));
    assert_eq!(v["truncated"], true);
    assert_eq!(v["stdout"], "done\n");
    assert_eq!(v["stderr"].as_str().unwrap().len(), 1000);
    let v = e.ok(json!({"command": "seq", "args": ["1", "3"]}));
    assert_eq!(v["truncated"], false);
}

#[test]
fn stdin_is_given_or_empty() {
    let e = allowing(&["cat"]);
    let v = e.ok(json!({"command": "cat", "stdin": "hello\nworld\n"}));
    assert_eq!(v["stdout"], "hello\nworld\n");
    let started = Instant::now();
    let v = e.ok(json!({"command": "cat", "timeout_seconds": 20}));
    assert_eq!(v["stdout"], "");
    assert_eq!(v["timed_out"], false, "cat waited on an open stdin");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn undo_reverts_every_file_a_command_created_changed_or_deleted() {
    let e = allowing(&["sh"]);
    let before = tree(&e.ws);
    let script = "echo new > created.txt; mkdir -p made/sub; echo deep > made/sub/f.txt; \
                  echo more >> notes.txt; chmod 640 notes.txt; rm src/main.rs; rm -r src/deep; \
                  ln -sf notes.txt src/link.rs";
    let v = e.ok(json!({"command": "sh", "args": ["-c", script]}));
    assert_eq!(v["exit_code"], 0, "{v}");
    let after = tree(&e.ws);
    assert_ne!(after, before);
    assert!(after.contains_key("made/sub/f.txt") && !after.contains_key("src/main.rs"));
    e.undo();
    assert_eq!(tree(&e.ws), before, "undo restores the tree exactly");
    assert!(e.ws.is_dir(), "the workspace root itself stays");
    // And redo puts the command's changes back.
    e.k.journal().redo(e.k.workspace(), 1).unwrap();
    assert_eq!(tree(&e.ws), after);
    let h = e.k.journal().history(1).unwrap();
    assert!(
        h[0].summary.starts_with("run sh -c echo new"),
        "{:?}",
        h[0].summary
    );
}

#[test]
fn undo_of_a_command_in_a_subfolder_restores_that_folder() {
    let e = allowing(&["sh"]);
    let before = tree(&e.ws);
    e.ok(json!({"command": "sh", "args": ["-c", "rm -r deep; echo x > new.rs"], "cwd": "src"}));
    assert!(!e.ws.join("src/deep").exists());
    e.undo();
    assert_eq!(tree(&e.ws), before);
}

#[test]
fn undo_refuses_to_clobber_a_later_edit() {
    let e = allowing(&["sh"]);
    e.ok(json!({"command": "sh", "args": ["-c", "echo one > a.txt"]}));
    std::fs::write(e.ws.join("a.txt"), "edited by hand\n").unwrap();
    let err =
        e.k.journal()
            .undo(
                e.k.workspace(),
                UndoRequest {
                    steps: 1,
                    to: None,
                    force: false,
                },
            )
            .unwrap_err();
    assert!(err.message.contains("a.txt"), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(e.ws.join("a.txt")).unwrap(),
        "edited by hand\n"
    );
}

#[test]
fn snapshots_do_not_reread_unchanged_files() {
    let e = allowing(&["sh"]);
    for i in 0..20 {
        std::fs::write(e.ws.join(format!("file{i}.txt")), format!("content {i}\n")).unwrap();
    }
    let files = tree(&e.ws).values().filter(|(k, _, _)| k == "file").count() as u64;
    // Files changed in the last two seconds are always read (their times could still hide
    // a change in the same tick).
    std::thread::sleep(Duration::from_millis(2100));
    let s0 = e.tm.snapshot_stats();
    e.ok(json!({"command": "sh", "args": ["-c", "true"]}));
    let s1 = e.tm.snapshot_stats();
    assert_eq!(
        s1.files_read - s0.files_read,
        files,
        "the first snapshot reads every file once"
    );
    assert_eq!(
        s1.files_cached - s0.files_cached,
        files,
        "the after-image reuses the before-image's hashes"
    );
    e.ok(json!({"command": "sh", "args": ["-c", "echo changed > file3.txt"]}));
    let s2 = e.tm.snapshot_stats();
    assert_eq!(
        s2.files_read - s1.files_read,
        1,
        "only the changed file is read again"
    );
    assert_eq!(s2.files_cached - s1.files_cached, 2 * files - 1);
    // The cache never hides a change: undo restores the old content.
    e.undo();
    assert_eq!(
        std::fs::read_to_string(e.ws.join("file3.txt")).unwrap(),
        "content 3\n"
    );
}

#[test]
fn landlock_confines_writes_to_the_workspace_and_a_private_temp_folder() {
    let Some(abi) = airun::powers::exec::landlock_abi() else {
        eprintln!(
            "SKIPPED: this kernel has no Landlock, so writes outside the workspace cannot be confined"
        );
        return;
    };
    assert!(abi >= 1);
    let e = allowing(&["sh"]);
    let outside = e.base.join("outside/escape.txt");
    let v = e.ok(json!({
        "command": "sh",
        "args": ["-c", format!("echo x > {}", outside.display())]
    }));
    assert_ne!(v["exit_code"], 0, "{v}");
    assert!(
        v["stderr"].as_str().unwrap().contains("ermission denied"),
        "{v}"
    );
    assert!(!outside.exists(), "the program wrote outside the workspace");
    // airun's own state (outside the workspace) is out of reach too.
    let db = e.tm.dir().join("airun.db");
    let v = e.ok(json!({"command": "sh", "args": ["-c", format!("echo x >> {}", db.display())]}));
    assert_ne!(v["exit_code"], 0, "{v}");
    // Inside the workspace and in TMPDIR it can write; reading the system still works.
    let v = e.ok(json!({
        "command": "sh",
        "args": ["-c", "echo in > inside.txt && echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\" && cat /etc/hostname >/dev/null && echo ok"]
    }));
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["stdout"], "t\nok\n");
    assert!(e.ws.join("inside.txt").exists());
    let _ = &e.home;
}

/// Programs get no TCP unless the operator's `exec.network` allows it: a loopback
/// listener counts the connections that reached it.
#[test]
fn programs_reach_the_network_only_when_the_policy_allows_it() {
    let Some(abi) = airun::powers::exec::landlock_abi().filter(|abi| *abi >= 4) else {
        eprintln!("SKIPPED: this kernel's Landlock (ABI < 4) cannot confine TCP");
        return;
    };
    assert!(abi >= 4);
    // bash opens TCP connections itself through `/dev/tcp`.
    which("bash");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = || {
        let mut n = 0;
        while listener.accept().is_ok() {
            n += 1;
        }
        n
    };
    let connect = json!({
        "command": "bash",
        "args": ["-c", format!("echo hello > /dev/tcp/127.0.0.1/{port} && echo sent")]
    });

    let denied = allowing(&["bash"]);
    let v = denied.ok(connect.clone());
    assert_ne!(v["exit_code"], 0, "{v}");
    assert!(
        v["stderr"].as_str().unwrap().contains("ermission denied"),
        "{v}"
    );
    assert_eq!(accepted(), 0, "the program reached the listener");

    let allowed = env_with(ExecPolicy {
        allow: vec!["bash".into()],
        network: true,
        ..ExecPolicy::default()
    });
    let v = allowed.ok(connect);
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["stdout"], "sent\n");
    assert_eq!(accepted(), 1, "the allowed connection did not arrive");
}

#[test]
fn doctor_reports_the_landlock_status() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_airun"))
        .args(["doctor", "--json"])
        .env("AIRUN_HOME", tmp.path().join("home"))
        .env("AIRUN_WORKSPACE", tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let abi = airun::powers::exec::landlock_abi();
    assert_eq!(v["landlock"]["enforced"], json!(abi.is_some()), "{v}");
    assert_eq!(v["landlock"]["abi"], json!(abi), "{v}");
    assert_eq!(
        v["landlock"]["tcp_confined"],
        json!(abi.is_some_and(|a| a >= 4)),
        "{v}"
    );
    let text = Command::new(env!("CARGO_BIN_EXE_airun"))
        .arg("doctor")
        .env("AIRUN_HOME", tmp.path().join("home"))
        .env("AIRUN_WORKSPACE", tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    let want = match abi {
        Some(n) => format!("exec sandbox: Landlock ABI {n} enforced"),
        None => "exec sandbox: Landlock not available".to_string(),
    };
    assert!(text.contains(&want), "{text}");
}

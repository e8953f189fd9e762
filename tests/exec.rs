//! `sys.exec.run` with real processes: the allowlist (no shell, no other paths), the
//! cleared environment, the time limit on the whole process group, output caps, the
//! bubblewrap confinement (each escape that worked under Landlock alone, refused), and
//! undo of everything a command did to the workspace.

use airun::pipeline::{
    CallOptions, ExecFallback, ExecPolicy, FlagConfirmer, Pipeline, Settings, UndoRequest,
};
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

mod support;
use support::snapshot::tree;

struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    ws: PathBuf,
    home: PathBuf,
    k: Pipeline<Capabilities<Stdlib>>,
    tm: Arc<TimeMachine>,
}

/// True when bubblewrap runs here. Outside CI a missing bubblewrap lets the general
/// tests run under the Landlock-only fallback (and the confinement tests skip); in CI it
/// fails the test.
fn bubblewrap() -> bool {
    match airun::powers::bwrap::available() {
        Ok(_) => true,
        Err(why) => support::ci::require(&format!("bubblewrap confinement ({why})"), false),
    }
}

fn env_with(mut exec: ExecPolicy) -> Env {
    airun::powers::bwrap::set_helper(Path::new(env!("CARGO_BIN_EXE_airun")));
    if !bubblewrap() {
        exec.fallback = ExecFallback::LandlockOnly;
    }
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
    let k = Pipeline::new(airun::stdlib::capabilities(), workspace, settings)
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
                    session: None,
                    principal: None,
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

/// Live processes on this machine with `arg` among their arguments (programs run in
/// their own PID namespace, so their own view of PIDs means nothing here).
fn processes_with(arg: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// True once no live process has `arg` among its arguments, within `secs`.
fn none_left_within(arg: &str, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if processes_with(arg).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    processes_with(arg).is_empty()
}

#[test]
fn an_allowed_program_runs_with_its_arguments_and_exit_code() {
    let e = allowing(&["ls", "sh"]);
    let v = e.ok(json!({"command": "ls", "args": ["-1", "src"]}));
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "deep\nlink.rs\nmain.rs\n");
    assert_eq!(v["timed_out"], false);
    assert_eq!(v["truncated"], false);
    assert!(v["duration_ms"].is_u64(), "{v}");
    // The duration is measured: a program that sleeps 300 ms took at least that long.
    let v = e.ok(json!({"command": "sh", "args": ["-c", "sleep 0.3"]}));
    assert_eq!(v["exit_code"], 0, "{v}");
    let ms = v["duration_ms"].as_u64().expect("duration_ms");
    assert!(ms >= 300, "a 300 ms sleep reported as {ms} ms: {v}");
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
    if !bubblewrap() {
        return;
    }
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
    // bubblewrap sets PWD to the working folder.
    assert!(out.contains(&format!("PWD={}\n", ws.display())), "{out}");
    let names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    assert_eq!(
        names.len(),
        4,
        "only PATH, AIRUN_TEST_SHARED, TMPDIR and PWD: {out}"
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
        "args": ["-c", "sleep 30.101 & sleep 30"],
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
    assert!(
        none_left_within("30.101", 5),
        "the grandchild survived the timeout"
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
    let v = e.ok(
        json!({"command": "sh", "args": ["-c", "sleep 30.102 & echo started"], "timeout_seconds": 20}),
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited {:?} for a background process",
        started.elapsed()
    );
    assert_eq!(v["timed_out"], false);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "started\n");
    assert!(
        none_left_within("30.102", 5),
        "the background process survived"
    );
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
    assert!(
        after.contains_key(Path::new("made/sub/f.txt"))
            && !after.contains_key(Path::new("src/main.rs"))
    );
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
                    session: None,
                    principal: None,
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
    let files = tree(&e.ws).files() as u64;
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
fn writes_are_confined_to_the_workspace_and_a_private_temp_folder() {
    let e = allowing(&["sh"]);
    let confined = e.k.settings().exec.fallback != ExecFallback::LandlockOnly
        || airun::powers::exec::landlock_abi().is_some();
    if !support::ci::require("bubblewrap or Landlock (to confine writes)", confined) {
        return;
    }
    let outside = e.base.join("outside/escape.txt");
    let v = e.ok(json!({
        "command": "sh",
        "args": ["-c", format!("echo x > {}", outside.display())]
    }));
    assert_ne!(v["exit_code"], 0, "{v}");
    assert!(!outside.exists(), "the program wrote outside the workspace");
    // airun's own state (outside the workspace) is out of reach too: neither its database
    // nor a file beside it (which airun itself never writes, so any change is the program's).
    let db = e.tm.dir().join("airun.db");
    let beside = e.tm.dir().join("probe.txt");
    std::fs::write(&beside, "untouched\n").unwrap();
    for target in [&db, &beside] {
        let v = e.ok(
            json!({"command": "sh", "args": ["-c", format!("echo x >> {}", target.display())]}),
        );
        assert_ne!(v["exit_code"], 0, "{}: {v}", target.display());
    }
    assert_eq!(std::fs::read_to_string(&beside).unwrap(), "untouched\n");
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
    let confined = bubblewrap() || airun::powers::exec::landlock_abi().is_some_and(|abi| abi >= 4);
    if !support::ci::require("bubblewrap or Landlock ABI 4 (to confine TCP)", confined) {
        return;
    }
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

/// `airun` on the command line with `AIRUN_HOME` and `AIRUN_WORKSPACE` set.
fn airun(home: &Path, ws: &Path, envs: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airun"))
        .args(args)
        .env("AIRUN_HOME", home)
        .env("AIRUN_WORKSPACE", ws)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn doctor_reports_the_exec_confinement() {
    if !bubblewrap() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let o = airun(&home, tmp.path(), &[], &["doctor", "--json"]);
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
    assert_eq!(v["bubblewrap"]["available"], true, "{v}");
    assert_eq!(v["bubblewrap"]["fallback"], "refuse", "{v}");
    let o = airun(&home, tmp.path(), &[], &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("exec sandbox: bubblewrap ("), "{text}");
    assert!(text.contains("no network"), "{text}");
    let want = match abi {
        Some(n) => format!("Landlock ABI {n} inside"),
        None => "no Landlock inside".to_string(),
    };
    assert!(text.contains(&want), "{text}");
}

/// Where bubblewrap cannot run, programs are refused (exit 3, saying why and what to do),
/// unless the operator chose `exec.fallback = "landlock_only"`; `doctor` says which holds.
#[test]
fn without_bubblewrap_programs_are_refused_unless_the_policy_falls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (home, ws) = (base.join("home"), base.join("ws"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&ws).unwrap();
    let missing = [("AIRUN_BWRAP", "/nonexistent/bwrap")];
    std::fs::write(home.join("policy.toml"), "[exec]\nallow = [\"touch\"]\n").unwrap();
    let run = ["execute", "sys.exec.run", "--yes", "--json", "--params"];
    let touch = r#"{"command":"touch","args":["made.txt"]}"#;
    let o = airun(&home, &ws, &missing, &[&run[..], &[touch]].concat());
    let err = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("programs run only under bubblewrap, which cannot run here"),
        "{err}"
    );
    assert!(err.contains("apt-get install bubblewrap"), "{err}");
    assert!(err.contains("landlock_only"), "{err}");
    assert!(!ws.join("made.txt").exists());
    let doctor = airun(&home, &ws, &missing, &["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("sys.exec.run refuses every program"),
        "{text}"
    );

    std::fs::write(
        home.join("policy.toml"),
        "[exec]\nallow = [\"touch\"]\nfallback = \"landlock_only\"\n",
    )
    .unwrap();
    let o = airun(&home, &ws, &missing, &[&run[..], &[touch]].concat());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(ws.join("made.txt").exists());
    let doctor = airun(&home, &ws, &missing, &["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("exec.fallback = \"landlock_only\""), "{text}");
    assert!(text.contains("not confined: file metadata"), "{text}");
}

#[test]
fn bad_exec_sandbox_keys_stop_airun_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    for (file, want) in [
        (
            "[exec]\nfallback = \"none\"\n",
            "policy.toml:2:12: `exec.fallback`: `none` is not a fallback; use `refuse` (the default) or `landlock_only`",
        ),
        (
            "[exec]\nread_paths = [\"opt/sdk\"]\n",
            "policy.toml:2:15: `exec.read_paths`: `opt/sdk` is not an absolute path",
        ),
        (
            "[exec]\nread_paths = [\"/proc/1\"]\n",
            "policy.toml:2:15: `exec.read_paths`: `/proc/1` is in /proc, /dev or /sys",
        ),
    ] {
        std::fs::write(home.join("policy.toml"), file).unwrap();
        let o = airun(&home, tmp.path(), &[], &["policy", "show"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
    }
    std::fs::write(
        home.join("policy.toml"),
        "[exec]\nread_paths = [\"/opt/sdk\"]\nfallback = \"landlock_only\"\n",
    )
    .unwrap();
    let o = airun(&home, tmp.path(), &[], &["policy", "show"]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("read_paths = [\"/opt/sdk\"]"), "{shown}");
    assert!(shown.contains("fallback = \"landlock_only\""), "{shown}");
}

/// The mode and modification time of a path.
fn stamp(p: &Path) -> (u32, std::time::SystemTime) {
    let m = std::fs::metadata(p).unwrap();
    (m.permissions().mode(), m.modified().unwrap())
}

/// Sets a path's modification time to a fixed moment in 2001.
fn age(p: &Path) {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::open(p).unwrap().set_modified(t).unwrap();
}

/// Attack: `chmod 777 /outside/file` and `touch` on outside files, on
/// `$AIRUN_HOME/policy.toml` and on the workspace's parent changed their mode and mtime.
#[test]
fn exec_metadata_changes_outside_the_workspace_are_refused() {
    if !bubblewrap() {
        return;
    }
    let mut e = env_with(ExecPolicy {
        allow: vec!["chmod".into(), "touch".into(), "sh".into()],
        ..ExecPolicy::default()
    });
    // The outside folder is readable to programs here, so its files are there to attack.
    let outside = e.base.join("outside");
    let file = outside.join("file.txt");
    std::fs::write(&file, "outside\n").unwrap();
    let policy = e.home.join("policy.toml");
    std::fs::write(&policy, "[exec]\n").unwrap();
    let mut settings = e.k.settings().clone();
    settings.exec.read_paths = vec![outside.clone()];
    e.k = rebuild(&e, settings);
    let targets = [
        file.clone(),
        outside.clone(),
        policy.clone(),
        e.base.clone(),
    ];
    for t in &targets {
        age(t);
    }
    let before: Vec<_> = targets.iter().map(|t| stamp(t)).collect();
    for t in &targets {
        let shown = t.to_str().unwrap();
        let v = e.ok(json!({"command": "chmod", "args": ["777", t]}));
        // The workspace's parent exists in the sandbox only as an empty private folder,
        // which the program may change; every other target is read-only or absent there.
        if t != &e.base {
            assert_ne!(v["exit_code"], 0, "chmod {shown}: {v}");
        }
        let t = shown;
        e.ok(json!({"command": "touch", "args": ["-c", t]}));
        e.ok(json!({"command": "touch", "args": ["-c", "-d", "2030-01-01", t]}));
    }
    let v = e.ok(json!({"command": "sh", "args": ["-c", format!("cat {}", file.display())]}));
    assert_eq!(v["stdout"], "outside\n", "the read path is readable: {v}");
    let after: Vec<_> = targets.iter().map(|t| stamp(t)).collect();
    assert_eq!(
        after, before,
        "a program changed metadata outside the workspace"
    );
    // Inside the workspace metadata changes still work.
    let v = e.ok(json!({"command": "chmod", "args": ["600", "notes.txt"]}));
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(stamp(&e.ws.join("notes.txt")).0 & 0o777, 0o600);
}

/// A pipeline over the same workspace and time machine with other settings.
fn rebuild(e: &Env, settings: Settings) -> Pipeline<Capabilities<Stdlib>> {
    let workspace = Workspace::open(&e.ws, false, Some(&e.home)).unwrap();
    Pipeline::new(airun::stdlib::capabilities(), workspace, settings)
        .with_journal(Box::new(e.tm.clone()))
        .with_audit(Box::new(e.tm.clone()))
}

/// Attack: `touch/cp/mkdir/ln -s/rm/chmod/cp -r` created or changed `.git/hooks`,
/// `.git/config` and `.git/worktrees`, also from `cwd = .git/objects` through `../hooks`.
#[test]
fn exec_changes_to_git_hooks_config_and_worktrees_are_refused() {
    if !bubblewrap() {
        return;
    }
    let e = allowing(&["touch", "cp", "mkdir", "ln", "rm", "chmod", "sh"]);
    for repo in [e.ws.clone(), e.ws.join("src/nested")] {
        std::fs::create_dir_all(repo.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(repo.join(".git/objects/ab")).unwrap();
        std::fs::write(repo.join(".git/config"), "[core]\n\tbare = false\n").unwrap();
        std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    }
    // A `.git` link and a `gitdir:` file name git folders elsewhere in the workspace.
    std::fs::create_dir_all(e.ws.join("store/real/hooks")).unwrap();
    std::fs::create_dir_all(e.ws.join("store/wt/hooks")).unwrap();
    std::fs::create_dir_all(e.ws.join("linked")).unwrap();
    std::fs::create_dir_all(e.ws.join("worktree")).unwrap();
    std::os::unix::fs::symlink("../store/real", e.ws.join("linked/.git")).unwrap();
    std::fs::write(e.ws.join("worktree/.git"), "gitdir: ../store/wt\n").unwrap();
    let before = tree(&e.ws);
    let attacks: &[(&str, &[&str], &str)] = &[
        ("touch", &[".git/hooks/pre-commit"], "."),
        ("cp", &["notes.txt", ".git/hooks/post-checkout"], "."),
        ("cp", &["notes.txt", ".git/config"], "."),
        (
            "sh",
            &["-c", "echo '\tfsmonitor = ./x' >> .git/config"],
            ".",
        ),
        ("mkdir", &[".git/worktrees"], "."),
        ("mkdir", &["-p", ".git/worktrees/evil"], "."),
        ("ln", &["-s", "../../notes.txt", ".git/hooks/pre-push"], "."),
        ("rm", &["-f", ".git/config"], "."),
        ("rm", &["-rf", ".git"], "."),
        ("chmod", &["777", ".git/config"], "."),
        ("chmod", &["777", ".git/hooks"], "."),
        ("cp", &["-r", "src", ".git/hooks/tree"], "."),
        ("touch", &["../hooks/x"], ".git/objects"),
        ("touch", &["../../.git/hooks/x"], ".git/objects/ab"),
        ("touch", &["new-object"], ".git/objects"),
        ("touch", &[".git/hooks/pre-commit"], "src/nested"),
        ("cp", &["../main.rs", ".git/config"], "src/nested"),
        ("mkdir", &[".git/worktrees"], "src/nested"),
        ("touch", &["linked/.git/hooks/pre-commit"], "."),
        ("touch", &["store/real/hooks/pre-commit"], "."),
        ("touch", &["store/wt/hooks/pre-commit"], "."),
        ("cp", &["notes.txt", "worktree/.git"], "."),
    ];
    for (command, args, cwd) in attacks {
        let v = e.ok(json!({"command": command, "args": args, "cwd": cwd}));
        assert_ne!(v["exit_code"], 0, "{command} {args:?} in {cwd}: {v}");
        assert_eq!(
            tree(&e.ws),
            before,
            "{command} {args:?} in {cwd} changed the tree"
        );
    }
    // The rest of the workspace stays writable, `.git` readable.
    let v = e.ok(json!({"command": "sh", "args": ["-c", "cat .git/HEAD && touch made.txt"]}));
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["stdout"], "ref: refs/heads/main\n");
    assert!(e.ws.join("made.txt").exists());
}

/// Attack: `cp inside.txt hl/x` rewrote the outside file `hl/x` is hard-linked to.
#[test]
fn exec_writes_through_a_hard_link_to_an_outside_file_are_refused() {
    if !bubblewrap() {
        return;
    }
    let e = allowing(&["cp", "sh", "cat", "truncate", "chmod"]);
    let target = e.base.join("outside/target.txt");
    std::fs::write(&target, "outside\n").unwrap();
    std::fs::create_dir_all(e.ws.join("hl")).unwrap();
    std::fs::hard_link(&target, e.ws.join("hl/x")).unwrap();
    // Two links inside the workspace count too: one of them could be moved out later.
    std::fs::write(e.ws.join("a.txt"), "a\n").unwrap();
    std::fs::hard_link(e.ws.join("a.txt"), e.ws.join("b.txt")).unwrap();
    std::fs::write(e.ws.join("inside.txt"), "inside\n").unwrap();
    let before = tree(&e.ws);
    let stamped = stamp(&target);
    for (command, args) in [
        ("cp", vec!["inside.txt", "hl/x"]),
        ("sh", vec!["-c", "echo more >> hl/x"]),
        ("sh", vec!["-c", "echo new > hl/x"]),
        ("truncate", vec!["-s", "0", "hl/x"]),
        ("chmod", vec!["777", "hl/x"]),
        ("cp", vec!["inside.txt", "b.txt"]),
        ("sh", vec!["-c", "mv hl/x moved"]),
        ("sh", vec!["-c", "rm hl/x"]),
    ] {
        let v = e.ok(json!({"command": command, "args": args}));
        assert_ne!(v["exit_code"], 0, "{command} {args:?}: {v}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "outside\n");
        assert_eq!(stamp(&target), stamped, "{command} {args:?}");
        assert_eq!(tree(&e.ws), before, "{command} {args:?}");
    }
    // Reading it stays possible.
    let v = e.ok(json!({"command": "cat", "args": ["hl/x"]}));
    assert_eq!(v["stdout"], "outside\n");
}

/// Attack: `cat /proc/$PPID/environ` returned every secret variable of airun's own
/// environment.
#[test]
fn exec_cannot_read_airuns_environment_through_proc() {
    if !bubblewrap() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (home, ws) = (base.join("home"), base.join("ws"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&ws).unwrap();
    let script = "cat /proc/$PPID/environ; for p in /proc/[0-9]*; do cat $p/environ $p/cmdline; echo; done; echo; ls /proc | grep -c '^[0-9]'";
    // Also when the operator opens the whole file system for reading.
    for extra in ["", "read_paths = [\"/\"]\n"] {
        std::fs::write(
            home.join("policy.toml"),
            format!("[exec]\nallow = [\"sh\"]\n{extra}"),
        )
        .unwrap();
        proc_shows_no_secret(&home, &ws, script);
    }
}

fn proc_shows_no_secret(home: &Path, ws: &Path, script: &str) {
    let params = json!({"command": "sh", "args": ["-c", script]}).to_string();
    let o = airun(
        home,
        ws,
        &[("AIRUN_TEST_SECRET_TOKEN", "hunter2-s3cr3t")],
        &[
            "execute",
            "sys.exec.run",
            "--yes",
            "--json",
            "--params",
            &params,
        ],
    );
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
    assert!(
        !out.contains("sys.exec.run"),
        "airun's own process is visible: {out}"
    );
    // Only the sandbox's own few processes (bwrap's init, airun's helper, sh, and the
    // pipeline's children).
    let count: usize = out.lines().last().unwrap().trim().parse().unwrap();
    assert!(count <= 5, "{count} processes visible: {out}");
}

/// Attack: a `setsid` grandchild outlived the call.
#[test]
fn exec_setsid_grandchildren_do_not_outlive_the_call() {
    if !bubblewrap() {
        return;
    }
    let e = allowing(&["sh", "setsid"]);
    let v = e.ok(json!({
        "command": "sh",
        "args": ["-c", "setsid sleep 30.201 </dev/null >/dev/null 2>&1 & setsid -f sleep 30.202 </dev/null >/dev/null 2>&1; echo started"],
        "timeout_seconds": 20
    }));
    assert_eq!(v["stdout"], "started\n", "{v}");
    assert!(
        none_left_within("30.201", 5),
        "a setsid grandchild survived"
    );
    assert!(
        none_left_within("30.202", 5),
        "a forked setsid grandchild survived"
    );
    // The same at the time limit.
    let v = e.ok(json!({
        "command": "setsid",
        "args": ["-f", "sleep", "30.203"],
        "timeout_seconds": 1
    }));
    assert_eq!(v["exit_code"], 0, "{v}");
    assert!(none_left_within("30.203", 5), "a setsid program survived");
}

/// Attack: with `exec.network = false`, UDP and Unix sockets still worked.
#[test]
fn exec_without_network_reaches_no_udp_or_unix_socket() {
    if !bubblewrap() {
        return;
    }
    let python = "/usr/bin/python3";
    if !support::ci::require(python, Path::new(python).is_file()) {
        return;
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path_sock = dir.path().join("s.sock");
    let unix = std::os::unix::net::UnixListener::bind(&path_sock).unwrap();
    unix.set_nonblocking(true).unwrap();
    let abstract_name = format!("airun-test-{}", std::process::id());
    let abs = {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_name).unwrap();
        std::os::unix::net::UnixListener::bind_addr(&addr).unwrap()
    };
    abs.set_nonblocking(true).unwrap();
    let script = format!(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"udp", ("127.0.0.1", {udp_port})); print("udp sent")
except OSError as e:
    print("udp", e)
for addr in ["{path}", "\0{abstract_name}"]:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        u.connect(addr); u.sendall(b"unix"); print("unix connected")
    except OSError as e:
        print("unix", e)
"#,
        path = path_sock.display()
    );
    let run = |network: bool| {
        let e = env_with(ExecPolicy {
            allow: vec![python.into()],
            network,
            ..ExecPolicy::default()
        });
        e.ok(json!({"command": python, "args": ["-c", script]}))
    };
    let got_udp = || {
        let mut buf = [0u8; 16];
        udp.recv_from(&mut buf).is_ok()
    };
    let got_unix = || [&unix, &abs].iter().filter(|l| l.accept().is_ok()).count();
    let v = run(false);
    assert_eq!(v["exit_code"], 0, "{v}");
    assert!(!got_udp(), "a datagram arrived: {v}");
    assert_eq!(got_unix(), 0, "a Unix socket was reached: {v}");
    assert!(
        !v["stdout"].as_str().unwrap().contains("unix connected"),
        "{v}"
    );
    // The same script reaches both when the operator allows the network (the path socket
    // stays out of sight: it is outside the folders programs see).
    let v = run(true);
    assert_eq!(v["exit_code"], 0, "{v}");
    assert!(got_udp(), "the allowed datagram did not arrive: {v}");
    assert_eq!(got_unix(), 1, "{v}");
}

/// Programs read the workspace and system folders only: not airun's home, not other
/// folders, unless `exec.read_paths` adds them; airun's home stays hidden even then.
#[test]
fn exec_reads_only_the_workspace_system_folders_and_read_paths() {
    if !bubblewrap() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (home, ws, outside) = (base.join("home"), base.join("ws"), base.join("outside"));
    for d in [&home, &ws, &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(outside.join("secret.txt"), "outside secret\n").unwrap();
    std::fs::write(ws.join("mine.txt"), "workspace\n").unwrap();
    let script = format!(
        "cat mine.txt; cat /etc/hostname >/dev/null && echo etc; cat {o}/secret.txt; cat {h}/policy.toml; ls {h}; cat /etc/shadow; ls /root /home /var/log",
        o = outside.display(),
        h = home.display()
    );
    let params = json!({"command": "sh", "args": ["-c", script]}).to_string();
    let exec = [
        "execute",
        "sys.exec.run",
        "--yes",
        "--json",
        "--params",
        &params,
    ];
    let policy = |extra: &str| {
        std::fs::write(
            home.join("policy.toml"),
            format!("[exec]\nallow = [\"sh\"]\n{extra}# policy-marker\n"),
        )
        .unwrap()
    };
    policy("");
    let o = airun(&home, &ws, &[], &exec);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let out = v["result"]["stdout"].as_str().unwrap();
    assert!(out.starts_with("workspace\netc\n"), "{v}");
    assert!(!out.contains("outside secret"), "{v}");
    assert!(!out.contains("policy-marker"), "{v}");
    assert!(!out.lines().any(|l| l.starts_with("root:")), "{v}");
    // The parent of both, added as a read path: the outside file is readable, the home
    // is still not.
    policy(&format!("read_paths = [\"{}\"]\n", base.display()));
    let o = airun(&home, &ws, &[], &exec);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let out = v["result"]["stdout"].as_str().unwrap();
    assert!(out.contains("outside secret"), "{v}");
    assert!(!out.contains("policy-marker"), "{v}");
    assert!(!out.lines().any(|l| l.starts_with("root:")), "{v}");
    // The whole file system: still no home, no password hashes, and /tmp (where this
    // test's folders are) is the program's own.
    policy("read_paths = [\"/\"]\n");
    let o = airun(&home, &ws, &[], &exec);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let out = v["result"]["stdout"].as_str().unwrap();
    assert!(out.contains("/var/log:\n"), "{v}");
    assert!(!out.contains("outside secret"), "{v}");
    assert!(!out.contains("policy-marker"), "{v}");
    assert!(!out.lines().any(|l| l.starts_with("root:")), "{v}");
}

/// Landlock is a second layer inside bubblewrap: the sandbox's own scratch places that
/// bubblewrap leaves writable (`/dev/shm`, its own root folder) are
/// refused; and the program keeps its name as `argv[0]`.
#[test]
fn landlock_confines_writes_inside_the_bubblewrap_sandbox_too() {
    if !bubblewrap() {
        return;
    }
    let landlock = airun::powers::exec::landlock_abi().is_some();
    if !support::ci::require("Landlock (the second layer inside bubblewrap)", landlock) {
        return;
    }
    let e = allowing(&["sh", "ls"]);
    for target in ["/dev/shm/probe", "/dev/probe", "/probe", "/run/airun/probe"] {
        let v = e.ok(json!({"command": "sh", "args": ["-c", format!("echo x > {target}")]}));
        assert_ne!(v["exit_code"], 0, "{target}: {v}");
        assert!(
            v["stderr"].as_str().unwrap().contains("ermission denied"),
            "{target}: {v}"
        );
    }
    let v = e.ok(json!({"command": "ls", "args": ["missing-file"]}));
    assert!(v["stderr"].as_str().unwrap().starts_with("ls: "), "{v}");
}

/// Too many hard-linked files to re-bind read-only one by one: the run is refused, the
/// message names some of them, and nothing changes.
#[test]
fn more_hard_linked_files_than_can_be_made_read_only_refuse_the_run() {
    if !bubblewrap() {
        return;
    }
    let e = allowing(&["touch"]);
    let max = airun::powers::bwrap::MAX_HARD_LINKED;
    std::fs::create_dir_all(e.ws.join("linked")).unwrap();
    std::fs::write(e.ws.join("linked/origin"), "x").unwrap();
    for i in 0..max {
        std::fs::hard_link(
            e.ws.join("linked/origin"),
            e.ws.join(format!("linked/l{i:03}")),
        )
        .unwrap();
    }
    let err = e.refused(json!({"command": "touch", "args": ["made.txt"]}));
    assert!(
        err.message.contains(&format!(
            "{} files in the workspace have other hard links",
            max + 1
        )),
        "{err:?}"
    );
    assert!(err.message.contains("linked/l000"), "{err:?}");
    assert!(err.hint.is_some(), "{err:?}");
    // At the limit, the run goes ahead.
    std::fs::remove_file(e.ws.join("linked/l000")).unwrap();
    let v = e.ok(json!({"command": "touch", "args": ["made.txt"]}));
    assert_eq!(v["exit_code"], 0, "{v}");
}

/// A signal that ends the program is reported as such, through bubblewrap too; an exit
/// status that only looks like one is not.
#[test]
fn a_program_ended_by_a_signal_reports_it() {
    let e = allowing(&["sh"]);
    let v = e.ok(json!({"command": "sh", "args": ["-c", "kill -SEGV $$"]}));
    assert_eq!(v["exit_code"], 139, "{v}");
    assert_eq!(v["signal"], 11, "{v}");
    assert_eq!(v["timed_out"], false, "{v}");
    let v = e.ok(json!({"command": "sh", "args": ["-c", "exit 137"]}));
    assert_eq!(v["exit_code"], 137, "{v}");
    assert_eq!(v["signal"], Value::Null, "{v}");
}

/// Gives `path` and everything under it to `uid` (without following links).
fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}

/// A folder airun may not list could hide a hard link to an outside file; the program
/// (its owner) must not `chmod` its way in and write through it. Run as an unprivileged
/// user (root lists every folder).
#[test]
fn exec_cannot_open_an_unlisted_folder_to_write_through_a_hard_link() {
    if !bubblewrap() {
        return;
    }
    // SAFETY: geteuid only reads this process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Path::new("/usr/bin/setpriv");
    if !support::ci::require(
        "setpriv (to run airun as an unprivileged user)",
        !root || setpriv.is_file(),
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (home, ws, outside) = (base.join("home"), base.join("ws"), base.join("outside"));
    for d in [&home, &ws.join("locked"), &ws.join("sub"), &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    let target = outside.join("target.txt");
    std::fs::write(&target, "outside\n").unwrap();
    std::fs::hard_link(&target, ws.join("locked/x")).unwrap();
    std::fs::write(home.join("policy.toml"), "[exec]\nallow = [\"sh\"]\n").unwrap();
    // A copy of airun the unprivileged user can run (it is also the helper inside).
    // Copied by a `cp` process, not from this one: a writable descriptor of the copy held
    // here could leak into a process another test thread is starting, and the run below
    // would then fail with "text file busy".
    let bin = base.join("airun");
    let copied = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_airun"))
        .arg(&bin)
        .status()
        .unwrap();
    assert!(copied.success(), "cp of the airun binary failed");
    if root {
        chown_tree(&base, 65534);
    }
    std::fs::set_permissions(ws.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let params = json!({
        "command": "sh",
        "args": ["-c", "chmod 700 ../locked; echo pwned > ../locked/x; cat ../locked/x"],
        "cwd": "sub"
    })
    .to_string();
    let args = [
        "execute",
        "sys.exec.run",
        "--yes",
        "--json",
        "--params",
        &params,
    ];
    let mut cmd = if root {
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let o = cmd
        .args(args)
        .env("AIRUN_HOME", &home)
        .env("AIRUN_WORKSPACE", &ws)
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
    assert_ne!(v["result"]["exit_code"], 0, "{v}");
    assert!(
        v["result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("Read-only file system"),
        "{v}"
    );
    let mode = std::fs::symlink_metadata(ws.join("locked"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0, "the folder was opened");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "outside\n");
    std::fs::set_permissions(ws.join("locked"), std::fs::Permissions::from_mode(0o700)).unwrap();
}

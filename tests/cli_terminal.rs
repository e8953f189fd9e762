//! The command line as a person meets it: tables that fit the terminal, colour only where
//! it can be seen (and never with `NO_COLOR`), results printed for people, exact undo and
//! redo messages, clear errors for a busy port and a missing operation, examples in every
//! `--help`, and `serve --mcp` that says what it waits for on a terminal and leaves quietly
//! when its input ends before a client spoke.
//!
//! Terminal cases run the binary under a real pseudo-terminal with util-linux `script`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_airun");

/// A workspace and a state folder in a temporary folder.
struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir_all(tmp.path().join("ws")).expect("the workspace");
        Env { tmp }
    }

    fn ws(&self) -> PathBuf {
        self.tmp.path().join("ws")
    }

    /// `airun --workspace WS ARGS…` with standard input closed, no colour forced and
    /// no inherited width.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--workspace")
            .arg(self.ws())
            .args(args)
            .env("AIRUN_HOME", self.tmp.path().join("home"))
            .env_remove("COLUMNS")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("AIRUN_WORKSPACE")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("airun runs")
    }

    fn write(&self, path: &str, content: &str) {
        let params = serde_json::json!({"path": path, "content": content}).to_string();
        let out = self.run(&["execute", "io.fs.write_file", "--params", &params, "--yes"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a shell command line under a pseudo-terminal (util-linux `script`), returning
/// everything the terminal showed.
fn on_terminal(command_line: &str, envs: &[(&str, &str)]) -> String {
    let have_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have_script,
        "these tests need util-linux `script` (Debian package bsdutils) to run airun on a \
         pseudo-terminal"
    );
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", command_line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    text(&cmd.output().expect("script runs").stdout)
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

const ESC: char = '\u{1b}';

#[test]
fn tables_fit_the_terminal_width_and_never_break_identifiers() {
    let env = Env::new();
    let ids: Vec<String> = {
        let out = env.run(&["list", "--json"]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json");
        list.as_array()
            .expect("an array")
            .iter()
            .map(|c| c["id"].as_str().expect("an id").to_string())
            .collect()
    };
    assert!(ids.len() > 20, "{ids:?}");
    for width in ["80", "120", "200"] {
        let out = env.cmd(&["list"]).env("COLUMNS", width).output().unwrap();
        assert!(out.status.success());
        let shown = text(&out.stdout);
        let max: usize = width.parse().unwrap();
        for line in shown.lines() {
            assert!(
                line.chars().count() <= max,
                "a line wider than {max} columns:\n{line}\n\n{shown}"
            );
        }
        for id in &ids {
            assert!(
                shown
                    .lines()
                    .any(|l| l.split([' ', '│', '┆']).any(|w| w == id)),
                "`{id}` is not shown whole at {width} columns:\n{shown}"
            );
        }
    }
    // Piped with no COLUMNS: 100 columns at most.
    let piped = text(&env.run(&["list"]).stdout);
    assert!(piped.lines().all(|l| l.chars().count() <= 100), "{piped}");
    // --wide: one table row per capability, however long.
    let wide = text(
        &env.cmd(&["list", "--wide"])
            .env("COLUMNS", "80")
            .output()
            .unwrap()
            .stdout,
    );
    assert!(wide.lines().any(|l| l.chars().count() > 80), "{wide}");
    for id in &ids {
        let row = wide
            .lines()
            .find(|l| l.contains(&format!(" {id} ")))
            .unwrap_or_else(|| panic!("no row for {id}:\n{wide}"));
        assert!(row.contains(&id.replace('.', "_")), "{row}");
    }
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let env = Env::new();
    let home = env.tmp.path().join("home");
    let line = format!(
        "AIRUN_HOME={} {} --workspace {} inspect no.such.capability",
        shell_quote(&home),
        shell_quote(Path::new(BIN)),
        shell_quote(&env.ws())
    );
    let coloured = on_terminal(&line, &[]);
    assert!(
        coloured.contains(ESC) && coloured.contains("error:"),
        "{coloured:?}"
    );
    let plain = on_terminal(&line, &[("NO_COLOR", "1")]);
    assert!(
        plain.contains("error:") && !plain.contains(ESC),
        "{plain:?}"
    );
    // Piped: no colour either, unless forced.
    let piped = env.run(&["inspect", "no.such.capability"]);
    assert_eq!(piped.status.code(), Some(2));
    assert!(!text(&piped.stderr).contains(ESC));
    let forced = env
        .cmd(&["inspect", "no.such.capability"])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(text(&forced.stderr).contains(ESC));
    // History states are coloured on a terminal, plain with NO_COLOR.
    env.write("a.txt", "a");
    let line = format!(
        "AIRUN_HOME={} {} --workspace {} history",
        shell_quote(&home),
        shell_quote(Path::new(BIN)),
        shell_quote(&env.ws())
    );
    assert!(on_terminal(&line, &[]).contains(&format!("{ESC}[")));
    let plain = on_terminal(&line, &[("NO_COLOR", "1")]);
    assert!(plain.contains("done") && !plain.contains(ESC), "{plain:?}");
}

#[test]
fn execute_prints_results_for_people_and_json_once() {
    let env = Env::new();
    env.write("notes.txt", "line one\nline two\n");
    let out = env.run(&[
        "execute",
        "io.fs.read_file",
        "--params",
        r#"{"path":"notes.txt"}"#,
    ]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "line one\nline two\n");
    assert_eq!(text(&out.stderr), "");

    let out = env.run(&["execute", "io.fs.list_dir", "--params", r#"{"path":"."}"#]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("notes.txt") && shown.contains("path") && shown.contains("kind"),
        "{shown}"
    );
    assert!(!shown.trim_start().starts_with('{'), "{shown}");

    // An error with --json: the envelope on stdout, nothing else anywhere.
    let out = env.run(&[
        "execute",
        "io.fs.read_file",
        "--params",
        r#"{"path":"missing.txt"}"#,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let envelope: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(envelope["status"], "error");
    assert_eq!(envelope["error"]["kind"], "not_found");
    assert_eq!(text(&out.stderr), "", "the error must be printed once");
    // Without --json: the error once, on stderr.
    let out = env.run(&[
        "execute",
        "io.fs.read_file",
        "--params",
        r#"{"path":"missing.txt"}"#,
    ]);
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr).matches("error:").count(), 1);
}

#[test]
fn undo_and_redo_say_exactly_what_they_did() {
    let env = Env::new();
    let out = env.run(&["undo"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "nothing to undo: no done operation is left in this workspace\n"
    );

    env.write("a.txt", "a");
    env.write("b.txt", "b");
    let out = env.run(&["undo", "--to", "99"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missing operation is an error"
    );
    assert!(
        text(&out.stderr).contains("there is no operation 99"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.ws().join("a.txt").exists() && env.ws().join("b.txt").exists());

    let out = env.run(&["undo", "--steps", "5"]);
    assert!(out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains("undone: op 2") && said.contains("undone: op 1"),
        "{said}"
    );
    assert!(
        text(&out.stderr).contains("not undone: 3 more step(s)"),
        "{}",
        text(&out.stderr)
    );
    assert!(!env.ws().join("a.txt").exists());

    let out = env.run(&["redo"]);
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(text(&out.stdout).starts_with("redone: op 1"));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn audit_export_defaults_to_jsonl() {
    let env = Env::new();
    env.write("a.txt", "a");
    for args in [
        &["audit", "export"][..],
        &["audit", "export", "--jsonl"][..],
    ] {
        let out = env.run(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON record a line"))
            .collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["capability"], "io.fs.write_file");
    }
}

#[test]
fn a_busy_port_is_named_with_what_to_do() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = taken.local_addr().unwrap().port().to_string();
    let out = env.run(&["serve", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!("port {port} on 127.0.0.1 is already in use"))
            && said.contains("--port 0"),
        "{said}"
    );
}

#[test]
fn listing_needs_no_workspace() {
    let env = Env::new();
    let missing = env.tmp.path().join("no/such/folder");
    let out = env
        .cmd(&["list"])
        .arg("--workspace")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("io.fs.read_file"));
    assert!(!missing.exists());
    let out = env
        .cmd(&["inspect", "io.fs.read_file"])
        .arg("--workspace")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn every_help_has_examples_and_no_empty_env_values() {
    let env = Env::new();
    for cmd in [
        "", "list", "inspect", "execute", "serve", "openai", "undo", "redo", "history", "audit",
        "gc", "doctor", "policy",
    ] {
        let mut args: Vec<&str> = cmd.split_whitespace().collect();
        args.push("--help");
        let out = env.run(&args);
        let help = text(&out.stdout);
        assert!(
            out.status.success(),
            "airun {cmd} --help: {}",
            text(&out.stderr)
        );
        assert!(
            help.contains("Examples:\n  airun"),
            "airun {cmd} --help:\n{help}"
        );
        assert!(!help.contains("=]"), "an empty env value shown:\n{help}");
    }
}

#[test]
fn serve_mcp_leaves_quietly_when_input_ends_before_a_client_spoke() {
    let env = Env::new();
    let out = env.run(&["serve", "--mcp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn serve_mcp_on_a_terminal_says_what_it_waits_for() {
    let env = Env::new();
    let line = format!(
        "AIRUN_HOME={} {} --workspace {} serve --mcp",
        shell_quote(&env.tmp.path().join("home")),
        shell_quote(Path::new(BIN)),
        shell_quote(&env.ws())
    );
    // The terminal's input is closed at once (Ctrl-D): the server says what it waits
    // for, then leaves with status 0.
    let shown = on_terminal(&line, &[]);
    assert!(
        shown.contains("waiting for an MCP client") && shown.contains("docs/clients.md"),
        "{shown:?}"
    );
}

#[test]
fn long_calls_show_progress_on_a_terminal_only() {
    let env = Env::new();
    let big = env.ws().join("big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..3000 {
        std::fs::write(big.join(format!("f{i}.txt")), i.to_string()).unwrap();
    }
    let params = r#"{"source":"big","destination":"copy1"}"#;
    let line = format!(
        "AIRUN_HOME={} {} --workspace {} execute io.fs.copy --params '{params}' --yes",
        shell_quote(&env.tmp.path().join("home")),
        shell_quote(Path::new(BIN)),
        shell_quote(&env.ws())
    );
    let shown = on_terminal(&line, &[]);
    assert!(
        shown.contains("copying") && shown.contains("/3,000"),
        "no progress bar on the terminal:\n{shown:?}"
    );
    assert_eq!(
        std::fs::read_dir(env.ws().join("copy1")).unwrap().count(),
        3000
    );
    // Piped: no bar, nothing on stderr.
    let out = env.run(&[
        "execute",
        "io.fs.copy",
        "--params",
        r#"{"source":"big","destination":"copy2"}"#,
        "--yes",
    ]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_bad_policy_file_reports_every_mistake_first_first() {
    let env = Env::new();
    let file = env.tmp.path().join("policy.toml");
    std::fs::write(
        &file,
        "readonly = true\nauto_approve = [\"Bad\"]\n[exec]\ntimeout_max = 0\nallow = 5\n\
         [net]\nallow_privat = true\nmax_body = \"x\"\n[undo]\nmax_ops = 0\n",
    )
    .unwrap();
    let out = env
        .cmd(&["--policy", file.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    let places: Vec<&str> = said
        .lines()
        .filter_map(|l| l.split_once("policy.toml:").map(|(_, rest)| rest))
        .map(|rest| rest.split_once(": ").map_or(rest, |(at, _)| at))
        .collect();
    assert_eq!(
        places,
        ["1:1", "2:17", "4:15", "5:9", "7:1", "8:12", "10:11"],
        "{said}"
    );
    for what in [
        "`readonly`: unknown field",
        "`auto_approve`: `Bad` is not a capability id",
        "`exec.timeout_max`: must be at least 1 second",
        "`exec.allow`: invalid type: integer `5`",
        "`net.allow_privat`: unknown field",
        "`net.max_body`: invalid type: string",
        "`undo.max_ops`: must be at least 1",
    ] {
        assert!(said.contains(what), "{what} missing from:\n{said}");
    }
    assert_eq!(said.matches("hint:").count(), 1, "{said}");
}

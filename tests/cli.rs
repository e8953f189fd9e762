//! The `airun` binary: exit codes, error lines, JSON envelopes, `list`, `inspect`, and
//! the default workspace.
//!
//! Exit codes: 0 ok, 1 execution error, 2 invalid input, 3 denied by policy or sandbox,
//! 4 declined.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRET: &str = "TOP SECRET: outside the workspace\n";

/// `<tmp>/ws` (the workspace), `<tmp>/home` ($AIRUN_HOME and $HOME), and
/// `<tmp>/outside/secret.txt`.
struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    ws: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let ws = base.join("ws");
        let home = base.join("home");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/secret.txt"), SECRET).unwrap();
        Env {
            _tmp: tmp,
            base,
            ws,
            home,
        }
    }

    /// The binary with a controlled environment and no terminal on stdin.
    fn command(&self) -> Command {
        support::isolated_airun(&self.home)
    }

    /// Runs `airun --workspace <ws> ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command();
        c.arg("--workspace").arg(&self.ws).args(args);
        c.output().expect("airun runs")
    }

    /// Runs `airun --workspace <ws> execute ID --params JSON EXTRA...`.
    fn execute(&self, id: &str, params: Value, extra: &[&str]) -> Output {
        let p = params.to_string();
        let mut args = vec!["execute", id, "--params", p.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn secret_intact(&self) {
        assert_eq!(
            std::fs::read_to_string(self.base.join("outside/secret.txt")).unwrap(),
            SECRET
        );
        let names: Vec<_> = std::fs::read_dir(self.base.join("outside"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "something new appeared outside: {names:?}");
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(o),
            stderr(o)
        )
    })
}

/// The error output: exactly one `error:` line (first), then a `hint:` line.
fn assert_error_lines(o: &Output, hint_needed: bool) -> (String, Option<String>) {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty(), "nothing on stderr");
    assert!(
        lines[0].starts_with("error: "),
        "first stderr line is not `error: ...`: {err}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    let hint = lines
        .iter()
        .find(|l| l.starts_with("hint: "))
        .map(|l| l.to_string());
    if hint_needed {
        assert!(hint.is_some(), "no `hint:` line: {err}");
    }
    assert!(
        lines.len() <= 2,
        "more than an error line and a hint: {err}"
    );
    (lines[0].to_string(), hint)
}

// ---------------------------------------------------------------------------------------
// Sandbox refusals: exit 3

#[test]
fn cve_shape_sibling_prefix_folder_exits_3() {
    let e = Env::new();
    std::fs::create_dir_all(e.base.join("ws_evil")).unwrap();
    std::fs::write(e.base.join("ws_evil/secret"), SECRET).unwrap();
    let o = e.execute("io.fs.read_file", json!({"path": "../ws_evil/secret"}), &[]);
    assert_eq!(code(&o), 3, "stderr: {}", stderr(&o));
    let (line, _) = assert_error_lines(&o, true);
    assert!(line.contains("workspace"), "{line}");
    assert!(!stdout(&o).contains("TOP SECRET") && !stderr(&o).contains("TOP SECRET"));

    let abs = e.base.join("ws_evil/secret");
    let o = e.execute(
        "io.fs.write_file",
        json!({"path": abs, "content": "pwned"}),
        &["--yes"],
    );
    assert_eq!(code(&o), 3, "stderr: {}", stderr(&o));
    assert_error_lines(&o, true);
    assert_eq!(
        std::fs::read_to_string(e.base.join("ws_evil/secret")).unwrap(),
        SECRET
    );
}

#[test]
fn cve_shape_symlink_inside_pointing_outside_exits_3() {
    let e = Env::new();
    std::os::unix::fs::symlink(e.base.join("outside"), e.ws.join("docs")).unwrap();
    let o = e.execute("io.fs.read_file", json!({"path": "docs/secret.txt"}), &[]);
    assert_eq!(code(&o), 3, "stderr: {}", stderr(&o));
    let (line, _) = assert_error_lines(&o, true);
    assert!(line.contains("symbolic link"), "{line}");
    assert!(!stdout(&o).contains("TOP SECRET"));

    let o = e.execute(
        "io.fs.write_file",
        json!({"path": "docs/planted.txt", "content": "pwned"}),
        &["--yes"],
    );
    assert_eq!(code(&o), 3, "stderr: {}", stderr(&o));
    assert_error_lines(&o, true);
    e.secret_intact();

    // With --json: the envelope says so, and nothing else is printed.
    let o = e.execute(
        "io.fs.read_file",
        json!({"path": "docs/secret.txt"}),
        &["--json"],
    );
    assert_eq!(code(&o), 3);
    let v = json_out(&o);
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["kind"], "denied_sandbox");
    assert_eq!(v["error"]["field"], "path");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn read_only_refusal_exits_3() {
    let e = Env::new();
    let o = e.run(&[
        "--read-only",
        "execute",
        "io.fs.write_file",
        "--params",
        r#"{"path":"a.txt","content":"x"}"#,
        "--yes",
        "--json",
    ]);
    assert_eq!(code(&o), 3, "stderr: {}", stderr(&o));
    assert_eq!(json_out(&o)["error"]["kind"], "denied_policy");
    assert!(!e.ws.join("a.txt").exists());
}

// ---------------------------------------------------------------------------------------
// Invalid input: exit 2

#[test]
fn invalid_params_json_exits_2() {
    let e = Env::new();
    let o = e.run(&["execute", "io.fs.read_file", "--params", "{path: a.txt"]);
    assert_eq!(code(&o), 2, "stderr: {}", stderr(&o));
    let (line, hint) = assert_error_lines(&o, true);
    assert!(line.contains("JSON"), "{line}");
    assert!(hint.unwrap().contains("--params"));
    assert!(stdout(&o).is_empty());
}

#[test]
fn params_of_the_wrong_shape_exit_2_naming_the_field() {
    let e = Env::new();
    let o = e.execute("io.fs.read_file", json!({"path": 5}), &["--json"]);
    assert_eq!(code(&o), 2, "stderr: {}", stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["error"]["kind"], "invalid_input");
    assert_eq!(v["error"]["field"], "path");

    let o = e.execute("io.fs.read_file", json!({}), &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("path"), "{}", stderr(&o));

    let o = e.execute(
        "io.fs.read_file",
        json!({"path": "a", "colour": "red"}),
        &[],
    );
    assert_eq!(code(&o), 2);
    assert_error_lines(&o, true);

    let o = e.run(&["execute", "io.fs.read_file", "--params", "[1, 2]"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn unknown_capability_exits_2_with_did_you_mean() {
    let e = Env::new();
    let o = e.execute("io.fs.reed_file", json!({"path": "a"}), &[]);
    assert_eq!(code(&o), 2, "stderr: {}", stderr(&o));
    let (line, hint) = assert_error_lines(&o, true);
    assert!(line.contains("io.fs.reed_file"), "{line}");
    let hint = hint.unwrap();
    assert!(hint.contains("did you mean `io.fs.read_file`"), "{hint}");

    let o = e.execute("io_fs_writefile", json!({}), &[]);
    assert_eq!(code(&o), 2);
    let (_, hint) = assert_error_lines(&o, true);
    assert!(hint.unwrap().contains("io_fs_write_file"));

    // Nothing close: still a hint, without a guess.
    let o = e.execute("completely.different.thing", json!({}), &[]);
    assert_eq!(code(&o), 2);
    let (_, hint) = assert_error_lines(&o, true);
    assert!(!hint.unwrap().contains("did you mean"));

    let o = e.run(&["inspect", "io.fs.reed_file"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("did you mean `io.fs.read_file`"));
}

// ---------------------------------------------------------------------------------------
// Confirmation: exit 4

#[test]
fn declined_without_yes_and_without_a_terminal_exits_4_and_writes_nothing() {
    let e = Env::new();
    let o = e.execute(
        "io.fs.write_file",
        json!({"path": "a.txt", "content": "x"}),
        &[],
    );
    assert_eq!(code(&o), 4, "stderr: {}", stderr(&o));
    let (_, hint) = assert_error_lines(&o, true);
    assert!(hint.unwrap().contains("--yes"));
    assert!(!e.ws.join("a.txt").exists());
    let names: Vec<_> = std::fs::read_dir(&e.ws).unwrap().collect();
    assert!(names.is_empty(), "the workspace changed: {names:?}");

    std::fs::write(e.ws.join("keep.txt"), "keep").unwrap();
    let o = e.execute("io.fs.delete", json!({"path": "keep.txt"}), &["--json"]);
    assert_eq!(code(&o), 4);
    assert_eq!(json_out(&o)["error"]["kind"], "declined");
    assert_eq!(
        std::fs::read_to_string(e.ws.join("keep.txt")).unwrap(),
        "keep"
    );

    // With --yes it runs.
    let o = e.execute(
        "io.fs.write_file",
        json!({"path": "a.txt", "content": "x"}),
        &["--yes"],
    );
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(std::fs::read_to_string(e.ws.join("a.txt")).unwrap(), "x");
}

// ---------------------------------------------------------------------------------------
// Output shapes

#[test]
fn json_envelope_for_a_success() {
    let e = Env::new();
    let o = e.execute(
        "io_fs_write_file",
        json!({"path": "notes.txt", "content": "hello"}),
        &["--yes", "--json"],
    );
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let v = json_out(&o);
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["status", "capability", "result", "duration_ms"])
    );
    assert_eq!(v["status"], "ok");
    assert_eq!(
        v["capability"], "io.fs.write_file",
        "the id, even when called by tool name"
    );
    assert_eq!(
        v["result"],
        json!({"path": "notes.txt", "bytes_written": 5, "created": true})
    );
    assert!(v["duration_ms"].is_u64());
    assert_eq!(stdout(&o).lines().count(), 1, "one line of JSON");

    let o = e.execute("io.fs.read_file", json!({"path": "notes.txt"}), &["--json"]);
    assert_eq!(code(&o), 0);
    let v = json_out(&o);
    assert_eq!(v["result"]["content"], "hello");
    assert_eq!(v["capability"], "io.fs.read_file");
}

#[test]
fn json_envelope_for_an_error() {
    let e = Env::new();
    let o = e.execute(
        "io.fs.read_file",
        json!({"path": "missing.txt"}),
        &["--json"],
    );
    assert_eq!(code(&o), 1, "stderr: {}", stderr(&o));
    let v = json_out(&o);
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["status", "capability", "error", "duration_ms"])
    );
    assert_eq!(v["status"], "error");
    assert_eq!(v["capability"], "io.fs.read_file");
    assert!(v["duration_ms"].is_u64());
    let err = v["error"].as_object().unwrap();
    for k in err.keys() {
        assert!(
            ["kind", "message", "field", "hint"].contains(&k.as_str()),
            "unexpected key {k}"
        );
    }
    assert_eq!(err["kind"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("missing.txt"));
    assert!(
        !err.contains_key("field"),
        "no field for an execution error: {v}"
    );

    // A field-level error carries the field.
    let o = e.execute("io.fs.list_dir", json!({"max_entries": 0}), &["--json"]);
    assert_eq!(code(&o), 2);
    let v = json_out(&o);
    assert_eq!(v["error"]["kind"], "invalid_input");
    assert_eq!(v["error"]["field"], "max_entries");

    // Unknown capability: the envelope names what was asked for.
    let o = e.execute("io.fs.nope", json!({}), &["--json"]);
    assert_eq!(code(&o), 2);
    let v = json_out(&o);
    assert_eq!(v["capability"], "io.fs.nope");
    assert_eq!(v["error"]["kind"], "invalid_input");
}

#[test]
fn execution_errors_exit_1_with_an_error_line() {
    let e = Env::new();
    let o = e.execute("io.fs.read_file", json!({"path": "missing.txt"}), &[]);
    assert_eq!(code(&o), 1);
    let (line, _) = assert_error_lines(&o, false);
    assert!(line.contains("missing.txt"), "{line}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn human_output_is_one_line_per_field() {
    let e = Env::new();
    std::fs::write(e.ws.join("a.txt"), "x").unwrap();
    let o = e.execute("io.fs.exists", json!({"path": "a.txt"}), &[]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "exists: true\nkind: file\n");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn params_can_come_from_stdin() {
    let e = Env::new();
    std::fs::write(e.ws.join("a.txt"), "from stdin").unwrap();
    let mut c = e.command();
    c.arg("--workspace")
        .arg(&e.ws)
        .args(["execute", "io.fs.read_file", "--params", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"path": "a.txt"}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(json_out(&o)["result"]["content"], "from stdin");
}

// ---------------------------------------------------------------------------------------
// list and inspect

fn list_json(e: &Env, read_only: bool) -> Vec<Value> {
    let mut args = vec![];
    if read_only {
        args.push("--read-only");
    }
    args.extend(["list", "--json"]);
    let o = e.run(&args);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    json_out(&o).as_array().expect("a JSON array").clone()
}

#[test]
fn list_json_shows_exactly_the_catalog() {
    let e = Env::new();
    let list = list_json(&e, false);
    let catalog = &airun::stdlib::CATALOG;
    assert_eq!(
        list.len(),
        catalog.len(),
        "list --json shows {} capabilities, the catalog has {}",
        list.len(),
        catalog.len()
    );
    assert!(catalog.len() >= 15);
    for (shown, cap) in list.iter().zip(catalog.iter()) {
        assert_eq!(shown["id"], cap.id);
        assert_eq!(shown["tool_name"], cap.tool_name);
        let effects: Vec<&str> = cap.side_effects.iter().map(|s| s.as_str()).collect();
        assert_eq!(shown["side_effects"], json!(effects), "{}", cap.id);
        assert_eq!(
            shown["requires_confirmation"], cap.requires_confirmation,
            "{}",
            cap.id
        );
        assert_eq!(
            shown["undo_strategy"],
            cap.undo_strategy.as_str(),
            "{}",
            cap.id
        );
    }
    let ids: Vec<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in [
        "io.fs.read_file",
        "io.fs.write_file",
        "io.fs.list_dir",
        "io.fs.make_dir",
        "io.fs.delete",
        "io.fs.exists",
        "io.fs.move",
        "io.fs.copy",
    ] {
        assert!(
            ids.contains(&id),
            "{id} is missing from list --json: {ids:?}"
        );
    }
    let write = list.iter().find(|c| c["id"] == "io.fs.write_file").unwrap();
    assert_eq!(write["requires_confirmation"], true);
    assert_eq!(write["side_effects"], json!(["filesystem_write"]));
}

#[test]
fn read_only_list_hides_the_mutating_capabilities() {
    let e = Env::new();
    let list = list_json(&e, true);
    let ids: BTreeSet<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = airun::stdlib::CATALOG
        .iter()
        .filter(|c| !c.is_mutating())
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, expected);
    for id in [
        "io.fs.write_file",
        "io.fs.delete",
        "io.fs.move",
        "io.fs.copy",
        "io.fs.make_dir",
    ] {
        assert!(!ids.contains(id), "{id} is listed in read-only mode");
    }
    for id in ["io.fs.read_file", "io.fs.list_dir", "io.fs.exists"] {
        assert!(ids.contains(id), "{id} is missing in read-only mode");
    }
    assert!(list.len() < airun::stdlib::CATALOG.len());
}

/// Reads are answered before their audit record is written, but a one-shot `execute`
/// writes it before the process ends.
#[test]
fn a_read_by_execute_is_on_record_when_the_process_ends() {
    let e = Env::new();
    std::fs::write(e.ws.join("a.txt"), "alpha\n").unwrap();
    let o = e.execute("io.fs.read_file", json!({"path": "a.txt"}), &[]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let o = e.run(&["audit", "--json"]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let records = json_out(&o);
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{records}");
    assert_eq!(records[0]["capability"], "io.fs.read_file");
    assert_eq!(records[0]["outcome"], "ok");
}

/// A capability whose spec skips confirmation for dry runs says so wherever confirmation
/// is shown.
#[test]
fn inspect_and_list_name_the_flag_that_skips_confirmation() {
    let e = Env::new();
    let o = e.run(&["inspect", "io.fs.edit_file"]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("confirmation: required, unless dry_run is true"),
        "{text}"
    );
    let o = e.run(&["inspect", "io.fs.edit_file", "--json"]);
    assert_eq!(json_out(&o)["confirmation_unless"], "dry_run");
    let o = e.run(&["inspect", "io.fs.write_file", "--json"]);
    assert_eq!(json_out(&o)["confirmation_unless"], Value::Null);
    let o = e.run(&["list"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("yes, unless dry_run"), "{text}");
}

#[test]
fn inspect_json_has_the_schemas() {
    let e = Env::new();
    let o = e.run(&["inspect", "io.fs.write_file", "--json"]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["id"], "io.fs.write_file");
    let input = &v["input_schema"];
    assert_eq!(input["type"], "object");
    for p in ["path", "content", "mode", "create_dirs", "encoding"] {
        assert!(
            input["properties"][p].is_object(),
            "input property {p} missing: {input}"
        );
    }
    let required: BTreeSet<&str> = input["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        required.contains("path") && required.contains("content"),
        "{required:?}"
    );
    assert_eq!(
        input["properties"]["mode"]["enum"],
        json!(["overwrite", "create_new", "append"])
    );
    let output = &v["output_schema"];
    assert_eq!(output["type"], "object");
    for p in ["path", "bytes_written", "created"] {
        assert!(
            output["properties"][p].is_object(),
            "output property {p} missing: {output}"
        );
    }
    // By tool name too, and it matches the catalog.
    let o = e.run(&["inspect", "io_fs_write_file", "--json"]);
    assert_eq!(code(&o), 0);
    let cap = airun::stdlib::CATALOG
        .iter()
        .find(|c| c.id == "io.fs.write_file")
        .unwrap();
    assert_eq!(json_out(&o)["input_schema"], cap.input_schema_json());
}

// ---------------------------------------------------------------------------------------
// The default workspace

#[test]
fn default_workspace_is_created_under_airun_home() {
    let e = Env::new();
    let expected = e.home.join("workspaces/tester/default");
    assert!(!expected.exists());
    let mut c = e.command();
    c.args([
        "execute",
        "io.fs.write_file",
        "--params",
        r#"{"path":"hello.txt","content":"hi"}"#,
        "--yes",
    ]);
    let o = c.output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(expected.join("hello.txt")).unwrap(),
        "hi"
    );
    assert!(!e.ws.join("hello.txt").exists());

    // Another user gets another folder.
    let mut c = e.command();
    c.env("USER", "other")
        .args(["execute", "io.fs.list_dir", "--json"]);
    let o = c.output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(json_out(&o)["result"]["entries"], json!([]));
    assert!(e.home.join("workspaces/other/default").is_dir());
}

#[test]
fn airun_workspace_env_selects_the_workspace() {
    let e = Env::new();
    std::fs::write(e.ws.join("here.txt"), "x").unwrap();
    let mut c = e.command();
    c.env("AIRUN_WORKSPACE", &e.ws).args([
        "execute",
        "io.fs.exists",
        "--params",
        r#"{"path":"here.txt"}"#,
        "--json",
    ]);
    let o = c.output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(json_out(&o)["result"]["exists"], true);
}

#[test]
fn a_missing_workspace_given_with_workspace_is_not_created() {
    let e = Env::new();
    let missing = e.base.join("no/such/ws");
    let mut c = e.command();
    c.arg("--workspace")
        .arg(&missing)
        .args(["execute", "io.fs.list_dir"]);
    let o = c.output().unwrap();
    assert_ne!(code(&o), 0);
    assert_error_lines(&o, true);
    assert!(!Path::new(&missing).exists());
}

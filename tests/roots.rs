//! Several workspace roots (`--workspace` given several times, `DIR:ro` read-only): reads
//! in every root, changes refused in a read-only one with nothing changed, writes and undo
//! in a second writable root, and no way from one root into another or out of all of them.
//!
//! The layout is `<tmp>/app` (first root, writable), `<tmp>/data` (writable),
//! `<tmp>/docs` (read-only), `<tmp>/docs-evil` and `<tmp>/outside` (no root).

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::snapshot::Snapshot;

struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        for d in ["app", "data", "docs/guide", "docs-evil", "outside", "home"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("app/main.txt"), "app main\n").unwrap();
        std::fs::write(base.join("data/table.csv"), "a,b\n1,2\n").unwrap();
        std::fs::write(base.join("docs/guide/intro.md"), "# Intro\n").unwrap();
        std::fs::write(base.join("docs-evil/x.txt"), "evil\n").unwrap();
        std::fs::write(base.join("outside/secret.txt"), "secret\n").unwrap();
        let home = base.join("home");
        Env {
            _tmp: tmp,
            base,
            home,
        }
    }

    fn p(&self, rel: &str) -> String {
        self.base.join(rel).to_string_lossy().into_owned()
    }

    fn command(&self) -> Command {
        let mut c = support::isolated_airun(&self.home);
        c.env_remove("NO_COLOR");
        c
    }

    /// `airun --workspace app --workspace data --workspace docs:ro ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command();
        c.arg("--workspace")
            .arg(self.p("app"))
            .arg("--workspace")
            .arg(self.p("data"))
            .arg("--workspace")
            .arg(format!("{}:ro", self.p("docs")))
            .args(args);
        c.output().expect("airun runs")
    }

    fn execute(&self, id: &str, params: Value) -> Output {
        let p = params.to_string();
        self.run(&["execute", id, "--params", &p, "--yes", "--json"])
    }

    /// Everything under the temporary folder except airun's home.
    fn snapshot(&self) -> Vec<(String, Snapshot)> {
        ["app", "data", "docs", "docs-evil", "outside"]
            .iter()
            .map(|d| (d.to_string(), Snapshot::of(&self.base.join(d))))
            .collect()
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// A refused call: its exit code, kind and message, and nothing changed anywhere.
fn refused(e: &Env, id: &str, params: Value, kind: &str) -> Value {
    let before = e.snapshot();
    let o = e.execute(id, params.clone());
    let v = out(&o);
    assert_eq!(code(&o), 3, "{id} {params}: {v}");
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["error"]["kind"], kind, "{id} {params}: {v}");
    assert!(v["error"]["hint"].is_string(), "{v}");
    assert_eq!(e.snapshot(), before, "{id} {params} changed something");
    v
}

#[test]
fn reads_work_in_every_root_and_results_name_reusable_paths() {
    let e = Env::new();
    let o = e.execute("io.fs.read_file", json!({"path": "main.txt"}));
    assert_eq!(out(&o)["result"]["content"], "app main\n", "{:?}", o);
    let o = e.execute("io.fs.read_file", json!({"path": e.p("app/main.txt")}));
    assert_eq!(out(&o)["result"]["content"], "app main\n");
    let o = e.execute("io.fs.read_file", json!({"path": e.p("data/table.csv")}));
    assert_eq!(out(&o)["result"]["content"], "a,b\n1,2\n");
    let o = e.execute(
        "io.fs.read_file",
        json!({"path": e.p("docs/guide/intro.md")}),
    );
    assert_eq!(out(&o)["result"]["content"], "# Intro\n");

    // A listing in another root names its entries absolutely: each can be passed back.
    let o = e.execute(
        "io.fs.list_dir",
        json!({"path": e.p("docs"), "recursive": true}),
    );
    let v = out(&o);
    let paths: Vec<&str> = v["result"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    let intro = e.p("docs/guide/intro.md");
    assert!(paths.contains(&intro.as_str()), "{paths:?}");
    let again = e.execute("io.fs.read_file", json!({"path": intro}));
    assert_eq!(out(&again)["result"]["content"], "# Intro\n");
    // Search and tree name the entries of another root absolutely too.
    let v = out(&e.execute(
        "io.fs.search",
        json!({"path": e.p("docs"), "content": "Intro"}),
    ));
    assert_eq!(v["result"]["matches"][0]["path"], intro.as_str(), "{v}");
    let v = out(&e.execute("io.fs.tree", json!({"path": e.p("docs")})));
    let tree: Vec<&str> = v["result"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    assert!(tree.contains(&intro.as_str()), "{v}");
    // The first root's listing stays relative.
    let v = out(&e.execute("io.fs.list_dir", json!({"path": "."})));
    assert_eq!(v["result"]["entries"][0]["path"], "main.txt", "{v}");
}

#[test]
fn changes_in_a_read_only_root_are_refused_before_anything_runs() {
    let e = Env::new();
    let docs = e.p("docs");
    let intro = e.p("docs/guide/intro.md");
    for (id, params) in [
        (
            "io.fs.write_file",
            json!({"path": intro, "content": "pwned"}),
        ),
        (
            "io.fs.write_file",
            json!({"path": e.p("docs/new.md"), "content": "new"}),
        ),
        (
            "io.fs.delete",
            json!({"path": e.p("docs/guide"), "recursive": true}),
        ),
        ("io.fs.make_dir", json!({"path": e.p("docs/sub")})),
        (
            "io.fs.move",
            json!({"source": intro, "destination": e.p("docs/moved.md")}),
        ),
    ] {
        let v = refused(&e, id, params, "denied_policy");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("read-only root") && msg.contains(&docs),
            "{msg}"
        );
    }
    // Reading still works there, and the writable roots still take writes.
    let o = e.execute("io.fs.read_file", json!({"path": intro}));
    assert_eq!(out(&o)["result"]["content"], "# Intro\n");
    let o = e.execute(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "ok"}),
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
}

#[test]
fn writes_in_a_second_writable_root_are_journaled_and_undone() {
    let e = Env::new();
    let table = e.p("data/table.csv");
    let o = e.execute(
        "io.fs.write_file",
        json!({"path": table, "content": "changed\n"}),
    );
    let v = out(&o);
    assert_eq!(code(&o), 0, "{v}");
    assert_eq!(v["result"]["path"], table.as_str(), "{v}");
    let o = e.execute(
        "io.fs.write_file",
        json!({"path": e.p("data/new.txt"), "content": "n"}),
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "changed\n");
    // An edit there: its diff names the file as git names an absolute path.
    let o = e.execute(
        "io.fs.edit_file",
        json!({"path": e.p("data/new.txt"), "edits": [{"old_text": "n", "new_text": "m"}]}),
    );
    let v = out(&o);
    let diff = v["result"]["diff"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        diff.starts_with(&format!("--- a{}\n", e.p("data/new.txt"))),
        "{diff}"
    );
    // A recursive copy inside that root, from one absolute path to another.
    std::fs::create_dir_all(e.base.join("data/in/deep")).unwrap();
    std::fs::write(e.base.join("data/in/deep/f.txt"), "f").unwrap();
    let o = e.execute(
        "io.fs.copy",
        json!({"source": e.p("data/in"), "destination": e.p("data/out")}),
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert_eq!(
        std::fs::read_to_string(e.base.join("data/out/deep/f.txt")).unwrap(),
        "f"
    );

    // Each root keeps its own history: the first root has none of these operations.
    let h = out(&e.run(&["history", "--json"]));
    assert_eq!(h.as_array().map(Vec::len), Some(0), "{h}");
    let o = e.run(&["history"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("the history of the first root {}", e.p("app"))),
        "{err}"
    );
    // With the data root first, its history has both and `undo` puts them back.
    let data_first = |args: &[&str]| {
        let mut c = e.command();
        c.arg("--workspace")
            .arg(format!("{}:{}", e.p("data"), e.p("app")))
            .args(args);
        c.output().unwrap()
    };
    let h = out(&data_first(&["history", "--json"]));
    assert_eq!(h.as_array().map(Vec::len), Some(4), "{h}");
    let o = data_first(&["undo", "--steps", "4"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "a,b\n1,2\n");
    assert!(!Path::new(&e.p("data/new.txt")).exists());
    assert!(!Path::new(&e.p("data/out")).exists());
}

#[test]
fn no_path_leads_from_one_root_into_another_or_out() {
    let e = Env::new();
    // A symlink in a writable root pointing into the read-only one, and one pointing out.
    std::os::unix::fs::symlink(e.p("docs/guide"), e.base.join("data/to-docs")).unwrap();
    std::os::unix::fs::symlink("../docs/guide", e.base.join("app/rel-docs")).unwrap();
    std::os::unix::fs::symlink(e.p("outside"), e.base.join("data/to-outside")).unwrap();
    let writes = |p: &str| json!({"path": p, "content": "pwned"});
    for p in [
        // `..` out of a root, spelled absolutely and relatively.
        e.p("data/../docs/guide/intro.md"),
        e.p("data/../outside/secret.txt"),
        "../docs/guide/intro.md".to_string(),
        "../data/table.csv".to_string(),
        // Through symlinks into another root or out of all of them.
        e.p("data/to-docs/intro.md"),
        "rel-docs/intro.md".to_string(),
        e.p("data/to-outside/secret.txt"),
        // A folder whose name starts with a root's name is no root.
        e.p("docs-evil/x.txt"),
        e.p("outside/secret.txt"),
    ] {
        refused(&e, "io.fs.read_file", json!({"path": p}), "denied_sandbox");
        refused(&e, "io.fs.write_file", writes(&p), "denied_sandbox");
    }
    // One call works in one root: copying from the read-only root into a writable one
    // is two calls.
    let v = refused(
        &e,
        "io.fs.copy",
        json!({"source": e.p("docs/guide/intro.md"), "destination": "intro.md"}),
        "denied_sandbox",
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one call works in one root"),
        "{v}"
    );
}

#[test]
fn roots_come_from_airun_workspace_too_and_overlaps_are_refused() {
    let e = Env::new();
    let mut c = e.command();
    c.env(
        "AIRUN_WORKSPACE",
        format!("{}:{}:ro", e.p("app"), e.p("docs")),
    )
    .args(["doctor", "--json"]);
    let o = c.output().unwrap();
    let v = out(&o);
    assert_eq!(
        v["roots"],
        json!([
            {"path": e.p("app"), "read_only": false},
            {"path": e.p("docs"), "read_only": true},
        ]),
        "{v}"
    );
    let mut c = e.command();
    c.args(["--workspace", &e.p("app"), "--workspace", &e.p("docs:ro")])
        .args(["policy", "show"]);
    let text = String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned();
    assert!(
        text.contains(&format!("# Workspace root: {} (read-only)", e.p("docs"))),
        "{text}"
    );

    let mut c = e.command();
    c.args([
        "--workspace",
        &e.p("app"),
        "--workspace",
        &e.p("app/sub:ro"),
    ]);
    std::fs::create_dir_all(e.base.join("app/sub")).unwrap();
    let o = c.args(["history"]).output().unwrap();
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("overlap") && err.contains("hint:"), "{err}");
}

#[test]
fn a_call_killed_in_a_second_root_is_rolled_back_on_the_next_start() {
    let e = Env::new();
    let table = e.p("data/table.csv");
    let before = e.snapshot();
    let p = json!({"path": table, "content": "half-done\n"}).to_string();
    let mut c = e.command();
    c.args(["--workspace", &e.p("app"), "--workspace", &e.p("data")])
        .args(["execute", "io.fs.write_file", "--params", &p, "--yes"])
        // Killed after the handler wrote the file, before the operation committed.
        .env("FAILPOINTS", "tm_before_after_images=return");
    let o = c.output().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "the failpoint kills the process: {o:?}"
    );
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "half-done\n");
    // Any next start with that root rolls the call back.
    let o = e.run(&["history", "--json"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(e.snapshot(), before);
}

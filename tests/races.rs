//! Check-then-use races, run for real: a separate process (a small Python loop) swaps a
//! workspace entry thousands of times while the test calls capabilities on it, and every
//! call must either work on the inside file or be refused, never act on what was swapped
//! in. Each race is bounded in time; the swapper reports how many swaps it made.

mod support;

use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::pipeline::SECRET;

/// The swapper: `mode dir outside stop_file seconds`. Prints the number of swaps made.
const SWAPPER: &str = r#"
import os, sys, time
mode, d, outside, stop, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
end = time.time() + limit
n = 0
def put_regular(name):
    tmp = os.path.join(d, name + '.swap-tmp')
    with open(tmp, 'w') as f:
        f.write('inside\n')
    os.replace(tmp, os.path.join(d, name))
def fresh(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
print('ready', flush=True)
while not os.path.exists(stop) and time.time() < end:
    try:
        if mode == 'hardlink':
            tmp = os.path.join(d, 'f.swap-link')
            fresh(tmp)
            os.link(outside, tmp)
            os.replace(tmp, os.path.join(d, 'f'))
            put_regular('f')
        elif mode == 'fifo':
            tmp = os.path.join(d, 'f.swap-fifo')
            fresh(tmp)
            os.mkfifo(tmp)
            os.replace(tmp, os.path.join(d, 'f'))
            put_regular('f')
        elif mode == 'dirlink':
            sub, real = os.path.join(d, 'sub'), os.path.join(d, 'sub.real')
            os.rename(sub, real)
            os.symlink(outside, sub)
            os.unlink(sub)
            os.rename(real, sub)
        n += 1
    except OSError:
        pass
print(n, flush=True)
"#;

/// A running swapper process.
struct Swapper {
    child: Child,
    stop: PathBuf,
}

impl Swapper {
    /// Starts the swapper, or says why it cannot (no python3): a failure under CI.
    fn start(mode: &str, dir: &Path, outside: &Path, seconds: u64) -> Option<Swapper> {
        let stop = dir.parent().unwrap().join(format!("stop-{mode}"));
        let child = Command::new("python3")
            .args(["-c", SWAPPER, mode])
            .arg(dir)
            .arg(outside)
            .arg(&stop)
            .arg(seconds.to_string())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                support::ci::require(&format!("python3 for the race tests ({e})"), false);
                return None;
            }
        };
        // Wait for `ready` so the calls start while it swaps.
        use std::io::BufRead;
        let mut line = String::new();
        let out = child.stdout.as_mut().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Some(Swapper { child, stop })
    }

    /// Stops it and returns how many swaps it made.
    fn finish(mut self) -> u64 {
        std::fs::write(&self.stop, "").unwrap();
        let mut out = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.child.wait().unwrap();
        out.trim().parse().unwrap_or(0)
    }
}

/// A pipeline over `<tmp>/ws` with the time machine as journal (before-images are taken),
/// `<tmp>/outside/secret.txt` next to it.
struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    pipeline: Pipeline<Capabilities<Stdlib>>,
}

fn env(settings: Settings) -> Env {
    env_with(settings, true)
}

/// [`env`], with or without the time machine (without it, calls are quicker, so a race
/// gets more tries in the same time).
fn env_with(settings: Settings, journal: bool) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("ws");
    let home = base.join("home");
    let ws = Workspace::open(&root, true, Some(&home)).unwrap();
    let mut pipeline = Pipeline::new(airun::stdlib::capabilities(), ws, settings);
    if journal {
        let tm =
            Arc::new(TimeMachine::open(&home, pipeline.workspace(), Retention::default()).unwrap());
        pipeline = pipeline
            .with_journal(Box::new(tm.clone()))
            .with_audit(Box::new(tm));
    }
    std::fs::create_dir_all(base.join("outside/folder")).unwrap();
    std::fs::write(base.join("outside/secret.txt"), SECRET).unwrap();
    std::fs::write(base.join("outside/outside-secret-name.txt"), SECRET).unwrap();
    std::fs::create_dir_all(root.join("d/sub")).unwrap();
    std::fs::write(root.join("d/f"), "inside\n").unwrap();
    std::fs::write(root.join("d/sub/inside-name.txt"), "inside\n").unwrap();
    Env {
        _tmp: tmp,
        base,
        root,
        pipeline,
    }
}

impl Env {
    fn call(&self, id: &str, args: Value) -> Result<Value, airun::CapError> {
        self.pipeline
            .execute(id, args, &FlagConfirmer, CallOptions::default())
    }
}

/// Runs `calls` in a loop while the swapper runs (at most `seconds`, and at most
/// `max_calls` rounds), and returns (rounds, swaps).
fn race(
    e: &Env,
    mode: &str,
    outside: &Path,
    seconds: u64,
    max_calls: usize,
    mut calls: impl FnMut(&Env),
) -> Option<(usize, u64)> {
    let swapper = Swapper::start(mode, &e.root.join("d"), outside, seconds + 5)?;
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < max_calls && started.elapsed() < Duration::from_secs(seconds) {
        calls(e);
        rounds += 1;
    }
    let swaps = swapper.finish();
    eprintln!("{mode}: {rounds} rounds of calls against {swaps} swaps");
    assert!(
        swaps >= 1000,
        "the swapper made only {swaps} swaps; the race was not exercised"
    );
    Some((rounds, swaps))
}

/// Append through a hard link (race): the file is swapped for a hard link to an outside
/// file between the check and the open. The append checks the opened handle, so the
/// outside file never changes.
#[test]
fn append_through_a_hard_link_race_never_changes_the_outside_file() {
    support::within(120, "the hard-link race", || {
        let e = env_with(Settings::default(), false);
        let outside = e.base.join("outside/secret.txt");
        let mut refused = 0;
        let mut appended = 0;
        race(&e, "hardlink", &outside, 15, 1_000_000, |e| {
            match e.call(
                "io.fs.write_file",
                json!({"path": "d/f", "content": "X", "mode": "append"}),
            ) {
                Ok(_) => appended += 1,
                Err(err) => {
                    refused += 1;
                    assert!(
                        err.message.contains("hard link")
                            || err.message.contains("does not exist")
                            || err.message.contains("already exists"),
                        "{err:?}"
                    );
                }
            }
        });
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), SECRET);
        eprintln!("appended {appended}, refused {refused}");
        assert!(appended > 0, "no append went through at all");
    });
}

/// Search lists outside folders (race): the searched folder is swapped for a symlink to
/// an outside folder while the search runs. The walk is handle-relative, so no outside
/// name is ever returned.
#[test]
fn search_never_lists_an_outside_folder_swapped_in_as_a_symlink() {
    support::within(120, "the search race", || {
        let e = env(Settings::default());
        let outside = e.base.join("outside");
        let mut listed_inside = 0;
        race(&e, "dirlink", &outside, 15, 4000, |e| {
            for path in ["d/sub", "d"] {
                if let Ok(v) = e.call(
                    "io.fs.search",
                    json!({"path": path, "name_glob": "*", "include_hidden": true}),
                ) {
                    let text = v.to_string();
                    assert!(
                        !text.contains("outside-secret-name") && !text.contains("secret.txt"),
                        "an outside name was listed: {text}"
                    );
                    if text.contains("inside-name.txt") {
                        listed_inside += 1;
                    }
                }
            }
        });
        assert!(listed_inside > 0, "the search never worked at all");
    });
}

/// FIFO swap hangs: a regular file swapped for a FIFO between the type check and the
/// open hung read_file, stat with hash, search, write_file's before-image, copy, zip and
/// exec's snapshot of its working folder forever. Every one of them now opens without
/// blocking and refuses what is not a regular file; the whole race is bounded.
#[test]
fn fifo_swaps_never_hang_any_capability() {
    support::within(240, "the FIFO race (a call hung)", || {
        let mut settings = Settings::default();
        let have_true = Path::new("/usr/bin/true").exists() || Path::new("/bin/true").exists();
        if have_true {
            settings.exec.allow = vec!["true".into()];
        }
        let e = env(settings);
        let outside = e.base.join("outside/secret.txt");
        let mut ok = 0u64;
        race(&e, "fifo", &outside, 30, 1500, |e| {
            let calls: Vec<(&str, Value)> = vec![
                ("io.fs.read_file", json!({"path": "d/f"})),
                ("io.fs.stat", json!({"path": "d/f", "hash": true})),
                (
                    "io.fs.search",
                    json!({"path": "d", "content": "inside", "include_hidden": true}),
                ),
                // The before-image of an overwrite reads the old file.
                (
                    "io.fs.write_file",
                    json!({"path": "d/f", "content": "inside\n"}),
                ),
                (
                    "io.fs.copy",
                    json!({"source": "d/f", "destination": "copy.txt", "overwrite": true}),
                ),
                (
                    "sys.archive.zip",
                    json!({"sources": ["d/f"], "output": "out.zip"}),
                ),
            ];
            for (id, args) in calls {
                if e.call(id, args).is_ok() {
                    ok += 1;
                }
            }
            let _ = std::fs::remove_file(e.root.join("out.zip"));
            if have_true
                && e.call("sys.exec.run", json!({"command": "true", "cwd": "d"}))
                    .is_ok()
            {
                ok += 1;
            }
        });
        assert!(ok > 0, "no call ever succeeded");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), SECRET);
    });
}

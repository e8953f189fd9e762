//! The Python the interoperability tests drive: the official MCP Python SDK and other
//! pinned packages of `tests/python/requirements.txt`.

use super::manifest_dir;
use std::path::PathBuf;
use std::process::Command;

/// A script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    manifest_dir().join("tests/python").join(name)
}

/// A Python with the packages pinned in `tests/python/requirements.txt`: `AIRUN_PYTHON`
/// when set (`.ci/run` sets it), otherwise a virtualenv this test makes once under the
/// build folder and refreshes when the requirements change.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("AIRUN_PYTHON") {
        return PathBuf::from(p);
    }
    let requirements = manifest_dir().join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/python/requirements.txt");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python");
    std::fs::create_dir_all(&dir).expect("a folder for the test virtualenv");
    // One test process at a time makes the environment; the others wait for it.
    let lock = std::fs::File::create(dir.join("lock")).expect("the virtualenv lock file");
    lock.lock().expect("the virtualenv lock");
    let venv = dir.join("venv");
    let py = venv.join("bin/python");
    let stamp = dir.join("installed.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
        return py;
    }
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd.output().unwrap_or_else(|e| {
            panic!("could not {what}: {e}; install python3 (with venv) or set AIRUN_PYTHON")
        });
        assert!(
            out.status.success(),
            "could not {what} (needs python3 with venv and access to PyPI, or set \
             AIRUN_PYTHON to a python with the packages of {}):\n{}{}",
            requirements.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if !py.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "make a Python virtualenv",
        );
    }
    run(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "install the Python test packages",
    );
    std::fs::write(&stamp, &wanted).expect("the virtualenv stamp");
    py
}

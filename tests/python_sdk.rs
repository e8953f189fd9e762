//! A third-party client: the official MCP Python SDK (PyPI `mcp`, pinned in `.ci/run`)
//! connects over stdio and over Streamable HTTP, lists the tools and writes then reads a
//! file. The interpreter comes from `AIRUN_PYTHON`, or a virtualenv the test makes itself.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn script() -> PathBuf {
    manifest_dir().join("tests/python/sdk_roundtrip.py")
}

/// This package's folder, as `cargo test` gives it when the test runs (a path built in at
/// compile time would name another checkout when a shared build cache is reused).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn python_sdk_over_stdio() {
    let py = support::python::python();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let out = Command::new(py)
        .arg(script())
        .args(["stdio", env!("CARGO_BIN_EXE_airun")])
        .arg(&ws)
        .arg(tmp.path().join("home"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python sdk over stdio failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for mode in ["auto", "legacy"] {
        let written = std::fs::read_to_string(ws.join(format!("py/{mode}.txt"))).unwrap();
        assert_eq!(written, format!("written by the python sdk ({mode})"));
    }
}

#[test]
fn python_sdk_over_http() {
    let py = support::python::python();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_airun"))
        .arg("--workspace")
        .arg(&ws)
        .args(["serve", "--port", "0"])
        .env("AIRUN_HOME", tmp.path().join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(url) = line.strip_prefix("airun: serving MCP at ") {
            break url.trim().to_string();
        }
    };
    let out = Command::new(py)
        .arg(script())
        .args(["http", &url])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "python sdk over http failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ws.join("py/auto.txt").exists() && ws.join("py/legacy.txt").exists());
}

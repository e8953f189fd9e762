//! A third-party client: the official MCP Python SDK (PyPI `mcp`, pinned in `.ci/run`)
//! connects over stdio and over Streamable HTTP, lists the tools, writes then reads a
//! file, reads several at once, and reads an image as image content. The interpreter
//! comes from `AIRUN_PYTHON`, or a virtualenv the test makes itself.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The signature and header chunks of a 1x1 PNG (the script checks the content type and
/// the signature, not the pixels).
const PIXEL_PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
    0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde, 0, 0, 0, 0, b'I', b'E', b'N', b'D',
    0xae, 0x42, 0x60, 0x82,
];

/// A workspace holding `pixel.png`.
fn workspace(tmp: &tempfile::TempDir) -> PathBuf {
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("pixel.png"), PIXEL_PNG).unwrap();
    ws
}

fn script() -> PathBuf {
    manifest_dir().join("tests/python/sdk_roundtrip.py")
}

use support::manifest_dir;

#[test]
fn python_sdk_over_stdio() {
    let py = support::python::python();
    let tmp = tempfile::tempdir().unwrap();
    let ws = workspace(&tmp);
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
    let ws = workspace(&tmp);
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

//! The container image: the repository's `Dockerfile` built by podman and run with a
//! workspace volume, as the README's `docker run` line does.
//!
//! No container registry is reachable here, so the test stands in for the two images the
//! Dockerfile names: the build stage is replaced (`--build-context build=...`) by the
//! `airun` binary this test run built, and the runtime base by an image the test makes
//! from that binary's shared libraries, with distroless's `nonroot` user (65532). The
//! Dockerfile's own runtime stage is built as it is.

mod support;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::serve::free_port;

const TOKEN: &str = "container-test-token-0123456789";

fn podman(args: &[&str]) -> Output {
    let out = Command::new("podman")
        .args(args)
        .output()
        .expect("run podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Flags `podman run` needs on this kind of machine: runc when installed (crun cannot
/// run on a hybrid cgroup hierarchy), and resource limits no higher than this process's
/// (podman's defaults may be above what an unprivileged-in-a-VM root can set).
fn run_flags() -> Vec<String> {
    let mut flags = Vec::new();
    if Command::new("runc").arg("--version").output().is_ok() {
        flags.extend(["--runtime".to_string(), "runc".to_string()]);
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().rev().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(n) = hard("Max open files") {
        flags.extend(["--ulimit".to_string(), format!("nofile={n}:{n}")]);
    }
    if let Some(n) = hard("Max processes") {
        let n = n.min(32768);
        flags.extend(["--ulimit".to_string(), format!("nproc={n}:{n}")]);
    }
    flags
}

/// A runtime base standing in for distroless/cc: the binary's shared libraries, the
/// `nonroot` user and group, `/tmp`.
fn base_rootfs(binary: &Path, dir: &Path) {
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = dir.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, &to).unwrap();
    }
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n").unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::create_dir_all(dir.join("home/nonroot")).unwrap();
}

/// Removes the test's containers and images, also when the test fails.
struct Cleanup {
    names: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("podman").args(["rm", "-f", n]).output();
        }
        for i in &self.images {
            let _ = Command::new("podman").args(["rmi", "-f", i]).output();
        }
    }
}

/// One HTTP/1.1 request on loopback; the status and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[test]
fn the_image_runs_airun_as_nonroot_on_a_workspace_volume() {
    let has_podman = Command::new("podman").arg("--version").output().is_ok();
    if !support::ci::require("podman (a container engine)", has_podman) {
        return;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_airun"));
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let base = format!("localhost/airun-test-runtime:{tag}");
    let image = format!("localhost/airun-test:{tag}");
    let mut cleanup = Cleanup {
        names: Vec::new(),
        images: vec![image.clone(), base.clone()],
    };

    // The stand-in runtime base.
    let root = tmp.path().join("rootfs");
    base_rootfs(binary, &root);
    let tar = tmp.path().join("rootfs.tar");
    let made = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(made.success());
    podman(&["import", "-q", tar.to_str().unwrap(), &base]);

    // The build stage's output: /out/airun, /out/workspace, /out/state.
    let out = tmp.path().join("build/out");
    std::fs::create_dir_all(out.join("workspace")).unwrap();
    std::fs::create_dir_all(out.join("state")).unwrap();
    std::fs::copy(binary, out.join("airun")).unwrap();
    let context = tmp.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    let dockerfile = support::manifest_dir().join("Dockerfile");
    podman(&[
        "build",
        "-q",
        "--target",
        "runtime",
        "--build-context",
        &format!("build={}", tmp.path().join("build").display()),
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "-f",
        dockerfile.to_str().unwrap(),
        "-t",
        &image,
        context.to_str().unwrap(),
    ]);

    // The image's layout: non-root, the two volumes, the state under /state, the port,
    // and `airun serve` on every interface as its command.
    let inspect = podman(&["image", "inspect", &image]);
    let inspect: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], "65532:65532", "{config}");
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/airun"]));
    assert_eq!(
        config["Cmd"],
        json!(["serve", "--port", "8765", "--host", "0.0.0.0"])
    );
    assert!(config["Volumes"].get("/workspace").is_some(), "{config}");
    assert!(config["Volumes"].get("/state").is_some(), "{config}");
    assert!(config["ExposedPorts"].get("8765/tcp").is_some(), "{config}");
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"AIRUN_HOME=/state"), "{env:?}");
    assert!(env.contains(&"AIRUN_WORKSPACE=/workspace"), "{env:?}");

    let flags = run_flags();
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();

    // Without a token, serving on every interface is refused with the reason.
    let mut args = vec!["run", "--rm", "--network", "host"];
    args.extend(&flag_refs);
    args.push(&image);
    let refused = Command::new("podman").args(&args).output().unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("token"), "{why}");

    // With the token and a workspace volume, a change made over HTTP lands on the host.
    let ws = tmp.path().join("workspace");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let port = free_port();
    let name = format!("airun-test-{tag}");
    cleanup.names.push(name.clone());
    let ws_volume = format!("{}:/workspace:U", ws.display());
    let state_volume = format!("{}:/state:U", state.display());
    let port_arg = port.to_string();
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "-v",
        &ws_volume,
        "-v",
        &state_volume,
        "-e",
    ];
    let token_env = format!("AIRUN_TOKEN={TOKEN}");
    args.push(&token_env);
    args.extend(&flag_refs);
    args.extend([
        image.as_str(),
        "serve",
        "--port",
        &port_arg,
        "--host",
        "0.0.0.0",
        "--yes",
    ]);
    podman(&args);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, _)) = http(port, "GET", "/api/v1/capabilities", "") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the container never answered: {}",
            String::from_utf8_lossy(&podman(&["logs", &name]).stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/capabilities/io.fs.write_file/calls",
        &json!({"path": "hello.txt", "content": "from the container\n"}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(ws.join("hello.txt")).unwrap(),
        "from the container\n"
    );
    let (_, history) = http(port, "GET", "/api/v1/history", "").unwrap();
    assert!(history.contains("io.fs.write_file"), "{history}");
    // The journal and audit log are on the state volume, not in the workspace.
    assert!(
        std::fs::read_dir(&state).unwrap().next().is_some(),
        "nothing under the state volume"
    );

    // The server runs as the non-root user.
    let pid = podman(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().nth(1) == Some("65532"), "{uid}");
    drop(cleanup);
}

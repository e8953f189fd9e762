//! A real `airun serve --port 0` process: started, its address read from what it prints,
//! killed when dropped; and a free loopback port for the other servers a test starts.
//! (Also used by the benches, so it stands alone.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A process killed (and reaped) when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `airun --workspace WS serve --port 0 --log-level warn ARGS` with `AIRUN_HOME` set and
/// the environment's token and seal key left out.
pub fn command(airun: &Path, workspace: &Path, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(airun);
    cmd.arg("--workspace")
        .arg(workspace)
        .args(["serve", "--port", "0", "--log-level", "warn"])
        .args(args)
        .env("AIRUN_HOME", home)
        .env_remove("AIRUN_TOKEN")
        .env_remove("AIRUN_WORKSPACE")
        .env_remove("AIRUN_SEAL_KEY")
        .env_remove("FAILPOINTS");
    cmd
}

/// A started server: the process, the REST API's address (`127.0.0.1:PORT`), and the
/// operator token it made and printed when none was given.
pub struct Started {
    /// The process.
    pub process: Running,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The token the server made (`None` when `--token` was given).
    pub made_token: Option<String>,
}

/// Starts `cmd` and waits for the REST API's address it prints (and the operator token,
/// when `cmd` gives none); the rest of its output goes to this process's stderr, marked.
pub fn start(mut cmd: Command) -> Started {
    let given = cmd.get_args().any(|a| a == "--token");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn airun serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (mut addr, mut made_token) = (None, None);
    for line in lines.by_ref() {
        let line = line.expect("the server's stderr");
        if let Some(url) = line.strip_prefix("airun: REST API at ") {
            addr = Some(
                url.trim()
                    .trim_start_matches("http://")
                    .trim_end_matches("/api/v1")
                    .to_string(),
            );
        }
        if let Some(t) = line.strip_prefix("airun: operator token (") {
            made_token = t.rsplit(": ").next().map(|t| t.trim().to_string());
        }
        if addr.is_some() && (given || made_token.is_some()) {
            break;
        }
    }
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .for_each(|l| eprintln!("[airun] {l}"))
    });
    Started {
        process: Running(child),
        addr: addr.expect("the server prints its address"),
        made_token,
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A user `airun user add NAME --role ROLE --json ARGS` made in `home`: their token and
/// workspace.
pub struct NewUser {
    /// The token, shown once.
    pub token: String,
    /// Their workspace.
    pub workspace: std::path::PathBuf,
}

/// Runs `airun user add NAME --role ROLE --json ARGS` with `AIRUN_HOME=home`.
pub fn add_user(airun: &Path, home: &Path, name: &str, role: &str, args: &[&str]) -> NewUser {
    let out = Command::new(airun)
        .args(["user", "add", name, "--role", role, "--json"])
        .args(args)
        .env("AIRUN_HOME", home)
        .env_remove("AIRUN_WORKSPACE")
        .env_remove("AIRUN_TOKEN")
        .output()
        .expect("run airun user add");
    assert!(
        out.status.success(),
        "airun user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from user add");
    NewUser {
        token: v["token"].as_str().expect("a token").to_string(),
        workspace: v["user"]["workspace"].as_str().expect("a workspace").into(),
    }
}

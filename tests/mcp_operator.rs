//! What the operator and the client decide over MCP, with the rmcp client and the official
//! Python SDK: the policy's `tools` list turns capabilities off (they leave the tool list
//! and are refused), the history and the audit log are MCP resources, and a client's roots
//! narrow the workspace, never widen it.

// Roots are deprecated from protocol revision 2026-07-28 on; clients of earlier
// revisions still send them.
#![allow(deprecated)]

mod support;

use rmcp::RoleClient;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use support::mcp::{
    AIRUN, Answer, Client, Dirs, RootsClient, TestClient, call, catalog_names, connect, file_uri,
    is_error, serve_with_roots,
};

/// Writes a policy file beside the workspace and returns its path.
fn policy(dirs: &Dirs, text: &str) -> PathBuf {
    let path = dirs.home.join("operator.toml");
    std::fs::write(&path, text).expect("the policy file");
    path
}

async fn start(dirs: &Dirs, extra: &[&str]) -> Client {
    let mut args = vec!["serve", "--mcp", "--yes", "--log-level", "error"];
    args.extend_from_slice(extra);
    let (transport, _) = TokioChildProcess::builder(dirs.command(&args))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn airun");
    connect(TestClient::new(Answer::NoElicitation), transport).await
}

#[tokio::test]
async fn the_tools_list_turns_capabilities_off() {
    let dirs = Dirs::new();
    let file = policy(&dirs, "tools = [\"*\", \"!sys.exec.run\", \"!net.*\"]\n");
    let client = start(&dirs, &["--policy", file.to_str().unwrap()]).await;
    let listed: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let expected: Vec<String> = catalog_names()
        .into_iter()
        .filter(|n| n != "sys_exec_run" && !n.starts_with("net_"))
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(sorted, want);
    assert!(want.len() < catalog_names().len());

    // A turned-off tool is refused, naming the policy, even when called by name.
    let r = call(
        &client,
        "net_http_get",
        json!({"url": "http://127.0.0.1:9/"}),
    )
    .await;
    let why = is_error(&r);
    assert!(
        why.contains("turned off by the operator's `tools` list"),
        "{why}"
    );
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "a.txt", "content": "a"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    client.cancel().await.ok();

    // Only some: the last match decides.
    let only = policy(
        &dirs,
        "tools = [\"io.fs.read_file\", \"io.fs.*\", \"!io.fs.delete\", \"sys.history\"]\n",
    );
    let out = Command::new(AIRUN)
        .args(["--policy", only.to_str().unwrap(), "list", "--json"])
        .env("AIRUN_HOME", &dirs.home)
        .output()
        .expect("airun list");
    let list: Value = serde_json::from_slice(&out.stdout).expect("list --json");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"io.fs.read_file") && ids.contains(&"sys.history"));
    assert!(!ids.contains(&"io.fs.delete") && !ids.contains(&"sys.exec.run"));
    assert!(
        ids.iter()
            .all(|id| id.starts_with("io.fs.") || *id == "sys.history")
    );

    // A bad entry stops airun with the place and what is wrong.
    let bad = policy(&dirs, "tools = [\"*\", \"!Net\"]\n");
    let out = Command::new(AIRUN)
        .args(["--policy", bad.to_str().unwrap(), "list"])
        .env("AIRUN_HOME", &dirs.home)
        .output()
        .expect("airun list");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("operator.toml:1:15: `tools`: `!Net` is not a capability id or glob"),
        "{err}"
    );
}

fn resource_text(contents: &[ResourceContents]) -> Value {
    match contents.first() {
        Some(ResourceContents::TextResourceContents {
            text, mime_type, ..
        }) => {
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            serde_json::from_str(text).expect("JSON text")
        }
        other => panic!("expected one text resource, got {other:?}"),
    }
}

#[tokio::test]
async fn history_and_audit_are_resources() {
    let dirs = Dirs::new();
    let client = start(&dirs, &[]).await;
    let listed = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["airun://history", "airun://audit"]);
    assert!(listed.iter().all(|r| r.description.is_some()));

    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "a.txt", "content": "a"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false));
    let r = call(&client, "io_fs_read_file", json!({"path": "../x"})).await;
    assert_eq!(r.is_error, Some(true));

    let history = client
        .read_resource(ReadResourceRequestParams::new("airun://history"))
        .await
        .expect("resources/read");
    let history = resource_text(&history.contents);
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(history[0]["capability"], "io.fs.write_file");
    assert_eq!(history[0]["state"], "done");

    let audit = client
        .read_resource(ReadResourceRequestParams::new("airun://audit"))
        .await
        .expect("resources/read");
    let audit = resource_text(&audit.contents);
    let seen: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["capability"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("io.fs.write_file", "ok"),
            ("io.fs.read_file", "denied_sandbox")
        ]
    );
    // Sensitive inputs stay redacted in the resource too.
    assert_ne!(audit[0]["params"]["content"], "a");

    let missing = client
        .read_resource(ReadResourceRequestParams::new("airun://nope"))
        .await
        .expect_err("an unknown resource is an error");
    assert!(missing.to_string().contains("airun://history"), "{missing}");
}

async fn start_with_roots(
    dirs: &Dirs,
    roots: Arc<Mutex<Vec<String>>>,
) -> RunningService<RoleClient, RootsClient> {
    let cmd = dirs.command(&["serve", "--mcp", "--yes", "--log-level", "error"]);
    serve_with_roots(cmd, Some(roots)).await
}

#[tokio::test]
async fn client_roots_narrow_the_workspace_and_never_widen_it() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.path("app/src")).unwrap();
    std::fs::create_dir_all(dirs.path("lib")).unwrap();
    let outside = dirs.home.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let roots = Arc::new(Mutex::new(vec![
        file_uri(&dirs.path("app")),
        // Outside the workspace: ignored, never reachable.
        file_uri(&outside),
    ]));
    let client = start_with_roots(&dirs, roots.clone()).await;
    let write = |path: &'static str| {
        let client = &client;
        async move {
            let args = json!({"path": path, "content": "x", "create_dirs": true});
            call(client, "io_fs_write_file", args).await
        }
    };
    let r = write("app/src/main.rs").await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    for refused in ["lib/x.rs", "top.txt"] {
        let r = write(refused).await;
        assert_eq!(r.is_error, Some(true), "{refused}: {r:?}");
        let text = format!("{r:?}");
        assert!(
            text.contains("outside the folders this client gave as its roots"),
            "{text}"
        );
        assert!(!dirs.path(refused).exists());
    }
    let r = write("../outside/x.txt").await;
    assert_eq!(r.is_error, Some(true));
    assert!(!outside.join("x.txt").exists());

    // The client's list changes to the whole workspace: everything is reachable again.
    *roots.lock().unwrap() = vec![file_uri(&dirs.ws)];
    client
        .notify_roots_list_changed()
        .await
        .expect("notifications/roots/list_changed");
    // The notification and the next call travel in order on one stream.
    let r = write("lib/x.rs").await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert!(dirs.path("lib/x.rs").exists());
    client.cancel().await.ok();
}

#[test]
fn python_sdk_sees_tools_policy_resources_and_roots() {
    let py = support::python::python();
    let dirs = Dirs::new();
    let file = policy(&dirs, "tools = [\"*\", \"!sys.exec.run\"]\n");
    let out = Command::new(py)
        .arg(support::python::script("sdk_operator.py"))
        .arg(AIRUN)
        .arg(&dirs.ws)
        .arg(&dirs.home)
        .arg(&file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python sdk failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

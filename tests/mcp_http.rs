//! `airun serve --port` driven by the rmcp Streamable HTTP client on 127.0.0.1.

mod support;

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;
use support::mcp::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const TOKEN: &str = "test-token-0123456789";

struct Server {
    child: Child,
    url: String,
    addr: String,
}

impl Server {
    /// Starts `airun serve --port 0` and reads the bound address from stderr.
    async fn start(dirs: &Dirs, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--port", "0", "--log-level", "warn"];
        args.extend_from_slice(extra);
        let mut cmd = dirs.command(&args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn airun");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("airun: serving MCP at ") {
                    return url.trim().to_string();
                }
            }
            panic!("airun exited before serving");
        })
        .await
        .expect("the server starts");
        // Keep draining stderr so the server never blocks on it.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[airun] {line}");
            }
        });
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .to_string();
        Server { child, url, addr }
    }

    async fn client(&self, handler: TestClient, token: Option<&str>) -> Client {
        tls_provider();
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url.clone());
        if let Some(t) = token {
            config = config.auth_header(t);
        }
        connect(handler, StreamableHttpClientTransport::from_config(config)).await
    }

    /// Sends one raw HTTP request and returns the status code.
    fn raw_status(&self, headers: &[(&str, &str)], body: &str) -> u16 {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = "POST /mcp HTTP/1.1\r\n".to_string();
        let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
        if !has_host {
            req.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"))
    }
}

/// reqwest is built with `rustls-no-provider` (airun's own net.http client picks ring),
/// so the test client needs the provider installed before it is built.
fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

#[tokio::test]
async fn lists_tools_and_calls_each_side_effect_class() {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("hello.txt"), "hello\n").unwrap();
    let server = Server::start(&dirs, &["--token", TOKEN]).await;
    for handler in [
        TestClient::new(Answer::Accept),
        TestClient::new(Answer::Accept).modern(),
    ] {
        let modern = handler.version.as_str() >= "2026-07-28";
        let client = server.client(handler, Some(TOKEN)).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        check_tool_list(&tools);

        let r = call(&client, "data_json_parse", json!({"text": "[1]"})).await;
        ok_structured(&tools, "data_json_parse", &r);
        let r = call(&client, "io_fs_read_file", json!({"path": "hello.txt"})).await;
        ok_structured(&tools, "io_fs_read_file", &r);
        let path = format!("w-{modern}.txt");
        let r = call(
            &client,
            "io_fs_write_file",
            json!({"path": path, "content": "written"}),
        )
        .await;
        ok_structured(&tools, "io_fs_write_file", &r);
        assert_eq!(
            std::fs::read_to_string(dirs.path(&path)).unwrap(),
            "written"
        );
        assert_eq!(client.service().asked().len(), 1, "modern={modern}");
        let r = call(&client, "sys_info_get_os", json!({})).await;
        ok_structured(&tools, "sys_info_get_os", &r);
        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn elicitation_decline_and_no_elicitation_write_nothing() {
    let dirs = Dirs::new();
    // Confirmation by elicitation only: a client that cannot elicit is refused at once
    // (with the console allowed, its call would wait for a person: tests/confirmations.rs).
    std::fs::write(
        dirs.home.join("policy.toml"),
        "[confirm]\nvia = [\"elicitation\"]\n",
    )
    .unwrap();
    let server = Server::start(&dirs, &[]).await;
    for handler in [
        TestClient::new(Answer::Decline),
        TestClient::new(Answer::Cancel).modern(),
        TestClient::new(Answer::NoElicitation),
        TestClient::new(Answer::NoElicitation).modern(),
    ] {
        let answer = handler.answer;
        let client = server.client(handler, None).await;
        let r = call(
            &client,
            "io_fs_write_file",
            json!({"path": "a.txt", "content": "x"}),
        )
        .await;
        let t = is_error(&r);
        if answer == Answer::NoElicitation {
            assert!(t.contains("--yes"), "{t}");
        } else {
            assert!(t.contains("declined by the user"), "{t}");
        }
        assert!(!dirs.path("a.txt").exists());
        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn unknown_tool_bad_arguments_and_progress() {
    let dirs = Dirs::new();
    make_tree(&dirs.path("src"), 200);
    let server = Server::start(&dirs, &[]).await;
    let client = server
        .client(TestClient::new(Answer::NoElicitation), None)
        .await;
    let err = client
        .call_tool(rmcp::model::CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool");
    match err {
        rmcp::ServiceError::McpError(e) => {
            assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS)
        }
        other => panic!("expected -32602, got {other:?}"),
    }
    let t = is_error(&call(&client, "io_fs_read_file", json!({"path": ["x"]})).await);
    assert!(t.contains("path"), "{t}");
    let r = call(
        &client,
        "io_fs_copy",
        json!({"source": "src", "destination": "dst"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(
        !client.service().progress.lock().unwrap().is_empty(),
        "no progress over HTTP"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn wrong_or_missing_token_is_401() {
    let dirs = Dirs::new();
    let server = Server::start(&dirs, &["--token", TOKEN]).await;
    assert_eq!(server.raw_status(&[], INIT), 401);
    assert_eq!(
        server.raw_status(&[("Authorization", "Bearer wrong")], INIT),
        401
    );
    assert_eq!(
        server.raw_status(&[("Authorization", &format!("Bearer {TOKEN}"))], INIT),
        200
    );
    // The rmcp client with a wrong token cannot connect.
    tls_provider();
    let mut config = StreamableHttpClientTransportConfig::with_uri(server.url.clone());
    config = config.auth_header("wrong");
    let handler = TestClient::new(Answer::NoElicitation);
    let lifecycle = handler.lifecycle();
    use rmcp::service::ClientServiceExt;
    assert!(
        handler
            .serve_with_lifecycle(
                StreamableHttpClientTransport::from_config(config),
                lifecycle
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn foreign_origin_and_host_are_403() {
    let dirs = Dirs::new();
    let server = Server::start(&dirs, &["--token", TOKEN]).await;
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(
        server.raw_status(
            &[("Authorization", &auth), ("Origin", "https://evil.example")],
            INIT
        ),
        403
    );
    assert_eq!(
        server.raw_status(&[("Authorization", &auth), ("Host", "evil.example")], INIT),
        403
    );
    // A local page is fine.
    assert_eq!(
        server.raw_status(
            &[
                ("Authorization", &auth),
                ("Origin", "http://localhost:3000")
            ],
            INIT
        ),
        200
    );
}

#[tokio::test]
async fn non_loopback_host_requires_a_token() {
    let dirs = Dirs::new();
    let out = dirs
        .command(&["serve", "--port", "0", "--host", "0.0.0.0"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dirs = Dirs::new();
    let mut server = Server::start(&dirs, &[]).await;
    let client = server
        .client(TestClient::new(Answer::NoElicitation), None)
        .await;
    let r = call(&client, "data_json_parse", json!({"text": "true"})).await;
    assert_eq!(r.is_error, Some(false));
    let pid = server.child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("airun exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    drop(client);
}

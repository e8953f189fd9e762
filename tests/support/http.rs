//! A client for a running server over real HTTP: a method, a path, a bearer token and a
//! JSON body in; the status, the headers and the JSON body out.

use serde_json::{Value, json};
use std::time::Duration;

/// The REST API, `/mcp` and the other endpoints of the server at one address.
pub struct Api {
    /// The client, for the requests the helpers do not cover (a browser's, a stream's).
    pub http: reqwest::Client,
    base: String,
}

/// One answer.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The response's headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON; a body that is not JSON as a string; `null` for an event stream
    /// (left unread, as it does not end).
    pub body: Value,
}

impl Reply {
    /// The header `name` (`WWW-Authenticate`, `Retry-After`...), empty when there is none.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }
}

impl Api {
    /// The server at `addr` (`127.0.0.1:PORT`).
    pub fn new(addr: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
        }
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with `token` (none when empty) and `body` (sent unless the method
    /// is `GET`), accepting JSON or an event stream.
    pub async fn reply(&self, token: &str, method: &str, path: &str, body: Value) -> Reply {
        self.reply_with(token, method, path, &[], body).await
    }

    /// [`Api::reply`] with more request headers (`mcp-session-id`...).
    pub async fn reply_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        let mut req = self
            .http
            .request(method.parse().expect("an HTTP method"), self.url(path))
            .timeout(Duration::from_secs(60))
            .header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if method != "GET" {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the server answers");
        let mut reply = Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: Value::Null,
        };
        if reply
            .header("content-type")
            .starts_with("text/event-stream")
        {
            return reply;
        }
        let text = resp.text().await.unwrap_or_default();
        reply.body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        reply
    }

    /// [`Api::reply`]'s status and body.
    pub async fn send(&self, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.reply(token, method, path, body).await;
        (r.status, r.body)
    }

    /// `GET path` as `token`: status and body.
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(token, "GET", path, Value::Null).await
    }

    /// `GET path` as `token` answers 200: its body.
    pub async fn get_ok(&self, token: &str, path: &str) -> Value {
        self.ok(token, "GET", path, Value::Null).await
    }

    /// `POST /api/v1/capabilities/CAP/calls` as `token`: status and body.
    pub async fn call(&self, token: &str, cap: &str, params: Value) -> (u16, Value) {
        let path = format!("/api/v1/capabilities/{cap}/calls");
        self.send(token, "POST", &path, params).await
    }

    /// `token` writes `content` to `path` with `io.fs.write_file`, which succeeds: the
    /// result.
    pub async fn write(&self, token: &str, path: &str, content: &str) -> Value {
        let params = json!({"path": path, "content": content});
        let (s, v) = self.call(token, "io.fs.write_file", params).await;
        assert_eq!(s, 200, "write {path}: {v}");
        v
    }

    /// `method path` as `token` answers 200: its body.
    pub async fn ok(&self, token: &str, method: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.send(token, method, path, body).await;
        assert_eq!(s, 200, "{method} {path}: {v}");
        v
    }

    /// `method path` as `token` is refused with `want`, a status and an error kind:
    /// the body.
    pub async fn refused(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
        want: (u16, &str),
    ) -> Value {
        let (s, v) = self.send(token, method, path, body).await;
        assert_eq!((s, error_kind(&v)), want, "{method} {path}: {v}");
        v
    }

    /// An MCP client over the server's `/mcp` with `token`, accepting every question.
    pub async fn mcp(&self, token: &str) -> super::mcp::Client {
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let config = StreamableHttpClientTransportConfig::with_uri(self.url("/mcp"))
            .auth_header(token.to_string());
        super::mcp::connect(
            super::mcp::TestClient::new(super::mcp::Answer::Accept),
            StreamableHttpClientTransport::from_config(config),
        )
        .await
    }
}

/// The `error.kind` of an error body (empty when there is none).
pub fn error_kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap_or("")
}

/// An MCP `initialize` request from a client named `name`.
pub fn mcp_initialize(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": name, "version": "1"}}})
}

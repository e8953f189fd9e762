//! For the console API tests: a workspace with a real time machine (SQLite journal and
//! audit), an events bus, a confirmations broker and a pipeline over them, served over
//! real HTTP on loopback; and a small Server-Sent Events reader.
//!
//! The console is served by the same listener and router as `airun serve --port`, so the
//! tests go through its token check, Host/Origin rules and body limit.

use airun::CapError;
use airun::adapters::mcp::{McpServer, ServerOptions};
use airun::adapters::rest::Api;
use airun::events::EventBus;
use airun::pipeline::{Broker, CallOptions, Confirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::server::app::{AppOptions, router};
use airun::server::{HttpOptions, HttpServer};
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Deferred, TimeMachine};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The pipeline type the tests run.
pub type Kernel = Pipeline<Capabilities<Stdlib>>;

/// The operator token the tests' API requests carry.
pub const TOKEN: &str = "console-test-token-0123456789";

/// A running console over a fresh workspace.
pub struct Console {
    _tmp: tempfile::TempDir,
    /// The workspace root.
    pub root: PathBuf,
    /// The MCP server over the pipeline (cheap to clone; shared with the threads that
    /// make calls), with the broker as its console.
    pub server: McpServer<Capabilities<Stdlib>>,
    /// Its Streamable HTTP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub mcp_url: String,
    /// The time machine (journal and audit log).
    pub tm: Arc<TimeMachine>,
    /// The events bus.
    pub bus: Arc<EventBus>,
    /// The confirmations broker.
    pub broker: Arc<Broker>,
    /// `http://127.0.0.1:PORT/api/v1`.
    pub base: String,
    /// An HTTP client.
    pub http: reqwest::Client,
}

impl Console {
    /// A console whose bus keeps `ring` events and whose broker waits `timeout`.
    pub async fn start(ring: usize, timeout: Duration) -> Console {
        Console::start_with(ring, timeout, Settings::default()).await
    }

    /// [`Console::start`] under the given operator settings.
    pub async fn start_with(ring: usize, timeout: Duration, settings: Settings) -> Console {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tmp = tempfile::tempdir().expect("temp dir");
        let base_dir = tmp.path().canonicalize().expect("canonical temp dir");
        let root = base_dir.join("ws");
        let home = base_dir.join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(root.join("keep.txt"), "unchanged\n").unwrap();
        let workspace = Workspace::open(&root, false, Some(&home)).expect("workspace opens");
        let tm = Arc::new(
            TimeMachine::open(&home, &workspace, Default::default()).expect("time machine opens"),
        );
        let bus = Arc::new(EventBus::new(ring));
        let broker = Arc::new(Broker::new(timeout).with_events(bus.clone()));
        let pipeline = Pipeline::new(airun::stdlib::capabilities(), workspace, settings)
            .with_journal(Box::new(tm.clone()))
            .with_audit(Box::new(tm.clone()))
            .with_events(bus.clone());
        let server =
            McpServer::new(pipeline, ServerOptions::default()).with_console(broker.clone());
        // The real listener and router of `airun serve --port`: `/mcp` and `/api/v1`
        // (the REST API, the events stream and the confirmations) behind the token.
        let api_state = Arc::new(
            Deferred::new(
                home.clone(),
                server.pipeline().workspace(),
                Default::default(),
            )
            .expect("state opens"),
        );
        let api = Api::new(server.clone(), api_state, false);
        let app = router(
            server.clone(),
            api,
            AppOptions {
                bound_host: "127.0.0.1".into(),
                mcp_token: None,
                api_token: TOKEN.into(),
                sessions: CancellationToken::new(),
                console: (bus.clone(), broker.clone()),
                browsers: Default::default(),
            },
        );
        let listener = HttpServer::bind(&HttpOptions {
            host: "127.0.0.1".into(),
            port: 0,
            token: None,
        })
        .await
        .expect("the listener binds");
        let mcp_url = listener.url("/mcp");
        let base = listener.url("/api/v1");
        tokio::spawn(async move {
            listener
                .serve(app, CancellationToken::new(), CancellationToken::new())
                .await
                .expect("the listener serves");
        });
        let mut auth = reqwest::header::HeaderMap::new();
        auth.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {TOKEN}").parse().expect("a header value"),
        );
        let http = reqwest::Client::builder()
            .default_headers(auth)
            .build()
            .expect("an HTTP client");
        Console {
            _tmp: tmp,
            root,
            server,
            mcp_url,
            tm,
            bus,
            broker,
            base,
            http,
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Kernel {
        self.server.pipeline()
    }

    /// Runs a call on a blocking thread, as an adapter would.
    pub fn call(
        &self,
        name: &str,
        args: Value,
        confirmer: Arc<dyn Confirmer>,
    ) -> tokio::task::JoinHandle<Result<Value, CapError>> {
        let server = self.server.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            server
                .pipeline()
                .execute(&name, args, confirmer.as_ref(), CallOptions::default())
        })
    }

    /// `GET {base}{path}` as JSON.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST {base}{path}` with a raw body as JSON.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `n` calls wait in `GET /confirmations`, and returns the list.
    pub async fn wait_pending(&self, n: usize) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, list) = self.get_json("/confirmations").await;
            assert_eq!(status, 200);
            let list = list.as_array().cloned().unwrap_or_default();
            if list.len() == n {
                return list;
            }
            assert!(
                Instant::now() < until,
                "{n} waiting calls expected, GET /confirmations shows {list:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens `GET /events` (resuming after `last` when given) and waits until the bus
    /// counts `viewers` subscribers.
    pub async fn viewer(&self, last: Option<u64>, viewers: usize) -> Viewer {
        let mut req = self.http.get(format!("{}/events", self.base));
        if let Some(id) = last {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let until = Instant::now() + Duration::from_secs(10);
        while self.bus.subscribers() < viewers {
            assert!(Instant::now() < until, "the viewer never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Viewer::new(response)
    }
}

/// One SSE message.
#[derive(Debug, Clone)]
pub struct Message {
    /// `id:`
    pub id: u64,
    /// `event:`
    pub event: String,
    /// `data:` as JSON.
    pub data: Value,
}

/// An open `GET /events` stream.
pub struct Viewer {
    response: reqwest::Response,
    buf: String,
}

impl Viewer {
    /// Reads the messages of `response`, an open event stream.
    pub fn new(response: reqwest::Response) -> Viewer {
        Viewer {
            response,
            buf: String::new(),
        }
    }

    /// The next message (comments and keep-alives skipped); fails after 20 s.
    pub async fn next(&mut self) -> Message {
        self.next_within(Duration::from_secs(20))
            .await
            .expect("an event within 20 s")
    }

    /// The next message, or `None` when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Message> {
        tokio::time::timeout(wait, self.next_inner()).await.ok()
    }

    /// The next `n` messages.
    pub async fn take(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    async fn next_inner(&mut self) -> Message {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if let Some(id) = id {
                    return Message {
                        id,
                        event,
                        data: serde_json::from_str(&data).expect("data is JSON"),
                    };
                }
                continue;
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("the stream reads")
                .expect("the stream stays open");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

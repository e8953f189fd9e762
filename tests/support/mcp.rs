//! For the MCP integration tests: a real rmcp client handler, the `airun` binary, and
//! checks on results.

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation, ProgressNotificationParam, ProtocolVersion,
    Tool,
};
use rmcp::service::ClientServiceExt;
use rmcp::service::{ClientLifecycleMode, NotificationContext, RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The binary under test.
pub const AIRUN: &str = env!("CARGO_BIN_EXE_airun");

/// A workspace and an airun home in one temporary folder.
pub struct Dirs {
    _tmp: tempfile::TempDir,
    /// The workspace.
    pub ws: PathBuf,
    /// `$AIRUN_HOME`.
    pub home: PathBuf,
}

impl Dirs {
    pub fn new() -> Dirs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ws = tmp.path().join("ws");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&ws).expect("ws");
        std::fs::create_dir_all(&home).expect("home");
        Dirs {
            _tmp: tmp,
            ws,
            home,
        }
    }

    /// `airun --workspace <ws> <args>` with `AIRUN_HOME` set.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(AIRUN);
        c.arg("--workspace").arg(&self.ws).args(args);
        c.env("AIRUN_HOME", &self.home)
            .env_remove("AIRUN_TOKEN")
            .env_remove("AIRUN_WORKSPACE");
        c.kill_on_drop(true);
        c
    }

    /// Runs `airun --workspace <ws> <args>` with `AIRUN_HOME` set, no colour and wide
    /// tables, and shows what it printed (on this test's stderr): its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let out = std::process::Command::new(AIRUN)
            .arg("--workspace")
            .arg(&self.ws)
            .args(args)
            .env("AIRUN_HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "200")
            .env_remove("AIRUN_WORKSPACE")
            .env_remove("AIRUN_TOKEN")
            .output()
            .expect("run airun");
        eprintln!(
            "airun {args:?}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.ws.join(rel)
    }
}

/// How the test client answers elicitations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The client does not declare the elicitation capability.
    NoElicitation,
    Accept,
    Decline,
    Cancel,
}

/// A client handler that records what the server asked and the progress it reported.
#[derive(Clone)]
pub struct TestClient {
    pub answer: Answer,
    pub asked: Arc<Mutex<Vec<String>>>,
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub progress_tx: Option<mpsc::UnboundedSender<ProgressNotificationParam>>,
    pub version: ProtocolVersion,
}

impl TestClient {
    pub fn new(answer: Answer) -> TestClient {
        TestClient {
            answer,
            asked: Arc::default(),
            progress: Arc::default(),
            progress_tx: None,
            version: ProtocolVersion::V_2025_11_25,
        }
    }

    /// Speaks protocol 2026-07-28 (confirmation through `input_required`).
    pub fn modern(mut self) -> TestClient {
        self.version = ProtocolVersion::V_2026_07_28;
        self
    }

    /// Speaks an older protocol revision.
    pub fn version(mut self, v: ProtocolVersion) -> TestClient {
        self.version = v;
        self
    }

    /// Sends every progress notification to the returned receiver too.
    pub fn watch_progress(&mut self) -> mpsc::UnboundedReceiver<ProgressNotificationParam> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.progress_tx = Some(tx);
        rx
    }

    pub fn lifecycle(&self) -> ClientLifecycleMode {
        if self.version.as_str() >= ProtocolVersion::V_2026_07_28.as_str() {
            ClientLifecycleMode::Discover {
                preferred_versions: vec![self.version.clone()],
            }
        } else {
            ClientLifecycleMode::Initialize
        }
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let caps = match self.answer {
            Answer::NoElicitation => ClientCapabilities::default(),
            _ => ClientCapabilities::builder().enable_elicitation().build(),
        };
        ClientConfig::new(caps, Implementation::new("airun-tests", "1.0.0"))
            .with_protocol_version(self.version.clone())
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let message = match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => message.clone(),
            ElicitRequestParams::UrlElicitationParams { message, .. } => message.clone(),
            _ => String::new(),
        };
        self.asked.lock().unwrap().push(message);
        let action = match self.answer {
            Answer::Accept => ElicitationAction::Accept,
            Answer::Decline | Answer::NoElicitation => ElicitationAction::Decline,
            Answer::Cancel => ElicitationAction::Cancel,
        };
        let accept = action == ElicitationAction::Accept;
        let mut result = ElicitResult::new(action);
        if accept {
            result.content = Some(json!({}));
        }
        Ok(result)
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(tx) = &self.progress_tx {
            let _ = tx.send(params.clone());
        }
        self.progress.lock().unwrap().push(params);
    }
}

/// A connected client.
pub type Client = RunningService<RoleClient, TestClient>;

/// Calls a tool.
pub async fn call<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("calling {name} failed at the protocol level: {e}"))
}

/// The text of a result's first content block.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts success and checks `structuredContent` against the tool's output schema.
pub fn ok_structured(tools: &[Tool], name: &str, r: &CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(false), "{name} failed: {}", text(r));
    let structured = r.structured_content.clone().expect("structuredContent");
    let tool = tools.iter().find(|t| t.name == name).expect("tool listed");
    let schema = Value::Object(
        tool.output_schema
            .as_ref()
            .expect("outputSchema")
            .as_ref()
            .clone(),
    );
    if let Err(e) = jsonschema::validate(&schema, &structured) {
        panic!("{name}: structuredContent does not match the outputSchema: {e}\n{structured}");
    }
    // And the catalog's own output schema, whose objects are closed: no field the spec
    // does not declare.
    let cap = airun::stdlib::CATALOG.iter().find(|c| c.tool_name == name);
    if let Some(Err(e)) = cap.map(|c| jsonschema::validate(&c.output_schema_json(), &structured)) {
        panic!("{name}: structuredContent does not match the spec's outputs: {e}\n{structured}");
    }
    // The text rendering carries the same JSON, but for large texts, sent once (in
    // structuredContent) and noted in the text.
    let mut rendered: Value = serde_json::from_str(&text(r)).expect("text is JSON");
    for (field, bytes) in airun::adapters::mcp::media::large_texts(&structured) {
        let note = rendered[field].as_str().unwrap_or_default().to_string();
        assert!(
            note.contains(&bytes.to_string()) && note.contains("structuredContent"),
            "{name}: the text block's {field} is not a note: {note:.200}"
        );
        rendered[field] = structured[field].clone();
    }
    assert_eq!(rendered, structured);
    structured
}

/// Asserts an `isError` result and returns its text.
pub fn is_error(r: &CallToolResult) -> String {
    assert_eq!(
        r.is_error,
        Some(true),
        "expected an error, got {:?}",
        r.structured_content
    );
    text(r)
}

/// Every tool name of the standard catalog, sorted.
pub fn catalog_names() -> Vec<String> {
    let mut v: Vec<String> = airun::stdlib::CATALOG
        .iter()
        .map(|c| c.tool_name.to_string())
        .collect();
    v.sort();
    v
}

/// Checks the tool list against the catalog: names, annotations, schemas, dotted ids.
pub fn check_tool_list(tools: &[Tool]) {
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, catalog_names());
    for t in tools {
        let cap = airun::stdlib::CATALOG
            .iter()
            .find(|c| c.tool_name == t.name)
            .expect("in catalog");
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", t.name));
        assert_eq!(
            airun::adapters::mcp::listing::read_hints(a),
            cap.annotations,
            "{}",
            t.name
        );
        assert_eq!(t.title.as_deref(), Some(cap.title));
        assert_eq!(t.description.as_deref(), Some(cap.description));
        assert_eq!(
            Value::Object(t.input_schema.as_ref().clone()),
            cap.input_schema_json()
        );
        let out = t.output_schema.as_ref().expect("outputSchema");
        assert_eq!(
            out.as_ref(),
            &airun::adapters::mcp::listing::contract(cap.output_schema.object())
        );
    }
    let read = tools.iter().find(|t| t.name == "io_fs_read_file").unwrap();
    assert_eq!(
        read.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    let write = tools.iter().find(|t| t.name == "io_fs_write_file").unwrap();
    // Not read-only: MCP's default when the hint is absent.
    assert_eq!(write.annotations.as_ref().unwrap().read_only_hint, None);
}

/// Makes `n` small files under `dir` (in a few subfolders).
pub fn make_tree(dir: &Path, n: usize) {
    for i in 0..n {
        let sub = dir.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
}

/// Counts the files under `dir`.
pub fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

/// Connects `client` over `transport` with its protocol lifecycle.
pub async fn connect<T, E, A>(client: TestClient, transport: T) -> Client
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let lifecycle = client.lifecycle();
    client
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("the client connects")
}

/// A client that declares roots (when it has a list) and answers `roots/list` with what
/// the test sets. (Roots are deprecated from protocol revision 2026-07-28 on; clients of
/// earlier revisions still send them.)
#[derive(Clone)]
pub struct RootsClient {
    /// The `file://` URLs it answers with; `None`: it declares no roots.
    pub roots: Option<Arc<Mutex<Vec<String>>>>,
}

#[allow(deprecated)]
impl ClientHandler for RootsClient {
    fn get_info(&self) -> ClientConfig {
        let caps = if self.roots.is_some() {
            ClientCapabilities::builder()
                .enable_roots()
                .enable_roots_list_changed()
                .build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new("airun-roots-test", "1.0.0"))
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, ErrorData> {
        let roots = self
            .roots
            .as_ref()
            .map(|r| r.lock().unwrap().clone())
            .unwrap_or_default();
        Ok(rmcp::model::ListRootsResult::new(
            roots.into_iter().map(rmcp::model::Root::new).collect(),
        ))
    }
}

/// Spawns `cmd` (an `airun ... serve --mcp`, its stderr shown) and connects a
/// [`RootsClient`] answering with `roots` over its stdio.
pub async fn serve_with_roots(
    cmd: tokio::process::Command,
    roots: Option<Arc<Mutex<Vec<String>>>>,
) -> RunningService<RoleClient, RootsClient> {
    use rmcp::ServiceExt;
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn airun");
    RootsClient { roots }
        .serve(transport)
        .await
        .expect("the client connects")
}

/// The `file://` URL of an absolute path.
pub fn file_uri(path: &Path) -> String {
    url::Url::from_file_path(path)
        .expect("an absolute path")
        .to_string()
}

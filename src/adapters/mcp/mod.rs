//! The MCP server: one hand-written [`ServerHandler`] over the pipeline's catalog, served over
//! stdio ([`McpServer::serve_stdio`]) or Streamable HTTP ([`http::endpoint`], mounted by the
//! listener in [`crate::server`]).
//!
//! - `tools/list`: every capability the operator's settings allow, named by its tool name
//!   (`io_fs_read_file`), with its title, description, input and output schemas,
//!   and annotations derived from the spec (see [`listing`]).
//! - `tools/call`: runs [`Pipeline::execute`] on a blocking thread. Success is
//!   `structuredContent` (matching the output schema) plus the same JSON as text; a result
//!   carrying a file's bytes (`media_type` and `data`) becomes image, audio or resource
//!   content instead of that text (see [`media`]). Invalid
//!   arguments, denials, declined confirmations and handler failures are a result with
//!   `isError: true` whose text says what was wrong, which field, and what to do instead.
//!   An unknown tool is a JSON-RPC error -32602.
//! - Confirmation: `--yes` (operator) or the auto-approve list; otherwise the person is
//!   asked through elicitation (see [`confirm`]); a client without elicitation is refused.
//! - Progress: when the request carries a progress token, the handler's progress reports
//!   become `notifications/progress`. Cancellation: `notifications/cancelled` stops the
//!   handler at its next checkpoint.
//!
//! Protocol versions: rmcp negotiates 2024-11-05 through 2026-07-28; on 2026-07-28 the
//! confirmation uses the `input_required` result with a sealed `requestState`.

pub mod confirm;
pub mod http;
pub mod lines;
pub mod listing;
pub mod media;
mod resources;
mod roots;
mod session;
pub mod stdio;
mod stream;

pub use listing::tool_for;

use crate::adapters::{error_json, error_text};
use crate::catalog::Capability;
use crate::error::CapError;
use crate::pipeline::{CallOptions, ConfirmRequest, Confirmation, Pipeline, redact};
use crate::powers::CapabilitySet;
use confirm::McpConfirmer;
pub use confirm::Seals;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, MetaObject, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ResourceContents, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// rmcp's JSON-RPC error type.
pub use rmcp::ErrorData as McpError;

/// The `_meta` key carrying a failed call's error as JSON (`kind`, `message`, `field`,
/// `hint`).
pub const META_ERROR: &str = "airun/error";

/// How the server treats calls that need a person's yes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerOptions {
    /// The operator approves every call (`airun serve --yes`).
    pub yes: bool,
}

struct Inner<S: CapabilitySet> {
    pipeline: Pipeline<S>,
    tools: OnceLock<Vec<Tool>>,
    options: ServerOptions,
    /// Made on the first confirmation asked through `input_required` (2026-07-28 on).
    seals: OnceLock<Seals>,
    console: OnceLock<Arc<crate::pipeline::Broker>>,
    /// Who every call of this server is made by (a team server's lane); the operator
    /// when unset.
    principal: OnceLock<String>,
}

/// The MCP server over a pipeline. Cheap to clone (one per HTTP session); a clone starts
/// a new session (it shares the pipeline, not what the previous client said).
pub struct McpServer<S: CapabilitySet> {
    inner: Arc<Inner<S>>,
    /// The client's roots, as far as this session knows them.
    roots: Arc<tokio::sync::Mutex<roots::Known>>,
    /// This session, as its first call saw it (recorded with every operation it makes).
    session: Arc<OnceLock<crate::hooks::Session>>,
}

impl<S: CapabilitySet> Clone for McpServer<S> {
    fn clone(&self) -> Self {
        McpServer {
            inner: self.inner.clone(),
            roots: Arc::default(),
            session: Arc::default(),
        }
    }
}

impl<S: CapabilitySet> McpServer<S> {
    /// A server over `pipeline`; the tool list is built from its allowed capabilities when
    /// first asked for.
    pub fn new(pipeline: Pipeline<S>, options: ServerOptions) -> Self {
        // The process's own sealing key is made when a confirmation first needs it.
        Self::build(pipeline, options, OnceLock::new())
    }

    /// A server whose confirmation states are sealed by `seals` (a key shared with other
    /// instances: [`Seals::shared`]).
    pub fn with_seals(pipeline: Pipeline<S>, options: ServerOptions, seals: Seals) -> Self {
        Self::build(pipeline, options, OnceLock::from(seals))
    }

    fn build(pipeline: Pipeline<S>, options: ServerOptions, seals: OnceLock<Seals>) -> Self {
        McpServer {
            inner: Arc::new(Inner {
                pipeline,
                tools: OnceLock::new(),
                options,
                seals,
                console: OnceLock::new(),
                principal: OnceLock::new(),
            }),
            roots: Arc::default(),
            session: Arc::default(),
        }
    }

    /// Lets calls that need a yes wait in the operations console's `broker` when the
    /// client cannot elicit, or the policy's `confirm.via` leaves elicitation out, and
    /// `confirm.via` has `console` (the default).
    pub fn with_console(self, broker: Arc<crate::pipeline::Broker>) -> Self {
        let _ = self.inner.console.set(broker);
        self
    }

    /// Makes every call of this server (and of each session cloned from it) on behalf
    /// of the principal `name`: a team server's lane.
    pub fn with_principal(self, name: &str) -> Self {
        let _ = self.inner.principal.set(name.to_string());
        self
    }

    /// Who this server's calls are made by; `None` is the operator.
    pub fn principal(&self) -> Option<&str> {
        self.inner.principal.get().map(String::as_str)
    }

    /// How the server treats calls that need a person's yes.
    pub fn options(&self) -> ServerOptions {
        self.inner.options
    }

    /// The pipeline the server runs calls on.
    pub fn pipeline(&self) -> &Pipeline<S> {
        &self.inner.pipeline
    }

    /// The tools `tools/list` returns.
    pub fn tools(&self) -> &[Tool] {
        self.inner.tools.get_or_init(|| {
            self.inner
                .pipeline
                .capabilities()
                .into_iter()
                .map(tool_for)
                .collect()
        })
    }

    /// Serves MCP over this process's stdin and stdout until the client closes stdin or
    /// `shutdown` is cancelled.
    pub async fn serve_stdio(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let (read, write) = rmcp::transport::stdio_pipes();
        // rmcp's transport only sends; airun reads the lines itself.
        let sender = rmcp::transport::async_rw::AsyncRwTransport::<RoleServer, _, _>::new_server(
            tokio::io::empty(),
            write,
        );
        let max_line = usize::try_from(self.inner.pipeline.settings().mcp.max_message_bytes)
            .unwrap_or(usize::MAX);
        let transport = stdio::Stdio::new(sender, read, max_line);
        let service = match self.serve(transport).await {
            Ok(service) => service,
            // Standard input ended before a client said anything: nobody to serve.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
                tracing::debug!("standard input ended before initialize");
                return Ok(());
            }
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "MCP session did not start: {e}"
                )));
            }
        };
        let stop = service.cancellation_token();
        tokio::select! {
            r = service.waiting() => {
                r.map_err(|e| std::io::Error::other(format!("MCP session failed: {e}")))?;
            }
            _ = shutdown.cancelled() => {
                stop.cancel();
            }
        }
        Ok(())
    }

    async fn call(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let inner = &self.inner;
        let name = request.name.to_string();
        let Some(cap) = inner.pipeline.find(&name) else {
            let e = CapError::unknown_capability(&name, inner.pipeline.all_capabilities());
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`"),
                Some(json!({"hint": e.hint})),
            ));
        };
        let args = Value::Object(request.arguments.take().unwrap_or_default());
        let confirmer = match self.confirmer(cap, &name, &args, &request, &context) {
            Ok(c) => c,
            Err(early) => return Ok(*early),
        };
        let started = std::time::Instant::now();
        let within = self.within(&context).await;
        let result = self
            .run(name.clone(), args, confirmer, within, &context)
            .await;
        tracing::info!(
            tool = %name,
            outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.kind.as_str(),
            },
            ms = started.elapsed().as_millis() as u64,
            "tools/call"
        );
        let protocol = context.protocol_version();
        Ok(match result {
            Ok(v) => media::call_result(
                v,
                protocol.as_ref().map(|p| p.as_str()),
                inner.pipeline.workspace().root(),
            ),
            Err(e) => error_result(&e),
        }
        .into())
    }

    /// Picks how this call's confirmation is answered, or returns the response to send
    /// right away (the `input_required` round trip, or a bad confirmation state).
    fn confirmer(
        &self,
        cap: &'static Capability,
        name: &str,
        args: &Value,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<McpConfirmer, Box<CallToolResponse>> {
        let inner = &self.inner;
        if inner.options.yes {
            return Ok(McpConfirmer::Flag);
        }
        // Params that change nothing are only known once parsed (below, where it matters).
        let asks = inner.pipeline.confirmation(cap, false) == Confirmation::Ask;
        let can_elicit = context
            .client_capabilities()
            .is_some_and(|c| c.elicitation.is_some());
        let via = &inner.pipeline.settings().confirm;
        if asks && !(can_elicit && via.allows("elicitation")) {
            return Ok(match inner.console.get() {
                Some(broker) if via.allows("console") => McpConfirmer::Console {
                    broker: broker.clone(),
                    cancel: context.ct.clone(),
                },
                _ => McpConfirmer::Refuse,
            });
        }
        if !asks {
            return Ok(McpConfirmer::Refuse);
        }
        let stateless = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if !stateless {
            return Ok(McpConfirmer::Elicit {
                peer: context.peer.clone(),
                handle: tokio::runtime::Handle::current(),
                cancel: context.ct.clone(),
            });
        }
        match &request.request_state {
            Some(state) => match inner.seals.get_or_init(Seals::new).answer(
                state,
                cap.tool_name,
                args,
                request.input_responses.as_ref(),
            ) {
                Ok(true) => Ok(McpConfirmer::Approved),
                Ok(false) => Ok(McpConfirmer::Declined),
                Err(bad) => Err(Box::new(CallToolResponse::Complete(*bad))),
            },
            None => {
                // Ask only for a call that would run: invalid arguments or a denial are
                // reported (and audited) by the pipeline instead.
                // A call that changes nothing (a dry run) is not confirmed either.
                match inner.pipeline.prepare(name, args.clone()) {
                    Err(_) => return Ok(McpConfirmer::Refuse),
                    Ok(prepared)
                        if inner.pipeline.confirmation(cap, prepared.changes_nothing())
                            != Confirmation::Ask =>
                    {
                        return Ok(McpConfirmer::Refuse);
                    }
                    Ok(_) => {}
                }
                let shown = redact(cap, args.clone());
                let ask = ConfirmRequest {
                    capability: cap,
                    params: &shown,
                    principal: None,
                };
                Err(Box::new(CallToolResponse::InputRequired(
                    inner
                        .seals
                        .get_or_init(Seals::new)
                        .ask(&ask, cap.tool_name, args),
                )))
            }
        }
    }

    /// The folders this session's calls must stay in, from the client's roots (asked for
    /// once, and again after the client says its list changed). Roots are gone from
    /// protocol revision 2026-07-28 on; clients of earlier revisions still send them.
    #[allow(deprecated)]
    async fn within(&self, context: &RequestContext<RoleServer>) -> Option<Arc<[PathBuf]>> {
        let has_roots = context
            .client_capabilities()
            .is_some_and(|c| c.roots.is_some());
        if !has_roots {
            return None;
        }
        let mut known = self.roots.lock().await;
        if let roots::Known::Within(w) = &*known {
            return w.clone();
        }
        let within = match context.peer.list_roots().await {
            Ok(list) => {
                let uris: Vec<String> = list.roots.into_iter().map(|r| r.uri).collect();
                let configured: Vec<PathBuf> = self
                    .inner
                    .pipeline
                    .roots()
                    .into_iter()
                    .map(|r| r.path)
                    .collect();
                roots::narrow_roots(&configured, &uris)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the client did not list its roots");
                None
            }
        };
        *known = roots::Known::Within(within.clone());
        within
    }

    /// Runs the call on a blocking thread with progress forwarding and cancellation.
    async fn run(
        &self,
        name: String,
        args: Value,
        confirmer: McpConfirmer,
        within: Option<Arc<[PathBuf]>>,
        context: &RequestContext<RoleServer>,
    ) -> Result<Value, CapError> {
        let cancel = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (ct, flag) = (context.ct.clone(), cancel.clone());
            tokio::spawn(async move {
                ct.cancelled().await;
                flag.store(true, Ordering::Relaxed);
            })
        };
        let (progress_tx, forwarder) = match context.meta.get_progress_token() {
            Some(token) => {
                let (tx, mut rx) =
                    tokio::sync::mpsc::unbounded_channel::<(u64, Option<u64>, String)>();
                let peer = context.peer.clone();
                let forwarder = tokio::spawn(async move {
                    // MCP wants each notification's progress above the last one; reports
                    // from a parallel walk can arrive out of order, and those are dropped.
                    let mut last: Option<u64> = None;
                    while let Some((done, total, message)) = rx.recv().await {
                        if last.is_some_and(|l| done <= l) {
                            continue;
                        }
                        last = Some(done);
                        let mut p = ProgressNotificationParam::new(token.clone(), done as f64)
                            .with_message(message);
                        if let Some(t) = total {
                            p = p.with_total(t as f64);
                        }
                        if peer.notify_progress(p).await.is_err() {
                            break;
                        }
                    }
                });
                (Some(tx), Some(forwarder))
            }
            None => (None, None),
        };
        let inner = self.inner.clone();
        let session = self
            .session
            .get_or_init(|| session::of_request(context))
            .clone();
        let flag = cancel.clone();
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        // The answer comes through `reply_tx` as soon as the pipeline has it; the blocking
        // task may go on to write the audit record after it (see `execute_replying`).
        let task = tokio::task::spawn_blocking(move || {
            let report = progress_tx.map(|tx| {
                move |done: u64, total: Option<u64>, message: &str| {
                    let _ = tx.send((done, total, message.to_string()));
                }
            });
            let options = CallOptions {
                within: within.as_deref(),
                cancel: Some(&flag),
                progress: report
                    .as_ref()
                    .map(|f| f as &(dyn Fn(u64, Option<u64>, &str) + Sync)),
                session: Some(&session),
                principal: inner.principal.get().map(String::as_str),
            };
            inner
                .pipeline
                .execute_replying(&name, args, &confirmer, options, |r| {
                    let _ = reply_tx.send(r);
                });
        });
        let answer = match reply_rx.await {
            Ok(r) => r,
            // The task ended without an answer: it panicked.
            Err(_) => Err(match task.await {
                Err(e) => CapError::execution(format!("the call stopped unexpectedly: {e}")),
                Ok(()) => CapError::execution("the call stopped without an answer"),
            }),
        };
        watcher.abort();
        // Progress goes out before the result.
        if let Some(f) = forwarder {
            let _ = f.await;
        }
        answer
    }
}

/// A failed call as an MCP result: `isError: true`, the error as text the model can act
/// on, and as JSON in `_meta` under [`META_ERROR`].
/// The server's instructions to the model: what the tools work on, and which roots exist
/// when there are several or one is read-only.
fn instructions(roots: &[crate::pipeline::RootInfo]) -> String {
    let mut text = String::from(
        "Typed, sandboxed tools over one workspace folder. Paths are relative to the \
         workspace root. Calls that change files may ask the user to confirm; a declined \
         call changed nothing.",
    );
    let read_only = roots.iter().any(|r| r.read_only);
    if roots.len() > 1 || read_only {
        text.push_str(" Workspace roots:");
        for (i, r) in roots.iter().enumerate() {
            let first = if i == 0 { ", relative paths" } else { "" };
            let mode = if r.read_only { "read-only" } else { "writable" };
            text.push_str(&format!(" {} ({mode}{first});", r.path.display()));
        }
        text.push_str(
            " reach a root other than the first by absolute path; one call works in one root.",
        );
    }
    text
}

pub fn error_result(e: &CapError) -> CallToolResult {
    let mut meta = MetaObject::new();
    meta.insert(META_ERROR.into(), error_json(e));
    CallToolResult::error(vec![ContentBlock::text(error_text(e))]).with_meta(Some(meta))
}

impl<S: CapabilitySet> ServerHandler for McpServer<S> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("airun", env!("CARGO_PKG_VERSION")).with_title("airun"),
        )
        .with_instructions(instructions(&self.inner.pipeline.roots()))
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        *self.roots.lock().await = roots::Known::Unknown;
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // A client lists the tools before it calls one: open the undo journal and audit
        // log now, in the background, so the first call does not wait for it. Not sooner: a
        // session that never gets that far (a client probing the server, a health check)
        // spends neither the memory nor the time.
        self.inner.pipeline.journal().open_in_background();
        Ok(ListToolsResult::with_all_items(self.tools().to_vec()))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(
            resources::LIST.iter().map(resources::describe).collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let Some(found) = resources::LIST.iter().find(|r| r.uri == request.uri) else {
            let known: Vec<&str> = resources::LIST.iter().map(|r| r.uri).collect();
            return Err(McpError::resource_not_found(
                format!(
                    "no resource `{}`; airun has {}",
                    request.uri,
                    known.join(", ")
                ),
                None,
            ));
        };
        let inner = self.inner.clone();
        let which = found.which;
        let text = tokio::task::spawn_blocking(move || resources::read(&inner.pipeline, which))
            .await
            .map_err(|e| McpError::internal_error(format!("the read stopped: {e}"), None))?
            .map_err(|e| McpError::internal_error(error_text(&e), Some(error_json(&e))))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, found.uri).with_mime_type("application/json"),
        ])
        .into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(request, context).await
    }
}

//! The stdio transport: rmcp's for sending, except that a large tool result is streamed
//! to standard output instead of being serialized into one buffer first; and airun's own
//! reading, so that every line gets an answer (see [`super::lines`]) and notifications
//! sent before `initialize` are dropped with a log line instead of ending the session.
//!
//! rmcp's codec writes each message into a growing buffer before sending it; for a
//! 50 MiB file read that buffer is a second copy of the reply, doubled on growth.
//! Messages whose text (content, or large texts of the structured content) passes
//! [`STREAM_FROM`] are instead written on a blocking thread through a small buffered
//! writer on standard output, their large texts escaped into it a chunk at a time (see
//! [`super::stream`]). Both paths take turns under one lock, each finishing its write
//! before the next message starts, so messages never interleave.

use super::lines::{Incoming, Lines, Read, classify, oversized};
use rmcp::RoleServer;
use rmcp::model::{ClientRequest, GetMeta, JsonRpcMessage, ProtocolVersion, ServerResult};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use std::io::Write;
use std::sync::Arc;
use tokio::io::AsyncRead;

/// Text content (bytes) from which a tool result is streamed.
pub const STREAM_FROM: usize = 1 << 20;

/// rmcp's stdio transport with large results streamed, reading lines itself.
pub struct Stdio<T, R> {
    inner: T,
    order: Arc<tokio::sync::Mutex<()>>,
    input: Lines<R>,
    /// The session has begun (rmcp left its wait for `initialize`): from here on, rmcp
    /// takes every message.
    begun: bool,
}

impl<T, R: AsyncRead + Unpin> Stdio<T, R> {
    /// Sends through rmcp's transport `inner`, reads lines of at most `max_line` bytes
    /// from `read`.
    pub fn new(inner: T, read: R, max_line: usize) -> Self {
        Stdio {
            inner,
            order: Arc::new(tokio::sync::Mutex::new(())),
            input: Lines::new(read, max_line),
            begun: false,
        }
    }

    /// False for a message rmcp cannot take before the session begins (it would end the
    /// session): a notification or a response. Notes when the session begins.
    fn admit(&mut self, m: &RxJsonRpcMessage<RoleServer>) -> bool {
        if self.begun {
            return true;
        }
        match m {
            JsonRpcMessage::Request(r) => {
                self.begun = match &r.request {
                    ClientRequest::InitializeRequest(_) => true,
                    ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => false,
                    // A request with complete inline metadata begins a stateless session.
                    other => {
                        let meta = other.get_meta();
                        meta.protocol_version().is_some()
                            && meta
                                .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                                .is_empty()
                    }
                };
                true
            }
            JsonRpcMessage::Notification(n) => {
                let method = serde_json::to_value(&n.notification)
                    .ok()
                    .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or_default();
                tracing::warn!(%method, "ignoring a notification sent before `initialize`");
                false
            }
            _ => {
                tracing::warn!("ignoring a response sent before `initialize`");
                false
            }
        }
    }
}

/// Bytes of text in a tool result: its text content and the large texts of its
/// structured content (0 for any other message).
fn text_bytes(m: &TxJsonRpcMessage<RoleServer>) -> usize {
    match m {
        JsonRpcMessage::Response(r) => match &r.result {
            ServerResult::CallToolResult(c) => {
                let text: usize = c
                    .content
                    .iter()
                    .map(|b| b.as_text().map_or(0, |t| t.text.len()))
                    .sum();
                let structured: usize = c.structured_content.as_ref().map_or(0, |v| {
                    super::media::large_texts(v).iter().map(|(_, n)| n).sum()
                });
                text + structured
            }
            _ => 0,
        },
        _ => 0,
    }
}

/// Writes one message and its newline to standard output, 256 KiB at a time.
fn write_streamed(m: TxJsonRpcMessage<RoleServer>) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    super::stream::write_message(m, &mut out)?;
    out.flush()
}

/// Writes an answer airun gives itself, in turn with every other message.
async fn answer(
    order: Arc<tokio::sync::Mutex<()>>,
    reply: serde_json::Value,
) -> std::io::Result<()> {
    let _turn = order.lock().await;
    let mut text = reply.to_string();
    text.push('\n');
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// How one message is sent.
enum Job<F> {
    /// Through rmcp's transport.
    Inner(F),
    /// Streamed from a blocking thread.
    Stream(Box<TxJsonRpcMessage<RoleServer>>),
}

impl<T, R> Transport<RoleServer> for Stdio<T, R>
where
    T: Transport<RoleServer, Error = std::io::Error>,
    R: AsyncRead + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let order = self.order.clone();
        let job = if text_bytes(&item) >= STREAM_FROM {
            Job::Stream(Box::new(item))
        } else {
            Job::Inner(self.inner.send(item))
        };
        async move {
            let _turn = order.lock().await;
            match job {
                Job::Inner(send) => send.await,
                Job::Stream(item) => tokio::task::spawn_blocking(move || write_streamed(*item))
                    .await
                    .map_err(std::io::Error::other)?,
            }
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let incoming = match self.input.read().await {
                Read::Line => classify(self.input.line()),
                Read::Oversized => Incoming::Reply(oversized(self.input.max())),
                Read::Eof => return None,
                Read::Io(e) => {
                    tracing::error!(error = %e, "cannot read standard input");
                    return None;
                }
            };
            match incoming {
                Incoming::Message(m) => {
                    if self.admit(&m) {
                        return Some(*m);
                    }
                }
                Incoming::Reply(reply) => {
                    tracing::warn!(reply = %reply["error"]["message"], "answered a malformed message");
                    if let Err(e) = answer(self.order.clone(), reply).await {
                        tracing::error!(error = %e, "cannot write to standard output");
                        return None;
                    }
                }
                Incoming::Ignore(why) => tracing::debug!("ignored {why}"),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

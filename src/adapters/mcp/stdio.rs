//! The stdio transport: rmcp's, except that a large tool result is streamed to standard
//! output instead of being serialized into one buffer first.
//!
//! rmcp's codec writes each message into a growing buffer before sending it; for a
//! 50 MiB file read (its structured content plus the same JSON as text) that buffer is a
//! third copy of the reply, doubled on growth. Messages whose text content passes
//! [`STREAM_FROM`] are instead serialized on a blocking thread straight into a small
//! buffered writer on standard output. Both paths take turns under one lock, each
//! finishing its write before the next message starts, so messages never interleave.

use rmcp::RoleServer;
use rmcp::model::{JsonRpcMessage, ServerResult};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use std::io::Write;
use std::sync::Arc;

/// Text content (bytes) from which a tool result is streamed.
pub const STREAM_FROM: usize = 1 << 20;

/// rmcp's stdio transport with large results streamed.
pub struct Stdio<T> {
    inner: T,
    order: Arc<tokio::sync::Mutex<()>>,
}

impl<T> Stdio<T> {
    /// Wraps rmcp's transport over this process's standard streams.
    pub fn new(inner: T) -> Self {
        Stdio {
            inner,
            order: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

/// Bytes of text content in a tool result (0 for any other message).
fn text_bytes(m: &TxJsonRpcMessage<RoleServer>) -> usize {
    match m {
        JsonRpcMessage::Response(r) => match &r.result {
            ServerResult::CallToolResult(c) => c
                .content
                .iter()
                .map(|b| b.as_text().map_or(0, |t| t.text.len()))
                .sum(),
            _ => 0,
        },
        _ => 0,
    }
}

/// Writes one message and its newline to standard output, 256 KiB at a time.
fn write_streamed(m: &TxJsonRpcMessage<RoleServer>) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    serde_json::to_writer(&mut out, m).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// How one message is sent.
enum Job<F> {
    /// Through rmcp's transport.
    Inner(F),
    /// Streamed from a blocking thread.
    Stream(Box<TxJsonRpcMessage<RoleServer>>),
}

impl<T> Transport<RoleServer> for Stdio<T>
where
    T: Transport<RoleServer, Error = std::io::Error>,
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
                Job::Stream(item) => tokio::task::spawn_blocking(move || write_streamed(&item))
                    .await
                    .map_err(std::io::Error::other)?,
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

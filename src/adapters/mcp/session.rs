//! The agent session a call belongs to: over stdio, one per server run; over Streamable
//! HTTP, the MCP session id the server gave the client (or, without one, one per
//! `initialize`); with the client's name and version from `initialize`'s `clientInfo`.

use crate::hooks::{Session, Transport};
use rmcp::RoleServer;
use rmcp::service::RequestContext;

/// The header carrying the MCP session id on Streamable HTTP requests.
const SESSION_HEADER: &str = "mcp-session-id";

/// The session of the client making `context`'s request, as first seen.
pub(super) fn of_request(context: &RequestContext<RoleServer>) -> Session {
    let parts = context.extensions.get::<http::request::Parts>();
    let mut session = match parts {
        Some(parts) => {
            let mut s = Session::new(Transport::Http);
            if let Some(id) = parts
                .headers
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|id| !id.is_empty())
            {
                s.id = id.to_string();
            }
            s
        }
        None => Session::new(Transport::Stdio),
    };
    if let Some(info) = context.peer.peer_info() {
        session.client_name = Some(info.client_info.name.clone());
        session.client_version = Some(info.client_info.version.clone());
    }
    session
}

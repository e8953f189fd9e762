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
        session.client_name = Some(shown(&info.client_info.name));
        session.client_version = Some(shown(&info.client_info.version));
    }
    session
}

/// Longest client name or version kept, in characters.
const MAX_CLIENT_CHARS: usize = 100;

/// A client-given string as history may print it: control characters (which could drive
/// the operator's terminal) become `?`, and it is cut to [`MAX_CLIENT_CHARS`].
fn shown(text: &str) -> String {
    text.chars()
        .take(MAX_CLIENT_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_strings_lose_control_characters_and_length() {
        assert_eq!(super::shown("claude-code"), "claude-code");
        assert_eq!(super::shown("evil\u{1b}[2Jname\n"), "evil?[2Jname?");
        assert_eq!(
            super::shown(&"x".repeat(500)).len(),
            super::MAX_CLIENT_CHARS
        );
    }
}

//! MCP resources: what the person and the model may read about the workspace's past
//! without calling a tool. `airun://history` is the newest operations (as `airun history
//! --json`), `airun://audit` the newest audit records (as `airun audit --json`). Both are
//! JSON, read from the state folder when asked.

use crate::error::CapError;
use crate::pipeline::Pipeline;
use crate::powers::CapabilitySet;
use rmcp::model::Resource;

/// How many operations or records a resource holds.
pub const TAIL: usize = 50;

/// Which resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The newest operations.
    History,
    /// The newest audit records.
    Audit,
}

/// A resource airun serves.
pub struct Entry {
    /// Its URI.
    pub uri: &'static str,
    /// Its name.
    pub name: &'static str,
    /// What it holds.
    pub description: &'static str,
    /// Which one.
    pub which: Which,
}

/// Every resource, in `resources/list` order.
pub const LIST: [Entry; 2] = [
    Entry {
        uri: "airun://history",
        name: "history",
        description: "The newest 50 changes made in this workspace, newest first: operation id, \
                      time, capability, summary and state (done, undone, interrupted, \
                      irreversible or expired). sys.undo takes them back.",
        which: Which::History,
    },
    Entry {
        uri: "airun://audit",
        name: "audit",
        description: "The newest 50 records of the hash-chained audit log, oldest first: every \
                      call, allowed or refused, with its decision, outcome and duration \
                      (sensitive inputs redacted).",
        which: Which::Audit,
    },
];

/// The MCP description of a resource.
pub fn describe(e: &Entry) -> Resource {
    Resource::new(e.uri, e.name)
        .with_title(format!("airun {}", e.name))
        .with_description(e.description)
        .with_mime_type("application/json")
}

/// Reads a resource as pretty JSON text (blocking: it reads the state database).
pub fn read<S: CapabilitySet>(pipeline: &Pipeline<S>, which: Which) -> Result<String, CapError> {
    let value = match which {
        Which::History => serde_json::to_value(pipeline.journal().history(TAIL)?),
        Which::Audit => serde_json::to_value(pipeline.audit().tail(TAIL)?),
    }
    .map_err(|e| CapError::execution(format!("cannot encode the resource: {e}")))?;
    Ok(serde_json::to_string_pretty(&value).unwrap_or_default())
}

//! airun turns YAML capability specs into typed, sandboxed, auditable tools for AI models
//! and people.
//!
//! - [`catalog`]: what the generated code describes (capabilities, side effects, schemas).
//! - [`pipeline`]: the call pipeline (validation, permission, sandbox, confirmation, execution).
//! - [`hooks`]: the journal and audit traits the pipeline calls and the time machine implements.
//! - [`settings`]: what the operator allows (the policy file is read into it).
//! - [`sandbox`]: workspace path resolution beneath an open root handle.
//! - [`fsutil`]: atomic writes through a folder handle, and airun's temporary-file names.
//! - [`powers`]: the context a handler runs in, with only its declared powers.
//! - [`stdlib`]: the standard capabilities, generated from `specs/` plus their handlers.
//! - [`adapters`]: MCP (stdio and Streamable HTTP), OpenAI function calling, the REST API.
//! - [`server`]: the HTTP listener of `airun serve --port` (`/mcp` and `/api/v1`).
//! - [`users`]: the users of a team server, their roles and (hashed) tokens.
//! - [`identity`]: access tokens from an identity provider (OAuth 2.1 resource server).
//! - [`metrics`]: the Prometheus metrics `GET /metrics` serves.
//! - [`cli`]: the `airun` command line.

extern crate self as airun;

pub mod adapters;
pub mod catalog;
pub mod cli;
pub mod error;
pub mod events;
mod failpoint;
pub mod fsutil;
pub mod hooks;
pub mod identity;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod powers;
pub mod sandbox;
pub mod server;
pub mod settings;
pub mod stdlib;
pub mod timemachine;
pub mod types;
pub mod users;

#[doc(hidden)]
pub mod __private;

pub use catalog::{
    Access, Annotations, CallInfo, Capability, Params, PathInput, Schema, SideEffect, UndoStrategy,
};
pub use error::{CapError, ErrorKind};
pub use powers::{CapabilitySet, Ctx, Env};
pub use types::{Bytes, WsPath};

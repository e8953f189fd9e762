//! The operations console's HTTP API (mounted under `/api/v1/`): axum routers a server
//! merges, each taking what it needs from the server's state through
//! [`axum::extract::FromRef`].
//!
//! - [`events`]: `GET /events`, every call as it happens (Server-Sent Events).
//! - [`confirmations`]: `GET /confirmations`, `POST /confirmations/{id}`, calls waiting
//!   for a person's yes.

pub mod confirmations;
pub mod events;

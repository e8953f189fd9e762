//! Who a request comes from when it carries an identity provider's access token: airun
//! as an OAuth 2.1 resource server (the MCP authorization spec).
//!
//! [`Verifier::verify`] checks a JWT access token against the operator's `[oauth]`
//! policy: a public-key signature by a key from the provider's JWKS ([`jwks`], fetched,
//! cached, refetched on rotation), the algorithm the key is for (never `none`, never
//! HMAC), `iss`, `aud` (this server, RFC 8707), `exp` and `nbf`. Its claims then name an
//! airun user and give a role ([`claims`]).

pub mod claims;
pub mod jwks;
pub mod verify;

pub use claims::Identity;
pub use verify::{Rejection, Verifier};

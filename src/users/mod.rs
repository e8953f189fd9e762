//! The people (and their agents) one airun server serves: named users with a role, a
//! workspace and an optional policy of their own, each with a secret token.
//!
//! A token is 256 random bits, shown once when made and stored only as its SHA-256
//! hash ([`token`]); the users live in `$AIRUN_HOME/users.db` ([`store`]). The
//! operator's own token (`--token` / `AIRUN_TOKEN`) stays the bootstrap admin and is
//! not a user here.

pub mod principal;
pub mod store;
pub mod token;

pub use principal::Principal;
pub use store::UserStore;
pub use token::Token;

use crate::error::{CapError, ErrorKind};
use serde::Serialize;
use std::path::PathBuf;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The console and the read-only API, for what they may see.
    Viewer,
    /// Calls capabilities in their own workspace and undoes their own operations.
    Agent,
    /// Everything: every lane, others' confirmations, the users, the whole audit log.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Agent, Role::Admin];

    /// The lowercase name (`viewer`, `agent`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    /// The role named `s`, or an error listing the roles.
    pub fn parse(s: &str) -> Result<Role, CapError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                CapError::new(ErrorKind::InvalidInput, format!("`{s}` is not a role"))
                    .with_hint("use viewer, agent or admin")
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as `airun user list` shows them: never their token or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The unique name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The workspace their calls act in.
    pub workspace: PathBuf,
    /// Their own policy file, which narrows the operator's; `None` for the operator's.
    pub policy: Option<PathBuf>,
    /// When they were added (RFC 3339).
    pub created: String,
    /// When their token was last made (RFC 3339).
    pub token_made: String,
}

/// The name `operator` is the bootstrap admin's (the server's own token).
pub const OPERATOR: &str = "operator";

/// Checks a user name: 1 to 64 characters of `a-z 0-9 . _ - @` (an email address is a
/// name), starting with a letter or digit, and not `operator`.
pub fn check_name(name: &str) -> Result<(), CapError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        return Err(CapError::new(
            ErrorKind::InvalidInput,
            format!("`{name}` is not a valid user name"),
        )
        .with_hint("use 1 to 64 lowercase letters, digits, `.`, `_`, `-` or `@`, starting with a letter or digit"));
    }
    if name == OPERATOR {
        return Err(CapError::new(
            ErrorKind::InvalidInput,
            "`operator` is the server's own admin (its --token), not a user to add",
        )
        .with_hint("pick another name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles() {
        for good in [
            "alice",
            "a",
            "bob.smith",
            "ci-agent_2",
            "7up",
            "ann@example.com",
        ] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Alice",
            "-x",
            ".x",
            "a b",
            "a/b",
            "operator",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(Role::parse("agent").unwrap(), Role::Agent);
        let e = Role::parse("root").unwrap_err();
        assert!(e.to_string().contains("root"), "{e}");
    }
}

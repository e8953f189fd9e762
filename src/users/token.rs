//! User tokens: 256 random bits, written `airun_` + 64 hex digits (the prefix lets
//! secret scanners find a leaked one), kept only as a SHA-256 hash.

use crate::error::CapError;
use sha2::{Digest, Sha256};

/// The prefix of every user token.
pub const PREFIX: &str = "airun_";

/// A user's token, in the clear: shown once, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// A new random token.
    pub fn generate() -> Result<Token, CapError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            CapError::execution(format!(
                "cannot make a token: the system's random source failed: {e}"
            ))
        })?;
        Ok(Token(format!("{PREFIX}{}", hex::encode(bytes))))
    }

    /// The token's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The stored form of a token: SHA-256, hex. A token has 256 random bits, so a fast
/// hash is enough: there is nothing to guess.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(a.expose().len(), PREFIX.len() + 64);
        assert_eq!(hash(a.expose()).len(), 64);
        assert_ne!(hash(a.expose()), hash(b.expose()));
        assert_eq!(format!("{a:?}"), "Token(***)");
    }
}

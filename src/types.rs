//! Value types the generated params use: workspace paths and binary data.

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A path input as the caller gave it, relative to the workspace root.
///
/// A `WsPath` is only a name: it is checked and resolved by the sandbox (against an open
/// handle on the workspace root, never by comparing strings) each time it is used, so a
/// handler cannot reach outside the workspace with it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WsPath(String);

impl WsPath {
    /// A path taken from a spec default (checked when the spec was compiled).
    pub fn from_spec(s: &str) -> Self {
        WsPath(s.to_string())
    }

    /// The path as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for WsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for WsPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for WsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom(
                "expected a path relative to the workspace, got an empty string (use \".\" for the workspace root)",
            ));
        }
        if s.contains('\0') {
            return Err(serde::de::Error::custom(
                "a path cannot contain a NUL character",
            ));
        }
        Ok(WsPath(s))
    }
}

/// Binary data; base64 (standard alphabet, padded) on the wire.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|e| serde::de::Error::custom(format!("expected base64 data: {e}")))
    }
}

/// Where an operation of the undo journal stands. Stored in the state database and shown
/// in history (text and JSON) as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    /// Its intent is recorded; the handler has not started.
    Pending,
    /// The handler is running (or was, when a crash interrupted it).
    Running,
    /// Being undone.
    Undoing,
    /// Being redone.
    Redoing,
    /// Finished; can be undone.
    Done,
    /// Undone; can be redone.
    Undone,
    /// Interrupted by a crash and rolled back.
    Interrupted,
    /// Finished without an undo point.
    Irreversible,
    /// Its undo point was given up to the retention limits.
    Expired,
    /// Partly restored: some of its saved copies were lost.
    Damaged,
}

impl OpState {
    /// Every state.
    pub const ALL: [OpState; 10] = [
        OpState::Pending,
        OpState::Running,
        OpState::Undoing,
        OpState::Redoing,
        OpState::Done,
        OpState::Undone,
        OpState::Interrupted,
        OpState::Irreversible,
        OpState::Expired,
        OpState::Damaged,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::Running => "running",
            OpState::Undoing => "undoing",
            OpState::Redoing => "redoing",
            OpState::Done => "done",
            OpState::Undone => "undone",
            OpState::Interrupted => "interrupted",
            OpState::Irreversible => "irreversible",
            OpState::Expired => "expired",
            OpState::Damaged => "damaged",
        }
    }

    /// The state with this name.
    pub fn parse(name: &str) -> Option<OpState> {
        OpState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for OpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for OpState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// True when two secrets (tokens, hashes, session ids) are equal, compared in time that
/// does not depend on where they differ, so timing tells a guesser nothing.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod op_state_tests {
    use super::OpState;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in OpState::ALL {
            assert_eq!(OpState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(OpState::parse("finished"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(super::same_secret(b"abc", b"abc"));
        assert!(!super::same_secret(b"abc", b"abd"));
        assert!(!super::same_secret(b"abc", b"ab"));
        assert!(!super::same_secret(b"abc", b"abcd"));
    }
}

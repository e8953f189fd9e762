//! The vocabulary capability specs and the airun runtime share: side-effect classes, undo
//! strategies and path access modes. `airun-codegen` reads them from specs; `airun`
//! re-exports them (`airun::SideEffect`, `airun::UndoStrategy`, `airun::Access`) for the
//! catalog the generated code fills. One definition, so a new word is added in one place.

use serde::{Deserialize, Serialize};

/// Side-effect classes a capability may declare in `contracts.side_effects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideEffect {
    /// Pure computation, no outside state.
    ReadOnly,
    /// Reads workspace files.
    FilesystemRead,
    /// Creates or changes workspace files.
    FilesystemWrite,
    /// Removes workspace files.
    FilesystemDelete,
    /// Reads facts about the host: operating system, allowed environment variables, clock.
    SystemRead,
    /// Reads from the network.
    NetworkRead,
    /// Sends data that changes state elsewhere.
    NetworkWrite,
    /// Runs programs.
    SystemExec,
    /// Changes airun's own state (history, undo).
    StateMutation,
}

impl SideEffect {
    /// Every class, in a stable order.
    pub const ALL: [SideEffect; 9] = [
        SideEffect::ReadOnly,
        SideEffect::FilesystemRead,
        SideEffect::FilesystemWrite,
        SideEffect::FilesystemDelete,
        SideEffect::SystemRead,
        SideEffect::NetworkRead,
        SideEffect::NetworkWrite,
        SideEffect::SystemExec,
        SideEffect::StateMutation,
    ];

    /// The spelling used in specs and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            SideEffect::ReadOnly => "read_only",
            SideEffect::FilesystemRead => "filesystem_read",
            SideEffect::FilesystemWrite => "filesystem_write",
            SideEffect::FilesystemDelete => "filesystem_delete",
            SideEffect::SystemRead => "system_read",
            SideEffect::NetworkRead => "network_read",
            SideEffect::NetworkWrite => "network_write",
            SideEffect::SystemExec => "system_exec",
            SideEffect::StateMutation => "state_mutation",
        }
    }

    /// Parses the spec spelling.
    pub fn parse(s: &str) -> Option<SideEffect> {
        SideEffect::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The variant's Rust name, for generated code (`SideEffect::FilesystemRead`).
    pub fn variant(self) -> &'static str {
        match self {
            SideEffect::ReadOnly => "ReadOnly",
            SideEffect::FilesystemRead => "FilesystemRead",
            SideEffect::FilesystemWrite => "FilesystemWrite",
            SideEffect::FilesystemDelete => "FilesystemDelete",
            SideEffect::SystemRead => "SystemRead",
            SideEffect::NetworkRead => "NetworkRead",
            SideEffect::NetworkWrite => "NetworkWrite",
            SideEffect::SystemExec => "SystemExec",
            SideEffect::StateMutation => "StateMutation",
        }
    }

    /// True when the effect changes state outside the call.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            SideEffect::FilesystemWrite
                | SideEffect::FilesystemDelete
                | SideEffect::NetworkWrite
                | SideEffect::SystemExec
                | SideEffect::StateMutation
        )
    }
}

/// How a call can be undone (`behavior.undo_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoStrategy {
    /// Nothing to undo (read-only capabilities).
    None,
    /// The pipeline snapshots the undo targets before the call and can restore them.
    RestoreFromBackup,
    /// The effect cannot be taken back (e.g. a network write); the prompt says so.
    Irreversible,
    /// The call is itself a move through the undo journal (undo, redo); it is reversed by
    /// the opposite move, not recorded as an operation of its own.
    Journal,
}

impl UndoStrategy {
    /// The spelling used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            UndoStrategy::None => "none",
            UndoStrategy::RestoreFromBackup => "restore_from_backup",
            UndoStrategy::Irreversible => "irreversible",
            UndoStrategy::Journal => "journal",
        }
    }

    /// The variant's Rust name, for generated code (`UndoStrategy::Journal`).
    pub fn variant(self) -> &'static str {
        match self {
            UndoStrategy::None => "None",
            UndoStrategy::RestoreFromBackup => "RestoreFromBackup",
            UndoStrategy::Irreversible => "Irreversible",
            UndoStrategy::Journal => "Journal",
        }
    }
}

/// How a handler uses a `path` input (`access:`); the sandbox checks it before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read through the path (symlinks inside the workspace are followed).
    #[default]
    Read,
    /// Look at the entry itself; a final symlink is not followed.
    Inspect,
    /// Create or change what the path names.
    Write,
    /// Remove what the path names; a final symlink is removed, not followed.
    Delete,
}

impl Access {
    /// The spelling used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Inspect => "inspect",
            Access::Write => "write",
            Access::Delete => "delete",
        }
    }

    /// The variant's Rust name, for generated code (`Access::Write`).
    pub fn variant(self) -> &'static str {
        match self {
            Access::Read => "Read",
            Access::Inspect => "Inspect",
            Access::Write => "Write",
            Access::Delete => "Delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_effect_spellings_round_trip() {
        for e in SideEffect::ALL {
            assert_eq!(SideEffect::parse(e.as_str()), Some(e));
            assert_eq!(format!("{e:?}"), e.variant());
        }
        assert_eq!(SideEffect::parse("filesystem"), None);
    }

    #[test]
    fn variant_names_match_the_rust_names() {
        for u in [
            UndoStrategy::None,
            UndoStrategy::RestoreFromBackup,
            UndoStrategy::Irreversible,
            UndoStrategy::Journal,
        ] {
            assert_eq!(format!("{u:?}"), u.variant());
        }
        for a in [Access::Read, Access::Inspect, Access::Write, Access::Delete] {
            assert_eq!(format!("{a:?}"), a.variant());
        }
    }
}

//! The catalog model the generated code fills: capability metadata, and the traits the
//! pipeline reads a parsed call through ([`CallInfo`], [`Params`]). The set's dispatch
//! trait, which needs the powers, is [`crate::powers::CapabilitySet`].

use crate::error::{CapError, ErrorKind};
use crate::types::WsPath;
use serde::Serialize;

/// Side-effect classes, as declared in specs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SideEffect {
    /// Pure computation.
    ReadOnly,
    /// Reads workspace files.
    FilesystemRead,
    /// Creates or changes workspace files.
    FilesystemWrite,
    /// Removes workspace files.
    FilesystemDelete,
    /// Reads facts about the host (OS, allowed environment variables, clock).
    SystemRead,
    /// Reads from the network.
    NetworkRead,
    /// Changes state elsewhere over the network.
    NetworkWrite,
    /// Runs programs.
    SystemExec,
    /// Changes airun's own state.
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

/// How a call can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoStrategy {
    /// Nothing to undo.
    None,
    /// Before-images of the undo targets are saved and can be restored.
    RestoreFromBackup,
    /// The effect cannot be taken back.
    Irreversible,
    /// The call moves through the undo journal (undo, redo) and is reversed by the opposite move.
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
}

/// How a handler uses a path input; the sandbox checks it before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read through the path (symlinks inside the workspace are followed).
    Read,
    /// Look at the entry itself; a final symlink is not followed.
    Inspect,
    /// Create or change what the path names.
    Write,
    /// Remove what the path names; a final symlink is removed, not followed.
    Delete,
}

/// MCP tool annotations derived from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Annotations {
    /// No mutating side effect.
    pub read_only: bool,
    /// May overwrite or remove existing state.
    pub destructive: bool,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// Talks to the outside world.
    pub open_world: bool,
}

/// Everything known about one capability, generated from its spec.
#[derive(Debug)]
pub struct Capability {
    /// Dotted id, e.g. `io.fs.read_file`.
    pub id: &'static str,
    /// Tool name, e.g. `io_fs_read_file`.
    pub tool_name: &'static str,
    /// Spec version.
    pub version: &'static str,
    /// Short title.
    pub title: &'static str,
    /// What the model reads.
    pub description: &'static str,
    /// Declared side effects.
    pub side_effects: &'static [SideEffect],
    /// A person must approve each call.
    pub requires_confirmation: bool,
    /// The boolean input that, when true, makes a call change nothing and need no
    /// confirmation (`requires_confirmation_unless`, e.g. `dry_run`).
    pub confirmation_unless: Option<&'static str>,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// How the call is undone.
    pub undo_strategy: UndoStrategy,
    /// Path inputs snapshotted before the call.
    pub undo_targets: &'static [&'static str],
    /// Time limit of one call.
    pub timeout_seconds: u64,
    /// MCP input JSON Schema (JSON text).
    pub input_schema: &'static str,
    /// MCP output JSON Schema (JSON text).
    pub output_schema: &'static str,
    /// OpenAI strict-mode projection of the input schema (JSON text).
    pub openai_strict_schema: &'static str,
    /// Inputs the strict projection carries as JSON-encoded strings.
    pub openai_json_inputs: &'static [&'static str],
    /// Inputs redacted in audit records and prompts.
    pub sensitive_inputs: &'static [&'static str],
    /// Path inputs and how the handler uses them.
    pub path_inputs: &'static [(&'static str, Access)],
    /// MCP annotations.
    pub annotations: Annotations,
}

impl Capability {
    /// True when any declared side effect changes state.
    pub fn is_mutating(&self) -> bool {
        self.side_effects.iter().any(|e| e.is_mutating())
    }

    /// True when the capability can only read local files or facts: nothing it does
    /// changes anything or leaves the machine.
    pub fn reads_locally(&self) -> bool {
        self.side_effects.iter().all(|e| {
            matches!(
                e,
                SideEffect::ReadOnly | SideEffect::FilesystemRead | SideEffect::SystemRead
            )
        })
    }

    /// The input schema as a JSON value.
    pub fn input_schema_json(&self) -> serde_json::Value {
        serde_json::from_str(self.input_schema).unwrap_or_default()
    }

    /// The output schema as a JSON value.
    pub fn output_schema_json(&self) -> serde_json::Value {
        serde_json::from_str(self.output_schema).unwrap_or_default()
    }

    /// The OpenAI strict-mode input schema as a JSON value.
    pub fn openai_schema_json(&self) -> serde_json::Value {
        serde_json::from_str(self.openai_strict_schema).unwrap_or_default()
    }
}

/// One path input of a parsed call, for the sandbox stage.
#[derive(Debug, Clone, Copy)]
pub struct PathInput<'a> {
    /// The input's name.
    pub field: &'static str,
    /// The path as given.
    pub path: &'a WsPath,
    /// How the handler will use it.
    pub access: Access,
}

/// What the pipeline needs from a generated params struct.
pub trait Params: std::fmt::Debug {
    /// Checks the constraints serde cannot (ranges, lengths, patterns).
    fn validate(&self) -> Result<(), CapError>;
    /// Every path input, for the sandbox stage.
    fn paths(&self) -> Vec<PathInput<'_>>;
    /// The params as JSON (for prompts and audit; the pipeline redacts sensitive inputs).
    fn to_json(&self) -> serde_json::Value;
    /// True when these params make the call change nothing (the spec's
    /// `requires_confirmation_unless` flag is set, e.g. a dry run): the pipeline then asks no
    /// confirmation and records no undo point.
    fn changes_nothing(&self) -> bool {
        false
    }
}

/// What the pipeline needs from a generated `Call` enum.
pub trait CallInfo: std::fmt::Debug + Send {
    /// The catalog entry of the called capability.
    fn capability(&self) -> &'static Capability;
    /// The typed params.
    fn params(&self) -> &dyn Params;
}

/// The catalog's own error: its method sits here so that `error` needs no catalog.
impl CapError {
    /// The error for a name that is neither a dotted id nor a tool name of the set.
    pub fn unknown_capability(name: &str, catalog: &[&Capability]) -> Self {
        let best = catalog
            .iter()
            .flat_map(|c| [c.id, c.tool_name])
            .map(|n| (strsim::levenshtein(n, name), n))
            .min();
        let err = CapError::new(
            ErrorKind::InvalidInput,
            format!("there is no capability named `{name}`"),
        );
        match best {
            Some((d, n)) if d <= 3 => {
                err.with_hint(format!("did you mean `{n}`? `airun list` shows them all"))
            }
            _ => err.with_hint("`airun list` shows every capability"),
        }
    }
}

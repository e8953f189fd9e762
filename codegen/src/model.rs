//! The spec file model: what a `specs/*.yaml` file may contain, as serde types.
//!
//! Every struct denies unknown fields, and every value whose later checks need a
//! position is wrapped in [`Spanned`] so a diagnostic can point at `file:line:col`.

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;

/// One capability spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Identity and the text a model reads.
    pub meta: Meta,
    /// Inputs and outputs.
    pub interface: Interface,
    /// Side effects, confirmation, idempotence, timeout.
    pub contracts: Contracts,
    /// Undo strategy and targets.
    pub behavior: Behavior,
}

/// The `meta` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Dotted id, `namespace.sub.verb`.
    pub id: Spanned<String>,
    /// Semantic version of the spec.
    pub version: Spanned<String>,
    /// Short human title.
    pub title: Spanned<String>,
    /// What the model reads to decide when and how to call the capability.
    pub description: Spanned<String>,
}

/// The `interface` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Named inputs, in declaration order.
    #[serde(default)]
    pub inputs: Fields,
    /// Named outputs, in declaration order.
    #[serde(default)]
    pub outputs: Fields,
}

/// An ordered map of field name to field, keeping each name's position.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(Spanned<String>, Spanned<Field>)>);

impl Fields {
    /// Looks a field up by name.
    pub fn get(&self, name: &str) -> Option<&Spanned<Field>> {
        self.0.iter().find(|(n, _)| n.value == name).map(|(_, f)| f)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V(PhantomData<Fields>);
        impl<'de> Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of field names to field definitions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The value types a field may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// A whole number (i64).
    Integer,
    /// A floating point number (f64).
    Number,
    /// `true` or `false`.
    Boolean,
    /// A workspace path; handlers receive a sandboxed path type.
    Path,
    /// An absolute http(s) URL.
    Url,
    /// Binary data, base64 on the wire.
    Bytes,
    /// Any JSON value.
    Json,
    /// A list; `items` describes the elements.
    Array,
    /// An object; `properties` describes its fields (without them, a free map of JSON values).
    Object,
}

impl FieldType {
    /// The spelling used in spec files.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Path => "path",
            FieldType::Url => "url",
            FieldType::Bytes => "bytes",
            FieldType::Json => "json",
            FieldType::Array => "array",
            FieldType::Object => "object",
        }
    }
}

/// How a handler uses a `path` input; the sandbox checks it before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read through the path (symlinks inside the workspace are followed).
    #[default]
    Read,
    /// Look at the entry itself without following a final symlink.
    Inspect,
    /// Create or change what the path names.
    Write,
    /// Remove what the path names (a final symlink is removed, not followed).
    Delete,
}

/// One input or output field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The value type.
    #[serde(rename = "type")]
    pub ty: Spanned<FieldType>,
    /// What the field means; models read this.
    pub description: Spanned<String>,
    /// Inputs: must the caller give it (default false). Outputs: always present (default true).
    pub required: Option<Spanned<bool>>,
    /// The value used when an optional input is left out.
    pub default: Option<Spanned<serde_json::Value>>,
    /// Redacted in audit records and confirmation prompts.
    #[serde(default)]
    pub sensitive: bool,
    /// Smallest allowed number.
    pub min: Option<Spanned<f64>>,
    /// Largest allowed number.
    pub max: Option<Spanned<f64>>,
    /// Shortest allowed string (characters) or array (elements).
    pub min_length: Option<Spanned<u64>>,
    /// Longest allowed string (characters) or array (elements).
    pub max_length: Option<Spanned<u64>>,
    /// A regular expression (Rust `regex` syntax) the whole string must match.
    pub pattern: Option<Spanned<String>>,
    /// The allowed values of a string.
    #[serde(rename = "enum")]
    pub enum_values: Option<Spanned<Vec<String>>>,
    /// Element type of an array.
    pub items: Option<Box<Spanned<Field>>>,
    /// Fields of an object.
    pub properties: Option<Spanned<Fields>>,
    /// For `path` inputs: how the handler uses the path.
    pub access: Option<Spanned<Access>>,
    /// A shared type from `specs/types.yaml` (`ref: EntryKind`): it supplies the `enum`,
    /// and every field naming it shares one generated Rust type.
    #[serde(rename = "ref")]
    pub named: Option<Spanned<String>>,
}

/// Side-effect classes a capability may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, PartialOrd, Ord)]
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
    /// All classes, in a stable order.
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

    /// The spelling used in spec files.
    pub fn name(self) -> &'static str {
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

    /// The Rust variant name in `airun::SideEffect`.
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

/// The `contracts` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contracts {
    /// Declared side-effect classes.
    pub side_effects: Spanned<Vec<Spanned<SideEffect>>>,
    /// A person must approve each call.
    #[serde(default)]
    pub requires_confirmation: bool,
    /// A boolean input that, when true, makes the call change nothing (a dry run): then no
    /// confirmation is asked and no undo point is recorded.
    pub requires_confirmation_unless: Option<Spanned<String>>,
    /// Repeating the call with the same inputs has no further effect.
    #[serde(default)]
    pub idempotent: bool,
    /// Wall-clock limit for one call.
    pub timeout_seconds: Spanned<u64>,
    /// MCP destructiveHint override. Derived when absent: true for write, delete, exec and
    /// network writes; set `false` for purely additive capabilities such as making a folder.
    pub destructive: Option<Spanned<bool>>,
}

/// Undo strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoStrategy {
    /// Nothing to undo (read-only capabilities).
    None,
    /// The pipeline snapshots `undo_targets` before the call and can restore them.
    RestoreFromBackup,
    /// The effect cannot be taken back (e.g. a network write); the prompt says so.
    Irreversible,
    /// The call is itself a move through the undo journal (undo, redo); it is reversed by
    /// the opposite move, not recorded as an operation of its own.
    Journal,
}

impl UndoStrategy {
    /// The Rust variant name in `airun::UndoStrategy`.
    pub fn variant(self) -> &'static str {
        match self {
            UndoStrategy::None => "None",
            UndoStrategy::RestoreFromBackup => "RestoreFromBackup",
            UndoStrategy::Irreversible => "Irreversible",
            UndoStrategy::Journal => "Journal",
        }
    }
}

/// The `behavior` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behavior {
    /// How the call is undone.
    pub undo_strategy: Spanned<UndoStrategy>,
    /// Path inputs whose before-image the pipeline saves.
    #[serde(default)]
    pub undo_targets: Vec<Spanned<String>>,
}

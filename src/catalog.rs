//! The catalog model the generated code fills: capability metadata, and the traits the
//! pipeline reads a parsed call through ([`CallInfo`], [`Params`]). The set's dispatch
//! trait, which needs the powers, is [`crate::powers::CapabilitySet`].

use crate::error::{CapError, ErrorKind};
use crate::types::WsPath;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The spec vocabulary, defined once for the generator and the runtime.
pub use airun_spec_vocab::{Access, SideEffect, UndoStrategy};

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

/// A JSON Schema generated from a spec: the JSON text, parsed once on first use.
///
/// The generator builds the text with `serde_json` and checks that it parses back to the
/// same JSON object before it writes the code, so the parse here cannot fail for
/// generated catalogs.
pub struct Schema {
    text: &'static str,
    parsed: OnceLock<Map<String, Value>>,
}

impl Schema {
    /// Wraps schema text written by the generator (a JSON object).
    pub const fn generated(text: &'static str) -> Schema {
        Schema {
            text,
            parsed: OnceLock::new(),
        }
    }

    /// The JSON text.
    pub fn text(&self) -> &'static str {
        self.text
    }

    /// The schema as a JSON object, parsed on the first call.
    ///
    /// # Panics
    ///
    /// When the text is not a JSON object, which only hand-written text can be: the
    /// generator checks its output before writing it.
    pub fn object(&self) -> &Map<String, Value> {
        self.parsed.get_or_init(|| {
            serde_json::from_str(self.text).unwrap_or_else(|e| {
                panic!(
                    "a capability schema is not a JSON object ({e}); catalogs must come from airun-codegen, which checks them: {}",
                    self.text
                )
            })
        })
    }

    /// The schema as a JSON value (a copy of the parsed object).
    pub fn to_value(&self) -> Value {
        Value::Object(self.object().clone())
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Schema").field(&self.text).finish()
    }
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
    /// MCP input JSON Schema.
    pub input_schema: Schema,
    /// MCP output JSON Schema.
    pub output_schema: Schema,
    /// OpenAI strict-mode projection of the input schema.
    pub openai_strict_schema: Schema,
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
    /// What the capability is and its contracts, as `airun list --json` and
    /// `GET /api/v1/capabilities` show it.
    pub fn summary_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "tool_name": self.tool_name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "side_effects": self.side_effects.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "requires_confirmation": self.requires_confirmation,
            "confirmation_unless": self.confirmation_unless,
            "idempotent": self.idempotent,
            "undo_strategy": self.undo_strategy.as_str(),
            "timeout_seconds": self.timeout_seconds,
            "annotations": {
                "readOnlyHint": self.annotations.read_only,
                "destructiveHint": self.annotations.destructive,
                "idempotentHint": self.annotations.idempotent,
                "openWorldHint": self.annotations.open_world,
            },
        })
    }

    /// The summary with the undo targets, sensitive inputs and the input and output
    /// schemas, as `GET /api/v1/capabilities/{id}` shows it.
    pub fn detail_json(&self) -> Value {
        let mut v = self.summary_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("undo_targets".into(), serde_json::json!(self.undo_targets));
            o.insert(
                "sensitive_inputs".into(),
                serde_json::json!(self.sensitive_inputs),
            );
            o.insert("input_schema".into(), self.input_schema_json());
            o.insert("output_schema".into(), self.output_schema_json());
        }
        v
    }

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
        self.input_schema.to_value()
    }

    /// The output schema as a JSON value.
    pub fn output_schema_json(&self) -> serde_json::Value {
        self.output_schema.to_value()
    }

    /// The OpenAI strict-mode input schema as a JSON value.
    pub fn openai_schema_json(&self) -> serde_json::Value {
        self.openai_strict_schema.to_value()
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

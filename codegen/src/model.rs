//! The spec file model: what a `specs/*.yaml` file may contain, as serde types.
//!
//! Every struct denies unknown fields, and every value whose later checks need a
//! position is wrapped in [`Spanned`] so a diagnostic can point at `file:line:col`.

pub use airun_spec_vocab::{Access, SideEffect, UndoStrategy};
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

impl Spec {
    /// The declared side effects, without their spans.
    pub fn side_effects(&self) -> Vec<SideEffect> {
        self.contracts
            .side_effects
            .value
            .iter()
            .map(|e| e.value)
            .collect()
    }
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

/// A `min` / `max` bound as written: a whole number stays an exact integer, so integer
/// fields are compared as integers, never through a float.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
}

impl Bound {
    /// The bound of a JSON number (a default value, say).
    pub fn of_json(n: &serde_json::Number) -> Bound {
        match n.as_i64() {
            Some(i) => Bound::Int(i),
            None => Bound::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    /// The bound as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Bound::Int(i) => i as f64,
            Bound::Float(f) => f,
        }
    }

    /// The bound as an exact whole number, when it is one (a float such as `10.0` counts
    /// when it is within the range floats hold exactly).
    pub fn as_i64(self) -> Option<i64> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        match self {
            Bound::Int(i) => Some(i),
            Bound::Float(f) if f.fract() == 0.0 && f.abs() <= EXACT => Some(f as i64),
            Bound::Float(_) => None,
        }
    }

    /// True when it is a finite number.
    pub fn is_finite(self) -> bool {
        self.as_f64().is_finite()
    }
}

impl PartialEq for Bound {
    fn eq(&self, other: &Bound) -> bool {
        self.partial_cmp(other) == Some(std::cmp::Ordering::Equal)
    }
}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Bound) -> Option<std::cmp::Ordering> {
        match (self.as_i64(), other.as_i64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Int(i) => write!(f, "{i}"),
            Bound::Float(x) => write!(f, "{x}"),
        }
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bound;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bound, E> {
                Ok(Bound::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bound, E> {
                Ok(i64::try_from(v).map_or(Bound::Float(v as f64), Bound::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bound, E> {
                Ok(Bound::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Which side of a capability's interface a field is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// An input (`interface.inputs`, and the fields nested in one).
    Input,
    /// An output (`interface.outputs`, and the fields nested in one).
    Output,
}

impl Side {
    /// `Input` when `input` is true, else `Output`.
    pub fn of(input: bool) -> Side {
        if input { Side::Input } else { Side::Output }
    }
}

/// Whether a field always has a value: the one rule every schema, type and check follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Always there: the caller must give an input; an output is always returned.
    Required,
    /// An input the caller may leave out; its spec default fills it in.
    Defaulted,
    /// May be absent (an `Option` in Rust, left out of the JSON when absent).
    Optional,
}

impl Presence {
    /// True when the field is listed under the schema's `required`.
    pub fn is_required(self) -> bool {
        self == Presence::Required
    }

    /// True when the parsed value always has the field (required, or filled from its default).
    pub fn always_present(self) -> bool {
        self != Presence::Optional
    }
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
    pub min: Option<Spanned<Bound>>,
    /// Largest allowed number.
    pub max: Option<Spanned<Bound>>,
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

impl Field {
    /// True for `array` of `path`.
    pub fn is_path_array(&self) -> bool {
        self.ty.value == FieldType::Array
            && self
                .items
                .as_ref()
                .is_some_and(|i| i.value.ty.value == FieldType::Path)
    }

    /// For a `path` input or an array of paths: how the handler uses the path (its
    /// `access`, `read` when not given). `None` for every other field.
    pub fn path_access(&self) -> Option<Access> {
        (self.ty.value == FieldType::Path || self.is_path_array())
            .then(|| self.access.as_ref().map(|a| a.value).unwrap_or_default())
    }

    /// Whether the field always has a value. Inputs are optional unless `required: true`,
    /// and a `default` makes an input defaulted; outputs are required unless `required: false`
    /// (outputs have no defaults).
    pub fn presence(&self, side: Side) -> Presence {
        let flag = self.required.as_ref().map(|r| r.value);
        match side {
            Side::Input if self.default.is_some() => Presence::Defaulted,
            Side::Input if flag == Some(true) => Presence::Required,
            Side::Input => Presence::Optional,
            Side::Output if flag == Some(false) => Presence::Optional,
            Side::Output => Presence::Required,
        }
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

//! How a capability appears in `tools/list`: every byte of it is read into the model's
//! context on each conversation, so it says each thing once.
//!
//! - The description says what the tool does and how its inputs work together; each
//!   input's own description is in the input schema, and is not repeated.
//! - The input schema is the generated one, whole (types, bounds, enums, defaults, and a
//!   description per input): it is what the model writes arguments from.
//! - The output schema is the type contract `structuredContent` follows: the generated
//!   schema without descriptions (the tool description explains the results in prose; the
//!   CLI's `airun inspect` and the REST API show every output's description), and with
//!   its objects open (no `additionalProperties: false`), so that a client validating
//!   results keeps working when a later version adds an output.
//! - Annotations leave out the hints that say what a client already assumes: MCP's
//!   defaults (`readOnlyHint: false`, `destructiveHint: true`, `idempotentHint: false`,
//!   `openWorldHint: true`), and for a read-only tool `destructiveHint: false` and
//!   `idempotentHint: true` (MCP reads those two only for tools that change things).
//! - The title is the spec's. The dotted id (`io.fs.read_file`) is not repeated: calls
//!   take the tool name, and `airun list` and the REST API map names to ids.

use crate::catalog::Capability;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The MCP tool for a capability.
pub fn tool_for(cap: &Capability) -> Tool {
    Tool::new(
        cap.tool_name,
        cap.description,
        Arc::new(cap.input_schema.object().clone()),
    )
    .with_title(cap.title)
    .with_raw_output_schema(Arc::new(contract(cap.output_schema.object())))
    .with_annotations(annotations(cap))
}

/// The spec's annotations, less what MCP assumes when a hint is absent.
pub fn annotations(cap: &Capability) -> ToolAnnotations {
    let a = cap.annotations;
    let assumed = assumed(a.read_only);
    let mut out = ToolAnnotations::new();
    out.read_only_hint = a.read_only.then_some(true);
    out.destructive_hint = (a.destructive != assumed.destructive).then_some(a.destructive);
    out.idempotent_hint = (a.idempotent != assumed.idempotent).then_some(a.idempotent);
    out.open_world_hint = (!a.open_world).then_some(false);
    out
}

/// What a client assumes of the hints it is not given: MCP's defaults, except that a
/// read-only tool destroys nothing and can be repeated (MCP reads `destructiveHint` and
/// `idempotentHint` only for tools that change things).
pub fn assumed(read_only: bool) -> crate::catalog::Annotations {
    crate::catalog::Annotations {
        read_only,
        destructive: !read_only,
        idempotent: read_only,
        open_world: true,
    }
}

/// The hints as a client reads them: the values given, or what it assumes (see
/// [`assumed`]).
pub fn read_hints(a: &ToolAnnotations) -> crate::catalog::Annotations {
    let assumed = assumed(a.read_only_hint.unwrap_or(false));
    crate::catalog::Annotations {
        read_only: assumed.read_only,
        destructive: a.destructive_hint.unwrap_or(assumed.destructive),
        idempotent: a.idempotent_hint.unwrap_or(assumed.idempotent),
        open_world: a.open_world_hint.unwrap_or(assumed.open_world),
    }
}

/// An output schema as a type contract: the same schema without `description`s, its
/// objects open to added properties.
pub fn contract(schema: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(schema.len());
    for (k, v) in schema {
        let v = match k.as_str() {
            "description" => continue,
            "additionalProperties" if v == &Value::Bool(false) => continue,
            // A map from property names to schemas: the names stay, whatever they are.
            "properties" | "$defs" => match v {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, s)| (name.clone(), subschema(s)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => subschema(v),
            "anyOf" | "oneOf" | "allOf" => match v {
                Value::Array(branches) => Value::Array(branches.iter().map(subschema).collect()),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    out
}

fn subschema(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(contract(o)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contracts_drop_descriptions_but_keep_properties_named_description() {
        let schema = json!({
            "type": "object",
            "description": "gone",
            "properties": {
                "description": {"type": "string", "description": "gone too"},
                "list": {"type": "array", "items": {"type": "integer", "description": "x"}},
                "any": {"anyOf": [{"type": "null", "description": "y"}]}
            },
            "required": ["description"],
            "additionalProperties": false
        });
        let out = contract(schema.as_object().unwrap());
        assert_eq!(
            Value::Object(out),
            json!({
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "list": {"type": "array", "items": {"type": "integer"}},
                    "any": {"anyOf": [{"type": "null"}]}
                },
                "required": ["description"]
            })
        );
    }

    #[test]
    fn hints_read_back_as_the_spec_said_them() {
        for cap in crate::stdlib::CATALOG {
            assert_eq!(read_hints(&annotations(cap)), cap.annotations, "{}", cap.id);
        }
    }
}

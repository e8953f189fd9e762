//! JSON Schema emission: the MCP input and output schemas, and the OpenAI strict-mode
//! projection of the input schema.

use crate::model::{Bound, Field, FieldType, Fields, Side};
use proc_macro2::Literal;
use serde_json::{Map, Value, json};

/// The MCP `inputSchema` of a capability.
pub fn input_schema(inputs: &Fields) -> Value {
    object_schema(inputs, Side::Input)
}

/// The MCP `outputSchema` of a capability.
pub fn output_schema(outputs: &Fields) -> Value {
    object_schema(outputs, Side::Output)
}

fn object_schema(fields: &Fields, side: Side) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, f) in &fields.0 {
        let f = &f.value;
        // An optional output is left out of the result when it has no value, never
        // `null`, so its schema is its plain type.
        let s = field_schema(f, side);
        props.insert(name.value.clone(), s);
        if f.presence(side).is_required() {
            required.push(Value::String(name.value.clone()));
        }
    }
    let mut schema = closed_object(props, required);
    // No empty `required`: leaving it out says the same in fewer bytes.
    if let Some(o) = schema.as_object_mut()
        && o.get("required")
            .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty))
    {
        o.remove("required");
    }
    schema
}

fn field_schema(f: &Field, side: Side) -> Value {
    let mut s = Map::new();
    match f.ty.value {
        FieldType::String | FieldType::Path => {
            s.insert("type".into(), "string".into());
        }
        FieldType::Url => {
            s.insert("type".into(), "string".into());
            s.insert("format".into(), "uri".into());
        }
        FieldType::Bytes => {
            s.insert("type".into(), "string".into());
            s.insert("contentEncoding".into(), "base64".into());
        }
        FieldType::Integer => {
            s.insert("type".into(), "integer".into());
        }
        FieldType::Number => {
            s.insert("type".into(), "number".into());
        }
        FieldType::Boolean => {
            s.insert("type".into(), "boolean".into());
        }
        FieldType::Json => {
            // Any JSON value, spelled with one type per branch (portable to clients that
            // map schemas onto single-`type` dialects, unlike a bare `{}`).
            s.insert("anyOf".into(), any_json());
        }
        FieldType::Array => {
            s.insert("type".into(), "array".into());
            if let Some(items) = &f.items {
                s.insert("items".into(), field_schema(&items.value, side));
            }
        }
        FieldType::Object => match &f.properties {
            Some(p) => {
                if let Value::Object(o) = object_schema(&p.value, side) {
                    s.extend(o);
                }
            }
            None => {
                s.insert("type".into(), "object".into());
            }
        },
    }
    s.insert("description".into(), f.description.value.trim().into());
    if let Some(e) = &f.enum_values {
        s.insert("enum".into(), e.value.clone().into());
    }
    let is_int = f.ty.value == FieldType::Integer;
    if let Some(m) = &f.min {
        s.insert("minimum".into(), bound(m.value, is_int));
    }
    if let Some(m) = &f.max {
        s.insert("maximum".into(), bound(m.value, is_int));
    }
    let (lo, hi) = if f.ty.value == FieldType::Array {
        ("minItems", "maxItems")
    } else {
        ("minLength", "maxLength")
    };
    if let Some(m) = &f.min_length {
        s.insert(lo.into(), m.value.into());
    }
    if let Some(m) = &f.max_length {
        s.insert(hi.into(), m.value.into());
    }
    if let Some(p) = &f.pattern {
        s.insert("pattern".into(), format!("^(?:{})$", p.value).into());
    }
    if let Some(d) = &f.default {
        s.insert("default".into(), d.value.clone());
    }
    Value::Object(s)
}

/// The branches of "any JSON value".
fn any_json() -> Value {
    json!([
        {"type": "object"},
        {"type": "array"},
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"}
    ])
}

/// A bound in the schema: an integer for integer fields, a float for number fields.
fn bound(b: Bound, int: bool) -> Value {
    match (int, b.as_i64()) {
        (true, Some(i)) => json!(i),
        _ => json!(b.as_f64()),
    }
}

fn nullable(mut s: Value) -> Value {
    if let Some(o) = s.as_object_mut() {
        match o.get("type").cloned() {
            Some(Value::String(t)) => {
                o.insert("type".into(), json!([t, "null"]));
            }
            Some(_) => {}
            None => {}
        }
        if let Some(Value::Array(e)) = o.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    s
}

/// Keywords that OpenAI strict mode accepts, per schema.
const STRICT_KEYWORDS: &[&str] = &[
    "type",
    "description",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "pattern",
];

/// The OpenAI strict-mode projection of the input schema, plus the names of the inputs
/// that the projection carries as JSON-encoded strings (free-form values, which strict
/// mode cannot describe); adapters decode those before parsing.
pub fn openai_strict(inputs: &Fields) -> (Value, Vec<String>) {
    let mut encoded = Vec::new();
    let schema = strict_object(inputs, &mut encoded, true);
    (schema, encoded)
}

fn strict_object(fields: &Fields, encoded: &mut Vec<String>, top: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, f) in &fields.0 {
        let f = &f.value;
        let free_form = matches!(f.ty.value, FieldType::Json)
            || (f.ty.value == FieldType::Object && f.properties.is_none());
        let mut s = if free_form && top {
            encoded.push(name.value.clone());
            json!({
                "type": "string",
                "description": format!("{} Give it as JSON text (for example {{\"key\": \"value\"}}).", f.description.value.trim()),
            })
        } else {
            strict_field(f, encoded)
        };
        if !f.presence(Side::Input).is_required() {
            s = nullable(s);
            if let Some(o) = s.as_object_mut() {
                let mut desc = o
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                desc.push_str(&match &f.default {
                    Some(d) => format!(" Optional: null means the default, {}.", d.value),
                    None => " Optional: null to leave it out.".to_string(),
                });
                o.insert("description".into(), desc.into());
            }
        }
        props.insert(name.value.clone(), s);
        required.push(Value::String(name.value.clone()));
    }
    closed_object(props, required)
}

/// Projects one field: strict objects all the way down, only keywords strict mode knows.
fn strict_field(f: &Field, encoded: &mut Vec<String>) -> Value {
    let mut s = field_schema(f, Side::Input);
    if let Some(o) = s.as_object_mut() {
        o.retain(|k, _| STRICT_KEYWORDS.contains(&k.as_str()));
        match f.ty.value {
            FieldType::Object => match &f.properties {
                Some(p) => {
                    if let Value::Object(obj) = strict_object(&p.value, encoded, false) {
                        o.extend(obj);
                    }
                }
                None => {
                    o.insert("properties".into(), json!({}));
                    o.insert("required".into(), json!([]));
                    o.insert("additionalProperties".into(), Value::Bool(false));
                }
            },
            FieldType::Array => {
                if let Some(items) = &f.items {
                    o.insert("items".into(), strict_field(&items.value, encoded));
                }
            }
            FieldType::Json => {
                o.remove("anyOf");
                o.insert("type".into(), "string".into());
            }
            _ => {}
        }
    }
    s
}

/// A schema as a raw string literal of compact JSON (`r#"{"type":"object",...}"#`), for the
/// generated `::airun::Schema::generated(...)`. The text is checked to parse back to the
/// same JSON object, so the runtime's one parse of it cannot fail.
pub fn raw_literal(schema: &Value) -> Literal {
    assert!(schema.is_object(), "a capability schema is a JSON object");
    let text = schema.to_string();
    let back: Value = serde_json::from_str(&text).expect("serde_json reads what it writes");
    assert_eq!(&back, schema, "the schema text round-trips");
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{text}\"{hashes}")
        .parse()
        .expect("a raw string literal")
}

/// A closed object schema: these properties, these required, nothing else.
fn closed_object(props: Map<String, Value>, required: Vec<Value>) -> Value {
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_literals_hold_the_json_unescaped() {
        let lit = raw_literal(&json!({"type": "object", "description": "a \"quoted\" word"}));
        assert_eq!(
            lit.to_string(),
            r###"r#"{"type":"object","description":"a \"quoted\" word"}"#"###
        );
    }

    #[test]
    fn raw_literals_grow_their_hashes_past_the_text() {
        let lit = raw_literal(&json!({"pattern": "\"#"}));
        let text = lit.to_string();
        assert!(text.starts_with("r##\""), "{text}");
        let parsed: syn::LitStr = syn::parse_str(&text).expect("a valid literal");
        assert_eq!(parsed.value(), r##"{"pattern":"\"#"}"##);
    }
}

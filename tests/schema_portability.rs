//! Every tool schema is portable across MCP clients (what the MCP Inspector's `--strict`
//! report checks): no node whose `type` is an array (`["string", "null"]`), which clients
//! mapping schemas onto single-`type` dialects reject, and no node without a single
//! validation keyword (a bare `{}` that accepts anything).

use serde_json::Value;

/// Keywords that say something about a value.
const KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "$ref",
    "properties",
    "items",
];

/// Every schema node under `schema`, with its path.
fn nodes<'a>(path: String, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), schema));
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            nodes(format!("{path}.properties.{name}"), p, out);
        }
    }
    if let Some(items) = schema.get("items") {
        nodes(format!("{path}.items"), items, out);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            for (i, b) in branches.iter().enumerate() {
                nodes(format!("{path}.{key}[{i}]"), b, out);
            }
        }
    }
}

#[test]
fn every_tool_schema_is_portable() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for cap in airun::stdlib::CATALOG {
        for (which, schema) in [
            ("inputSchema", cap.input_schema_json()),
            ("outputSchema", cap.output_schema_json()),
        ] {
            let mut all = Vec::new();
            nodes(format!("{}.{which}", cap.tool_name), &schema, &mut all);
            for (path, node) in all {
                checked += 1;
                if node.get("type").is_some_and(Value::is_array) {
                    problems.push(format!("{path}: `type` is an array ({})", node["type"]));
                }
                let has_keyword = node
                    .as_object()
                    .is_some_and(|o| o.keys().any(|k| KEYWORDS.contains(&k.as_str())));
                if !has_keyword {
                    problems.push(format!("{path}: no validation keyword ({node})"));
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} schema nodes found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

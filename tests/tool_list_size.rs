//! The MCP tool list is read into the model's context on every conversation: it stays at
//! most 1 KiB per tool on average, says each thing once, and its token count (OpenAI's
//! cl100k_base, counted by tiktoken in the pinned Python test environment) is printed.
//!
//! `cargo test --test tool_list_size -- --nocapture` shows the figures.

mod support;

use airun::adapters::mcp::listing;
use airun::adapters::mcp::tool_for;
use rmcp::model::{ListToolsResult, Tool};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// The average budget per tool, in bytes of the compact `tools/list` response.
const BYTES_PER_TOOL: usize = 1024;

fn tools() -> Vec<Tool> {
    airun::stdlib::CATALOG.iter().map(|c| tool_for(c)).collect()
}

/// The `tools/list` response line as a stdio client receives it.
fn response(tools: Vec<Tool>) -> String {
    let result = serde_json::to_value(ListToolsResult::with_all_items(tools)).unwrap();
    json!({"jsonrpc": "2.0", "id": 1, "result": result}).to_string()
}

/// Every `description` string in a schema, with its path (property names are skipped:
/// a property may be called `description`).
fn descriptions(path: &str, schema: &Value, out: &mut Vec<(String, String)>) {
    let Some(o) = schema.as_object() else { return };
    for (k, v) in o {
        match (k.as_str(), v) {
            ("description", Value::String(d)) => out.push((path.to_string(), d.clone())),
            ("properties", Value::Object(props)) => {
                for (name, s) in props {
                    descriptions(&format!("{path}.{name}"), s, out);
                }
            }
            (_, Value::Object(_)) => descriptions(&format!("{path}/{k}"), v, out),
            (_, Value::Array(items)) => {
                for item in items {
                    descriptions(&format!("{path}/{k}"), item, out);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn the_tool_list_fits_one_kib_per_tool() {
    let tools = tools();
    let n = tools.len();
    let line = response(tools);
    let per_tool = line.len() as f64 / n as f64;
    println!(
        "tools/list: {n} tools, {} bytes, {:.3} KiB per tool",
        line.len(),
        per_tool / 1024.0
    );
    assert!(
        line.len() <= BYTES_PER_TOOL * n,
        "tools/list is {} bytes for {n} tools ({per_tool:.0} a tool, over {BYTES_PER_TOOL}): \
         shorten the spec descriptions (say each thing once) or the schemas",
        line.len()
    );
}

#[test]
fn the_tool_list_says_each_thing_once() {
    let mut problems = Vec::new();
    for t in tools() {
        let name = &t.name;
        let tool_description = t.description.as_deref().unwrap_or_default();
        let input = Value::Object(t.input_schema.as_ref().clone());
        let mut inputs = Vec::new();
        descriptions(name, &input, &mut inputs);
        for (path, d) in &inputs {
            if d.is_empty() {
                problems.push(format!("{path}: empty description"));
            }
            if d.len() > 20 && tool_description.contains(d.trim_end_matches('.')) {
                problems.push(format!("{path}: repeats the tool description: {d}"));
            }
        }
        let output = Value::Object(
            t.output_schema
                .as_ref()
                .expect("outputSchema")
                .as_ref()
                .clone(),
        );
        let mut outputs = Vec::new();
        descriptions(name, &output, &mut outputs);
        if !outputs.is_empty() {
            problems.push(format!(
                "{name}: the output schema has descriptions: {outputs:?}"
            ));
        }
        for (which, schema) in [("inputSchema", &input), ("outputSchema", &output)] {
            if schema.to_string().contains(r#""required":[]"#) {
                problems.push(format!("{name}.{which}: an empty `required`"));
            }
        }
        let a = t.annotations.as_ref().expect("annotations");
        let assumed = listing::assumed(a.read_only_hint.unwrap_or(false));
        let defaults = [
            (a.read_only_hint, false),
            (a.destructive_hint, assumed.destructive),
            (a.idempotent_hint, assumed.idempotent),
            (a.open_world_hint, assumed.open_world),
        ];
        if defaults
            .iter()
            .any(|(hint, default)| *hint == Some(*default))
        {
            problems.push(format!(
                "{name}: an annotation says what clients assume: {a:?}"
            ));
        }
        assert_eq!(
            listing::read_hints(a),
            airun::stdlib::CATALOG
                .iter()
                .find(|c| c.tool_name == name.as_ref())
                .unwrap()
                .annotations,
            "{name}: the hints a client reads"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_tool_list_token_count_is_measured() {
    let tools = tools();
    let n = tools.len();
    let line = response(tools);
    let py = support::python::python();
    let mut child = Command::new(&py)
        .arg(support::python::script("count_tokens.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "count_tokens.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counted: Value = serde_json::from_slice(&out.stdout).expect("count_tokens.py prints JSON");
    let tokens = counted["tokens"].as_u64().expect("a token count");
    let per_tool = counted["per_tool"].as_object().expect("per-tool counts");
    assert_eq!(per_tool.len(), n);
    println!(
        "tools/list: {tokens} tokens (cl100k_base) for {n} tools, {:.0} a tool",
        tokens as f64 / n as f64
    );
    let mut sorted: Vec<(&String, u64)> = per_tool
        .iter()
        .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
        .collect();
    sorted.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    for (name, t) in sorted {
        println!("  {name}: {t}");
    }
    // A real tokenizer: JSON averages well under one token per byte and over one per ten.
    assert!(
        tokens * 10 > line.len() as u64 && tokens < line.len() as u64,
        "{tokens} tokens for {} bytes is not what cl100k_base gives",
        line.len()
    );
}

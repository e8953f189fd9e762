//! `airun openai tools` and `airun openai call`, driven through the real binary.

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

const AIRUN: &str = env!("CARGO_BIN_EXE_airun");

struct Dirs {
    _tmp: tempfile::TempDir,
    ws: std::path::PathBuf,
    home: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    Dirs {
        _tmp: tmp,
        ws,
        home,
    }
}

fn airun(d: &Dirs, args: &[&str], stdin: &str) -> Value {
    let mut child = Command::new(AIRUN)
        .arg("--workspace")
        .arg(&d.ws)
        .args(args)
        .env("AIRUN_HOME", &d.home)
        .env_remove("AIRUN_WORKSPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn airun");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "airun {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Keywords OpenAI's strict mode supports (structured outputs documentation).
const ALLOWED: &[&str] = &[
    "type",
    "description",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "$ref",
    "$defs",
    "definitions",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
];

fn types(s: &Value) -> Vec<String> {
    match &s["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => s["anyOf"]
            .as_array()
            .map(|a| a.iter().flat_map(types).collect())
            .unwrap_or_default(),
    }
}

fn nullable(s: &Value) -> bool {
    types(s).iter().any(|t| t == "null")
        && s["enum"]
            .as_array()
            .is_none_or(|e| e.contains(&Value::Null))
}

/// Checks every strict-mode rule on one schema; `optional` are the property names (of
/// this object) that the MCP schema does not require.
fn check(tool: &str, at: &str, s: &Value, errors: &mut Vec<String>) {
    let o = s.as_object().expect("schema object");
    for k in o.keys() {
        if !ALLOWED.contains(&k.as_str()) {
            errors.push(format!(
                "{tool} {at}: keyword `{k}` not allowed in strict mode"
            ));
        }
    }
    if types(s).iter().any(|t| t == "object") {
        if s["additionalProperties"] != json!(false) {
            errors.push(format!("{tool} {at}: additionalProperties is not false"));
        }
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let props = s["properties"].as_object();
        if props.is_none() {
            errors.push(format!("{tool} {at}: object without properties"));
        }
        for (name, p) in props.into_iter().flatten() {
            if !required.contains(&name.as_str()) {
                errors.push(format!("{tool} {at}: `{name}` is not in required"));
            }
            check(tool, &format!("{at}.{name}"), p, errors);
        }
    }
    if let Some(items) = s.get("items") {
        check(tool, &format!("{at}[]"), items, errors);
    }
    for (i, sub) in s["anyOf"].as_array().into_iter().flatten().enumerate() {
        check(tool, &format!("{at}|{i}"), sub, errors);
    }
}

fn name_ok(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_tool_list(list: &Value, api: &str) {
    let list = list.as_array().expect("an array of tools");
    let mut names: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    for t in list {
        assert_eq!(t["type"], "function");
        let f = if api == "chat" { &t["function"] } else { t };
        assert_eq!(f["strict"], json!(true), "{t}");
        let name = f["name"].as_str().expect("name");
        assert!(
            name_ok(name),
            "`{name}` does not match ^[a-zA-Z0-9_-]{{1,64}}$"
        );
        assert!(f["description"].as_str().is_some_and(|d| !d.is_empty()));
        names.push(name);
        let params = &f["parameters"];
        assert_eq!(params["type"], "object", "{name}");
        check(name, "$", params, &mut errors);
        // Optional inputs (not required in the MCP schema) are nullable.
        let cap = airun::stdlib::CATALOG
            .iter()
            .find(|c| c.tool_name == name)
            .expect("in catalog");
        let mcp = cap.input_schema_json();
        let mcp_required: Vec<&str> = mcp["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let props = params["properties"].as_object().unwrap();
        let mcp_props = mcp["properties"].as_object().unwrap();
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            mcp_props.keys().collect::<Vec<_>>(),
            "{name}: the strict schema must carry every input"
        );
        for (p, s) in props {
            let optional = !mcp_required.contains(&p.as_str());
            if optional && !nullable(s) {
                errors.push(format!("{name}.{p}: optional but not nullable"));
            }
            if !optional && nullable(s) {
                errors.push(format!("{name}.{p}: required but nullable"));
            }
        }
        // The library's own checker agrees.
        assert!(
            airun::adapters::openai::strict_violations(params).is_empty(),
            "{name}"
        );
    }
    assert!(
        errors.is_empty(),
        "strict-mode violations ({api}):\n{}",
        errors.join("\n")
    );
    let mut expected: Vec<&str> = airun::stdlib::CATALOG.iter().map(|c| c.tool_name).collect();
    expected.sort();
    names.sort();
    assert_eq!(names, expected);
}

#[test]
fn chat_tool_list_follows_every_strict_rule() {
    let d = dirs();
    check_tool_list(
        &airun(&d, &["openai", "tools", "--api", "chat"], ""),
        "chat",
    );
    // Chat is the default.
    assert_eq!(
        airun(&d, &["openai", "tools"], ""),
        airun(&d, &["openai", "tools", "--api", "chat"], "")
    );
}

#[test]
fn responses_tool_list_follows_every_strict_rule() {
    let d = dirs();
    check_tool_list(
        &airun(&d, &["openai", "tools", "--api", "responses"], ""),
        "responses",
    );
}

fn content(v: &Value) -> Value {
    let text = v["content"]
        .as_str()
        .or(v["output"].as_str())
        .expect("content text");
    serde_json::from_str(text).expect("content is JSON")
}

#[test]
fn chat_call_round_trip_write_then_read() {
    let d = dirs();
    let reply = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [
            {"id": "call_w", "type": "function", "function": {"name": "io_fs_write_file",
                "arguments": "{\"path\":\"notes/todo.txt\",\"content\":\"buy milk\",\"encoding\":null,\"create_dirs\":true,\"mode\":null}"}},
            {"id": "call_r", "type": "function", "function": {"name": "io_fs_read_file",
                "arguments": "{\"path\":\"notes/todo.txt\",\"encoding\":null,\"offset_line\":null,\"limit_lines\":null}"}},
            {"id": "call_s", "type": "function", "function": {"name": "data_json_stringify",
                "arguments": "{\"value\":\"{\\\"b\\\":1,\\\"a\\\":[true]}\",\"pretty\":null,\"sort_keys\":true}"}}
        ]
    });
    let out = airun(
        &d,
        &["openai", "call", "--api", "chat", "--yes"],
        &reply.to_string(),
    );
    let out = out.as_array().expect("array of tool messages");
    assert_eq!(out.len(), 3);
    for (m, id) in out.iter().zip(["call_w", "call_r", "call_s"]) {
        assert_eq!(m["role"], "tool");
        assert_eq!(m["tool_call_id"], id);
    }
    assert!(content(&out[0]).get("error").is_none(), "{}", out[0]);
    assert_eq!(content(&out[1])["content"], "buy milk");
    assert_eq!(content(&out[2])["text"], r#"{"a":[true],"b":1}"#);
    assert_eq!(
        std::fs::read_to_string(d.ws.join("notes/todo.txt")).unwrap(),
        "buy milk"
    );

    // The bare tool_calls array works too.
    let bare = reply["tool_calls"].as_array().unwrap()[1..2].to_vec();
    let out = airun(&d, &["openai", "call"], &Value::Array(bare).to_string());
    assert_eq!(content(&out[0])["content"], "buy milk");
}

#[test]
fn responses_call_round_trip_write_then_read() {
    let d = dirs();
    let response = json!({
        "id": "resp_1",
        "object": "response",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "id": "fc_1", "call_id": "call_w", "name": "io_fs_write_file",
             "arguments": "{\"path\":\"a.txt\",\"content\":\"alpha\",\"encoding\":null,\"create_dirs\":null,\"mode\":\"create_new\"}"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_r", "name": "io_fs_read_file",
             "arguments": "{\"path\":\"a.txt\",\"encoding\":null,\"offset_line\":null,\"limit_lines\":null}"}
        ]
    });
    let out = airun(
        &d,
        &["openai", "call", "--api", "responses", "--yes"],
        &response.to_string(),
    );
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["type"], "function_call_output");
    assert_eq!(out[0]["call_id"], "call_w");
    assert_eq!(out[1]["call_id"], "call_r");
    assert_eq!(content(&out[1])["content"], "alpha");

    // Bare function_call items.
    let items = response["output"].as_array().unwrap()[2..].to_vec();
    let out = airun(
        &d,
        &["openai", "call", "--api", "responses"],
        &Value::Array(items).to_string(),
    );
    assert_eq!(content(&out[0])["content"], "alpha");
}

#[test]
fn call_without_approval_is_declined_and_errors_reach_the_model() {
    let d = dirs();
    let reply = json!({"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "io_fs_write_file",
            "arguments": "{\"path\":\"a.txt\",\"content\":\"x\",\"encoding\":null,\"create_dirs\":null,\"mode\":null}"}},
        {"id": "c2", "type": "function", "function": {"name": "io_fs_read_file", "arguments": "{\"path\": 7}"}},
        {"id": "c3", "type": "function", "function": {"name": "no_such_tool", "arguments": "{}"}},
        {"id": "c4", "type": "function", "function": {"name": "io_fs_write_file",
            "arguments": "{\"path\":\"b.txt\",\"content\":\"x\",\"confirm\":true}"}}
    ]});
    let out = airun(&d, &["openai", "call"], &reply.to_string());
    let out = out.as_array().unwrap();
    assert_eq!(content(&out[0])["error"]["kind"], "declined");
    assert!(
        content(&out[0])["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--yes")
    );
    assert_eq!(content(&out[1])["error"]["kind"], "invalid_input");
    assert_eq!(content(&out[1])["error"]["field"], "path");
    assert_eq!(content(&out[2])["error"]["kind"], "invalid_input");
    // A confirmation flag in the arguments is never honoured.
    assert_eq!(content(&out[3])["error"]["field"], "confirm");
    assert!(!d.ws.join("a.txt").exists());
    assert!(!d.ws.join("b.txt").exists());
}

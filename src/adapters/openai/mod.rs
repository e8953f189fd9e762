//! OpenAI function calling over the pipeline: strict-mode tool lists for the Chat
//! Completions and Responses APIs, and the call path that takes a model's tool calls and
//! returns the tool messages (Chat) or `function_call_output` items (Responses).
//!
//! ```no_run
//! use airun::adapters::openai::{self, Api};
//! use airun::pipeline::{Pipeline, NoConfirmer, Settings};
//! use airun::sandbox::Workspace;
//!
//! let ws = Workspace::open(std::path::Path::new("/tmp/ws"), true, None)?;
//! let pipeline = Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
//! // The `tools` parameter of the request.
//! let tools = openai::tools(&pipeline.capabilities(), Api::Chat);
//! // ... send the request; the model answers with an assistant message ...
//! let reply = serde_json::json!({"role": "assistant", "tool_calls": [{
//!     "id": "call_1", "type": "function",
//!     "function": {"name": "io_fs_exists", "arguments": "{\"path\":\"notes.txt\"}"}}]});
//! let calls = openai::parse_tool_calls(&reply)?;
//! // The messages to append to the conversation.
//! let messages = openai::run_tool_calls(&pipeline, &calls, Api::Chat, &NoConfirmer);
//! # let _ = (tools, messages);
//! # Ok::<(), airun::CapError>(())
//! ```
//!
//! Confirmation: a capability that needs a person's yes runs only when the operator
//! pre-approved it (the settings' auto-approve list, or a [`Confirmer`] such as
//! [`FlagConfirmer`](crate::pipeline::FlagConfirmer) for `--yes`); otherwise the call is
//! declined and the model is told so. Nothing in the model's arguments can approve a call.

use crate::adapters::error_json;
use crate::catalog::Capability;
use crate::error::{CapError, ErrorKind};
use crate::pipeline::{CallOptions, Confirmer, Pipeline};
use crate::powers::CapabilitySet;
use serde_json::{Value, json};

/// Which OpenAI API the tool list and the outputs are shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Api {
    /// Chat Completions: `tools: [{"type":"function","function":{...}}]`, tool messages.
    #[default]
    Chat,
    /// Responses: `tools: [{"type":"function","name",...}]`, `function_call_output` items.
    Responses,
}

/// One tool definition with `strict: true` and the capability's strict-mode schema.
pub fn tool_definition(cap: &Capability, api: Api) -> Value {
    let parameters = cap.openai_schema_json();
    match api {
        Api::Chat => json!({
            "type": "function",
            "function": {
                "name": cap.tool_name,
                "description": cap.description,
                "parameters": parameters,
                "strict": true,
            },
        }),
        Api::Responses => json!({
            "type": "function",
            "name": cap.tool_name,
            "description": cap.description,
            "parameters": parameters,
            "strict": true,
        }),
    }
}

/// The `tools` parameter for a request: every capability given, strict.
pub fn tools(caps: &[&Capability], api: Api) -> Value {
    Value::Array(caps.iter().map(|c| tool_definition(c, api)).collect())
}

/// One tool call the model made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id (`id` in Chat, `call_id` in Responses); the output must echo it.
    pub call_id: String,
    /// The function name (a tool name such as `io_fs_read_file`).
    pub name: String,
    /// The arguments as the model wrote them: JSON text.
    pub arguments: String,
}

fn bad_input(message: impl Into<String>) -> CapError {
    CapError::new(ErrorKind::InvalidInput, message).with_hint(
        "give an assistant message with `tool_calls`, the `tool_calls` array, a Responses \
         `output` array, a response object, or `function_call` items",
    )
}

/// Reads a model's tool calls from any of the shapes the two APIs produce:
///
/// - Chat: an assistant message (`{"role":"assistant","tool_calls":[...]}`), the bare
///   `tool_calls` array, or a whole completion (`{"choices":[{"message":...}]}`);
/// - Responses: a response object (`{"output":[...]}`), its `output` array, or single
///   `function_call` items. Items of other types (messages, reasoning) are skipped.
pub fn parse_tool_calls(input: &Value) -> Result<Vec<ToolCall>, CapError> {
    match input {
        Value::Array(items) => {
            let mut calls = Vec::new();
            for item in items {
                if let Some(call) = parse_item(item)? {
                    calls.push(call);
                }
            }
            Ok(calls)
        }
        Value::Object(o) => {
            if let Some(tc) = o.get("tool_calls") {
                return match tc {
                    Value::Array(_) => parse_tool_calls(tc),
                    Value::Null => Ok(Vec::new()),
                    _ => Err(bad_input("`tool_calls` must be an array")),
                };
            }
            if let Some(out) = o.get("output").filter(|v| v.is_array()) {
                return parse_tool_calls(out);
            }
            if let Some(choices) = o.get("choices").and_then(Value::as_array) {
                let mut calls = Vec::new();
                for c in choices {
                    if let Some(m) = c.get("message") {
                        calls.extend(parse_tool_calls(m)?);
                    }
                }
                return Ok(calls);
            }
            match parse_item(input)? {
                Some(call) => Ok(vec![call]),
                None if o.get("role").is_some() => Ok(Vec::new()),
                None => Err(bad_input("no tool calls found in the input")),
            }
        }
        _ => Err(bad_input("the input must be a JSON object or array")),
    }
}

/// One Chat tool call or Responses item; `None` for items that are not function calls.
fn parse_item(item: &Value) -> Result<Option<ToolCall>, CapError> {
    let str_field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let arguments = |v: &Value| match v.get("arguments") {
        Some(Value::String(s)) => Ok(s.clone()),
        // Some clients hand over already-decoded arguments.
        Some(v @ Value::Object(_)) => Ok(v.to_string()),
        None | Some(Value::Null) => Ok("{}".to_string()),
        Some(_) => Err(bad_input("`arguments` must be a JSON string")),
    };
    match item.get("type").and_then(Value::as_str) {
        // Chat: {"id", "type": "function", "function": {"name", "arguments"}}
        Some("function") | None if item.get("function").is_some() => {
            let f = &item["function"];
            let name = str_field(f, "name")
                .ok_or_else(|| bad_input("a tool call has no function name"))?;
            let call_id = str_field(item, "id").unwrap_or_default();
            Ok(Some(ToolCall {
                call_id,
                name,
                arguments: arguments(f)?,
            }))
        }
        // Responses: {"type": "function_call", "call_id", "name", "arguments"}
        Some("function_call") => {
            let name = str_field(item, "name")
                .ok_or_else(|| bad_input("a function_call item has no name"))?;
            let call_id = str_field(item, "call_id")
                .or_else(|| str_field(item, "id"))
                .unwrap_or_default();
            Ok(Some(ToolCall {
                call_id,
                name,
                arguments: arguments(item)?,
            }))
        }
        _ => Ok(None),
    }
}

/// Drops `null` object members, recursively (strict mode sends `null` for an optional
/// input the model leaves out; the pipeline wants it missing). Array elements are kept.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, v| !v.is_null());
            o.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Turns the model's arguments text into the pipeline's arguments: parses the JSON, drops
/// `null`s, and decodes the inputs the strict projection carries as JSON text
/// ([`Capability::openai_json_inputs`]).
pub fn decode_arguments(cap: Option<&Capability>, arguments: &str) -> Result<Value, CapError> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let mut args: Value = serde_json::from_str(text).map_err(|e| {
        CapError::new(
            ErrorKind::InvalidInput,
            format!("the arguments are not valid JSON: {e}"),
        )
        .with_hint("send the arguments as one JSON object")
    })?;
    drop_nulls(&mut args);
    let Some(cap) = cap else { return Ok(args) };
    if let Value::Object(o) = &mut args {
        for name in cap.openai_json_inputs {
            if let Some(v) = o.get_mut(*name)
                && let Value::String(s) = v
            {
                *v = serde_json::from_str(s).map_err(|e| {
                    CapError::invalid_field(name, format!("is not valid JSON text: {e}"))
                        .with_hint("give this input as JSON text, for example {\"key\": \"value\"}")
                })?;
            }
        }
    }
    Ok(args)
}

/// Runs one tool call through the pipeline.
pub fn run_tool_call<S: CapabilitySet>(
    pipeline: &Pipeline<S>,
    call: &ToolCall,
    confirmer: &dyn Confirmer,
) -> Result<Value, CapError> {
    let cap = pipeline.find(&call.name);
    let args = decode_arguments(cap, &call.arguments)?;
    pipeline.execute(&call.name, args, confirmer, CallOptions::default())
}

/// The text a model reads back: the result JSON, or `{"error": {kind, message, field?,
/// hint?}}`.
pub fn output_content(result: &Result<Value, CapError>) -> String {
    match result {
        Ok(v) => v.to_string(),
        Err(e) => json!({"error": error_json(e)}).to_string(),
    }
}

/// One output for the API: a Chat tool message or a Responses `function_call_output`.
pub fn output_item(api: Api, call_id: &str, content: String) -> Value {
    match api {
        Api::Chat => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
        Api::Responses => {
            json!({"type": "function_call_output", "call_id": call_id, "output": content})
        }
    }
}

/// Runs every call, in order, and returns the outputs to send back to the model (tool
/// messages for Chat, `function_call_output` items for Responses). A failed call becomes
/// an output carrying the error, so the model can correct itself.
pub fn run_tool_calls<S: CapabilitySet>(
    pipeline: &Pipeline<S>,
    calls: &[ToolCall],
    api: Api,
    confirmer: &dyn Confirmer,
) -> Vec<Value> {
    calls
        .iter()
        .map(|call| {
            let result = run_tool_call(pipeline, call, confirmer);
            output_item(api, &call.call_id, output_content(&result))
        })
        .collect()
}

/// The strict-mode rules a tool's parameter schema must follow, checked on one schema:
/// every object has `additionalProperties: false` and lists every property in `required`,
/// only keywords strict mode supports appear. Returns the problems found (empty: ok).
pub fn strict_violations(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_strict(schema, "$", &mut out);
    out
}

/// Keywords OpenAI's strict mode supports.
pub const STRICT_KEYWORDS: &[&str] = &[
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

fn check_strict(s: &Value, at: &str, out: &mut Vec<String>) {
    let Some(o) = s.as_object() else {
        out.push(format!("{at}: a schema must be an object"));
        return;
    };
    for k in o.keys() {
        if !STRICT_KEYWORDS.contains(&k.as_str()) {
            out.push(format!(
                "{at}: keyword `{k}` is not supported in strict mode"
            ));
        }
    }
    let is_object = match &o.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => o.contains_key("properties"),
    };
    if is_object {
        if o.get("additionalProperties") != Some(&Value::Bool(false)) {
            out.push(format!("{at}: additionalProperties must be false"));
        }
        let props = o.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match props {
            None => out.push(format!("{at}: an object must list its properties")),
            Some(p) => {
                for (name, sub) in p {
                    if !required.contains(&name.as_str()) {
                        out.push(format!("{at}: property `{name}` is not in required"));
                    }
                    check_strict(sub, &format!("{at}.{name}"), out);
                }
            }
        }
    }
    if let Some(items) = o.get("items") {
        check_strict(items, &format!("{at}[]"), out);
    }
    if let Some(Value::Array(any)) = o.get("anyOf") {
        for (i, sub) in any.iter().enumerate() {
            check_strict(sub, &format!("{at}.anyOf[{i}]"), out);
        }
    }
    for defs in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = o.get(defs) {
            for (name, sub) in d {
                check_strict(sub, &format!("{at}.{defs}.{name}"), out);
            }
        }
    }
}

/// True when a function name is one OpenAI accepts: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn valid_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads tool calls from JSON text (what `airun openai call` reads on stdin).
pub fn parse_tool_calls_text(text: &str) -> Result<Vec<ToolCall>, CapError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad_input(format!("the input is not valid JSON: {e}")))?;
    parse_tool_calls(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_shape() {
        let chat_call =
            json!({"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}});
        let msg = json!({"role": "assistant", "content": null, "tool_calls": [chat_call.clone()]});
        let resp_item = json!({"type": "function_call", "id": "fc_1", "call_id": "c2", "name": "b", "arguments": "{\"x\":1}"});
        let response =
            json!({"id": "resp_1", "output": [{"type": "reasoning"}, resp_item.clone()]});
        let completion = json!({"choices": [{"message": msg.clone()}]});
        assert_eq!(parse_tool_calls(&msg).unwrap()[0].call_id, "c1");
        assert_eq!(parse_tool_calls(&json!([chat_call])).unwrap()[0].name, "a");
        assert_eq!(parse_tool_calls(&response).unwrap()[0].call_id, "c2");
        assert_eq!(
            parse_tool_calls(&resp_item).unwrap()[0].arguments,
            "{\"x\":1}"
        );
        assert_eq!(parse_tool_calls(&completion).unwrap().len(), 1);
        assert!(
            parse_tool_calls(&json!({"role": "assistant", "content": "hi"}))
                .unwrap()
                .is_empty()
        );
        assert!(parse_tool_calls(&json!(3)).is_err());
    }

    #[test]
    fn drops_nulls_but_keeps_array_elements() {
        let v = decode_arguments(
            None,
            r#"{"a": null, "b": {"c": null, "d": 1}, "e": [null]}"#,
        )
        .unwrap();
        assert_eq!(v, json!({"b": {"d": 1}, "e": [null]}));
    }

    #[test]
    fn names() {
        assert!(valid_function_name("io_fs_read_file"));
        assert!(!valid_function_name("io.fs.read_file"));
        assert!(!valid_function_name(""));
        assert!(!valid_function_name(&"a".repeat(65)));
    }
}

//! Output for people (tables) and programs (JSON).

use crate::catalog::Capability;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

/// A capability as `list --json` shows it.
pub fn capability_json(c: &Capability) -> Value {
    json!({
        "id": c.id,
        "tool_name": c.tool_name,
        "version": c.version,
        "title": c.title,
        "description": c.description,
        "side_effects": c.side_effects.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "requires_confirmation": c.requires_confirmation,
        "confirmation_unless": c.confirmation_unless,
        "idempotent": c.idempotent,
        "undo_strategy": c.undo_strategy.as_str(),
        "timeout_seconds": c.timeout_seconds,
        "annotations": {
            "readOnlyHint": c.annotations.read_only,
            "destructiveHint": c.annotations.destructive,
            "idempotentHint": c.annotations.idempotent,
            "openWorldHint": c.annotations.open_world,
        },
    })
}

/// A capability with its schemas, as `inspect --json` shows it.
pub fn capability_full_json(c: &Capability) -> Value {
    let mut v = capability_json(c);
    if let Some(o) = v.as_object_mut() {
        o.insert("undo_targets".into(), json!(c.undo_targets));
        o.insert("sensitive_inputs".into(), json!(c.sensitive_inputs));
        o.insert("input_schema".into(), c.input_schema_json());
        o.insert("output_schema".into(), c.output_schema_json());
        o.insert("openai_strict_schema".into(), c.openai_schema_json());
    }
    v
}

fn effects(c: &Capability) -> String {
    c.side_effects
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `yes`, `no`, or `yes, unless dry_run`.
fn confirmation(c: &Capability) -> String {
    match (c.requires_confirmation, c.confirmation_unless) {
        (true, Some(flag)) => format!("yes, unless {flag}"),
        (b, _) => yes_no(b).to_string(),
    }
}

/// The capability table for a terminal.
pub fn capability_table(caps: &[&Capability]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "id",
            "tool name",
            "side effects",
            "confirm",
            "undo",
            "title",
        ]);
    for c in caps {
        t.add_row([
            c.id,
            c.tool_name,
            &effects(c),
            &confirmation(c),
            c.undo_strategy.as_str(),
            c.title,
        ]);
    }
    t.to_string()
}

/// The capability table in Markdown (the README's table).
pub fn capability_markdown(caps: &[&Capability]) -> String {
    let mut out = String::from(
        "| id | tool name | side effects | confirmation | undo | what it does |\n|---|---|---|---|---|---|\n",
    );
    for c in caps {
        let first_sentence = c
            .description
            .split_inclusive(". ")
            .next()
            .unwrap_or(c.description)
            .trim();
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            c.id,
            c.tool_name,
            effects(c),
            confirmation(c),
            c.undo_strategy.as_str(),
            first_sentence.replace('|', "\\|")
        ));
    }
    out
}

/// One capability for a terminal: contracts, then inputs and outputs.
pub fn capability_detail(c: &Capability) -> String {
    let mut out = format!(
        "{} ({}, v{})\n{}\n\n{}\n\n",
        c.id, c.tool_name, c.version, c.title, c.description
    );
    out.push_str(&format!(
        "side effects: {}\nconfirmation: {}\nidempotent: {}\nundo: {}{}\ntimeout: {} s\n\n",
        effects(c),
        match (c.requires_confirmation, c.confirmation_unless) {
            (true, Some(flag)) => format!("required, unless {flag} is true"),
            (true, None) => "required".to_string(),
            (false, _) => "not required".to_string(),
        },
        yes_no(c.idempotent),
        c.undo_strategy.as_str(),
        if c.undo_targets.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.undo_targets.join(", "))
        },
        c.timeout_seconds
    ));
    out.push_str(&fields_table(
        "inputs",
        &c.input_schema_json(),
        c.sensitive_inputs,
    ));
    out.push('\n');
    out.push_str(&fields_table("outputs", &c.output_schema_json(), &[]));
    out
}

fn fields_table(title: &str, schema: &Value, sensitive: &[&str]) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([title, "type", "required", "default", "description"]);
    if let Some(props) = schema["properties"].as_object() {
        for (name, p) in props {
            let ty = match &p["type"] {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" | "),
                _ => "any".into(),
            };
            let ty = match p["enum"].as_array() {
                Some(e) => format!(
                    "{ty}: {}",
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
                None => ty,
            };
            let mut desc = p["description"].as_str().unwrap_or_default().to_string();
            if sensitive.contains(&name.as_str()) {
                desc.push_str(" (sensitive)");
            }
            t.add_row([
                name.clone(),
                ty,
                yes_no(required.contains(&name.as_str())).to_string(),
                p.get("default").map(|d| d.to_string()).unwrap_or_default(),
                desc,
            ]);
        }
    }
    format!("{t}\n")
}

//! Output for people (tables) and programs (JSON).

use super::term::Grid;
use crate::catalog::Capability;
use serde_json::Value;

/// A capability with its schemas, as `inspect --json` shows it.
pub fn capability_full_json(c: &Capability) -> Value {
    let mut v = c.detail_json();
    if let Some(o) = v.as_object_mut() {
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
    let mut t = Grid::new(
        [
            "id",
            "tool name",
            "side effects",
            "confirm",
            "undo",
            "title",
        ],
        &[0, 1],
    );
    for c in caps {
        t.row([
            c.id.to_string(),
            c.tool_name.to_string(),
            effects(c),
            confirmation(c),
            c.undo_strategy.as_str().to_string(),
            c.title.to_string(),
        ]);
    }
    t.render()
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
    let mut t = Grid::new([title, "type", "required", "default", "description"], &[0]);
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
            t.row([
                name.clone(),
                ty,
                yes_no(required.contains(&name.as_str())).to_string(),
                p.get("default").map(|d| d.to_string()).unwrap_or_default(),
                desc,
            ]);
        }
    }
    t.render()
}

/// A capability's result as a person reads it: what goes to standard output and what to
/// standard error. Chosen by the result's shape, not by capability: text `content` (a
/// file read) and a `tree` text are printed as they are; a file's bytes (`media_type` and
/// `data`) become a one-line summary; a program's `stdout`/`stderr` go to the matching
/// stream, with its exit code when not 0; a list of entries becomes a table; anything
/// else is one `name: value` line per field.
pub fn result_for_people(result: &Value) -> (String, String) {
    let Some(obj) = result.as_object() else {
        return (
            format!(
                "{}\n",
                serde_json::to_string_pretty(result).unwrap_or_default()
            ),
            String::new(),
        );
    };
    let mut err = String::new();
    if let Some(content) = obj.get("content").and_then(Value::as_str) {
        let mut out = content.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if obj.get("truncated").and_then(Value::as_bool) == Some(true) {
            let next = ["next_offset_line", "next_offset_bytes"]
                .iter()
                .find_map(|k| obj.get(*k).map(|v| (k.trim_start_matches("next_"), v)));
            err.push_str("(more follows");
            if let Some((key, v)) = next {
                err.push_str(&format!(": continue with \"{key}\": {v}"));
            }
            err.push_str(")\n");
        }
        return (out, err);
    }
    if let (Some(media_type), Some(data)) = (
        obj.get("media_type").and_then(Value::as_str),
        obj.get("data").and_then(Value::as_str),
    ) {
        // Megabytes of base64 help nobody on a terminal.
        let size = obj.get("size_bytes").and_then(Value::as_i64).map_or_else(
            || format!("{} base64 characters", data.len()),
            |n| format!("{n} bytes"),
        );
        let path = obj
            .get("path")
            .and_then(Value::as_str)
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        return (
            format!("{path}{media_type}, {size} (use --json for the data)\n"),
            err,
        );
    }
    if let Some(tree) = obj.get("tree").and_then(Value::as_str) {
        return (tree.to_string(), err);
    }
    if let (Some(stdout), Some(stderr)) = (
        obj.get("stdout").and_then(Value::as_str),
        obj.get("stderr").and_then(Value::as_str),
    ) {
        err.push_str(stderr);
        if !err.is_empty() && !err.ends_with('\n') {
            err.push('\n');
        }
        let code = obj.get("exit_code").and_then(Value::as_i64).unwrap_or(0);
        if obj.get("timed_out").and_then(Value::as_bool) == Some(true) {
            err.push_str("(stopped at the time limit)\n");
        } else if code != 0 {
            err.push_str(&format!("(exit code {code})\n"));
        }
        return (stdout.to_string(), err);
    }
    let mut out = String::new();
    let rows = obj.iter().find_map(|(name, v)| {
        let items = v.as_array()?;
        (!items.is_empty() && items.iter().all(Value::is_object)).then_some((name, items))
    });
    if let Some((_, items)) = rows {
        let mut columns: Vec<&str> = Vec::new();
        for item in items {
            for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
                if !columns.contains(&key.as_str()) {
                    columns.push(key);
                }
            }
        }
        let mut t = Grid::new(columns.iter().copied(), &[0]);
        for item in items {
            t.row(columns.iter().map(|c| scalar_text(&item[*c])));
        }
        out.push_str(&t.render());
    }
    for (name, v) in obj {
        if rows.is_some_and(|(n, _)| n == name) {
            continue;
        }
        out.push_str(&format!("{name}: {}\n", scalar_text(v)));
    }
    (out, err)
}

/// A JSON value in one table cell or line: strings as they are, lists one per line,
/// nothing for null, compact JSON for objects.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(scalar_text).collect::<Vec<_>>().join("\n")
        }
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Prints a value as pretty JSON on standard output (what every `--json` prints).
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

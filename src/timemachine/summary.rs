//! One-line summaries of operations for history: `write notes.txt (+120 B)`.

use super::image::{Entry, Kind};
use crate::catalog::{Access, Capability};

fn bytes_of(images: &[Vec<Entry>]) -> i64 {
    images
        .iter()
        .flatten()
        .filter(|e| e.kind == Kind::File)
        .map(|e| e.size as i64)
        .sum()
}

fn files_of(images: &[Vec<Entry>]) -> usize {
    images
        .iter()
        .flatten()
        .filter(|e| e.kind == Kind::File)
        .count()
}

/// The summary of one operation.
pub fn line(
    cap: &Capability,
    params: &serde_json::Value,
    before: &[Vec<Entry>],
    after: &[Vec<Entry>],
) -> String {
    let verb = cap
        .id
        .rsplit('.')
        .next()
        .unwrap_or(cap.id)
        .replace('_', " ");
    let verb = match verb.as_str() {
        "write file" => "write".to_string(),
        "make dir" => "make folder".to_string(),
        other => other.to_string(),
    };
    let paths: Vec<String> = cap
        .path_inputs
        .iter()
        .filter(|(_, a)| matches!(a, Access::Write | Access::Delete | Access::Read))
        .filter_map(|(name, _)| params.get(*name))
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let mut line = format!("{verb} {}", paths.join(" -> "));
    // A program run: what ran, and where (`run git status in .`).
    if let Some(serde_json::Value::String(command)) = params.get("command") {
        let mut shown = command.clone();
        for a in params
            .get("args")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            shown.push(' ');
            shown.push_str(a.as_str().unwrap_or("?"));
        }
        if shown.chars().count() > 60 {
            shown = shown.chars().take(57).collect::<String>() + "...";
        }
        line = format!("{verb} {shown} in {}", paths.join(", "));
    }
    if before.is_empty() && after.is_empty() {
        return line.trim().to_string();
    }
    let delta = bytes_of(after) - bytes_of(before);
    let files = files_of(after).max(files_of(before));
    if files > 1 {
        line.push_str(&format!(" ({files} files, {delta:+} B)"));
    } else if files == 1 || delta != 0 {
        line.push_str(&format!(" ({delta:+} B)"));
    }
    line
}

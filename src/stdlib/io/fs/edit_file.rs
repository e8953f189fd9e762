//! `io.fs.edit_file`: exact text replacements with a unified diff, all or nothing.

use crate::error::{CapError, ErrorKind};
use crate::powers::WriteMode;
use crate::stdlib::generated::io::fs::{
    EditFileCtx, EditFileEditsItem, EditFileParams, EditFileResult,
};
use std::io::Read;

/// Largest file `io.fs.edit_file` edits.
pub const EDIT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Near-match lines shown when an old_text is not found.
const NEAR_SHOWN: usize = 3;

/// Longest line compared when looking for near matches, in characters.
const NEAR_LINE_CHARS: usize = 200;

/// `io.fs.edit_file`.
pub fn edit_file(ctx: &mut EditFileCtx<'_>, p: EditFileParams) -> Result<EditFileResult, CapError> {
    // Also checked by the generated validation; kept so the handler never relies on it.
    for (i, edit) in p.edits.iter().enumerate() {
        if edit.old_text.is_empty() {
            return Err(CapError::invalid_field("edits", format!("edits[{i}].old_text is empty"))
                .with_hint("old_text must be text copied from the file; to add text, include a neighbouring line"));
        }
        if !(1..=10_000).contains(&edit.expected_replacements) {
            return Err(CapError::invalid_field(
                "edits",
                format!(
                    "edits[{i}].expected_replacements must be 1 to 10000, got {}",
                    edit.expected_replacements
                ),
            ));
        }
    }
    let shown = ctx
        .resolve(&p.path, crate::catalog::Access::Write)?
        .display();
    let mut handle = ctx.open_read(&p.path)?;
    if handle.len() > EDIT_MAX_BYTES {
        return Err(CapError::execution(format!(
            "`{shown}` is {} bytes, larger than the {} MiB io.fs.edit_file handles",
            handle.len(),
            EDIT_MAX_BYTES >> 20
        ))
        .with_hint("use io.fs.write_file to replace a large file"));
    }
    let mut raw = Vec::with_capacity(handle.len() as usize);
    (&mut handle)
        .take(EDIT_MAX_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| CapError::execution(format!("cannot read `{shown}`: {e}")))?;
    if raw.contains(&0) {
        return Err(
            CapError::execution(format!("`{shown}` is a binary file, not text"))
                .with_hint("io.fs.edit_file edits text files only"),
        );
    }
    let original = String::from_utf8(raw).map_err(|_| {
        CapError::execution(format!("`{shown}` is not valid UTF-8 text"))
            .with_hint("io.fs.edit_file edits UTF-8 text files only")
    })?;
    let crlf = original.contains("\r\n");
    let mut current = original.clone();
    let mut replacements: i64 = 0;
    for (i, edit) in p.edits.iter().enumerate() {
        ctx.checkpoint()?;
        let (old, new) = line_endings(edit, crlf);
        let found = current.matches(old.as_str()).count();
        if found as i64 != edit.expected_replacements {
            return Err(not_matched(&shown, i, edit, &old, &current, found));
        }
        current = current.replace(old.as_str(), &new);
        replacements += found as i64;
    }
    let diff = if current == original {
        String::new()
    } else {
        similar::TextDiff::from_lines(&original, &current)
            .unified_diff()
            .context_radius(3)
            // A path of another root is absolute: `a/tmp/x`, as git writes it.
            .header(
                &format!("a/{}", shown.trim_start_matches('/')),
                &format!("b/{}", shown.trim_start_matches('/')),
            )
            .to_string()
    };
    let applied = !p.dry_run && current != original;
    if applied {
        ctx.write_file(&p.path, current.as_bytes(), WriteMode::Overwrite, false)?;
    }
    Ok(EditFileResult {
        applied,
        diff,
        replacements,
    })
}

/// The edit's texts with `\n` turned into `\r\n` for a file that uses CRLF (unless the
/// edit already has `\r`).
fn line_endings(edit: &EditFileEditsItem, crlf: bool) -> (String, String) {
    if crlf && !edit.old_text.contains('\r') {
        (
            edit.old_text.replace('\n', "\r\n"),
            edit.new_text.replace("\r\n", "\n").replace('\n', "\r\n"),
        )
    } else {
        (edit.old_text.clone(), edit.new_text.clone())
    }
}

/// The error for an edit whose old_text is not there exactly as often as expected.
fn not_matched(
    path: &str,
    index: usize,
    edit: &EditFileEditsItem,
    old: &str,
    text: &str,
    found: usize,
) -> CapError {
    let which = format!("edits[{index}].old_text");
    let later = if index > 0 {
        " (after the edits before it were applied)"
    } else {
        ""
    };
    let mut message = if found == 0 {
        format!("{which} was not found in `{path}`{later}; nothing was written")
    } else {
        format!(
            "{which} occurs {found} times in `{path}`{later}, but expected_replacements is {}; nothing was written",
            edit.expected_replacements
        )
    };
    let hint;
    if found == 0 {
        let near = near_matches(old, text);
        if near.is_empty() {
            hint = "read the file with io.fs.read_file and copy the text exactly".to_string();
        } else {
            message.push_str("\nclosest lines:");
            for (line_no, line, exact_but_spacing) in &near {
                let note = if *exact_but_spacing {
                    "  (same text, different whitespace)"
                } else {
                    ""
                };
                message.push_str(&format!("\n  {line_no}: {line}{note}"));
            }
            hint = "copy old_text exactly from the file, with its whitespace and indentation"
                .to_string();
        }
    } else {
        let lines = occurrence_lines(old, text);
        let shown: Vec<String> = lines.iter().take(10).map(|l| l.to_string()).collect();
        message.push_str(&format!("\nit starts on lines: {}", shown.join(", ")));
        if lines.len() > 10 {
            message.push_str(", …");
        }
        hint = format!(
            "add surrounding lines to old_text to pick one occurrence, or set expected_replacements to {found} to replace them all"
        );
    }
    CapError::new(ErrorKind::InvalidInput, message)
        .with_field("edits")
        .with_hint(hint)
}

/// 1-based line numbers where each (non-overlapping) occurrence of `old` starts.
fn occurrence_lines(old: &str, text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut last = 0;
    for (at, _) in text.match_indices(old) {
        line += text[last..at].matches('\n').count();
        last = at;
        out.push(line);
    }
    out
}

/// The file lines most like the first non-blank line of `old`: (1-based line number,
/// text, whether `old` matches there when whitespace is ignored), best first.
fn near_matches(old: &str, text: &str) -> Vec<(usize, String, bool)> {
    let old_lines: Vec<&str> = old.lines().collect();
    let Some(first) = old_lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()) else {
        return Vec::new();
    };
    let first = clip(first);
    let lines: Vec<&str> = text.lines().collect();
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let old_squashed = squash(old);
    let mut scored: Vec<(f64, usize, bool)> = Vec::new();
    for (i, line) in lines.iter().enumerate().take(200_000) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let score = strsim::normalized_levenshtein(&first, &clip(t));
        if score < 0.5 {
            continue;
        }
        // Does the whole old_text match here if whitespace is ignored?
        let window = lines[i..(i + old_lines.len()).min(lines.len())].join("\n");
        let spacing = squash(&window) == old_squashed;
        scored.push((if spacing { 2.0 } else { score }, i, spacing));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(NEAR_SHOWN)
        .map(|(_, i, spacing)| (i + 1, clip(lines[i].trim_end()), spacing))
        .collect()
}

fn clip(s: &str) -> String {
    if s.chars().count() > NEAR_LINE_CHARS {
        let mut c: String = s.chars().take(NEAR_LINE_CHARS).collect();
        c.push('…');
        c
    } else {
        s.to_string()
    }
}

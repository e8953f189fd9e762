//! `text.diff`.

use crate::error::CapError;
use crate::stdlib::generated::text::{DiffCtx, DiffParams, DiffResult};
use crate::types::WsPath;
use similar::{ChangeTag, TextDiff};
use std::io::Read;
use std::time::Duration;

/// Largest file either side may be read from.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Longest diff returned; a longer one is cut at a line end and marked truncated.
const MAX_DIFF_BYTES: usize = 1024 * 1024;

/// How long the exact diff may take before the algorithm settles for a coarser one.
const DIFF_TIME: Duration = Duration::from_secs(5);

/// `text.diff`: the unified diff of two texts, each given inline or read from a
/// workspace file.
pub fn diff(ctx: &mut DiffCtx<'_>, p: DiffParams) -> Result<DiffResult, CapError> {
    let (old, old_label) = side(ctx, p.old, p.old_path.as_ref(), ("old", "old_path"))?;
    let (new, new_label) = side(ctx, p.new, p.new_path.as_ref(), ("new", "new_path"))?;
    ctx.checkpoint()?;
    let diff = TextDiff::configure()
        .timeout(DIFF_TIME)
        .diff_lines(&old, &new);
    let (mut added, mut removed) = (0i64, 0i64);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let changed = old != new;
    let mut text = if changed {
        diff.unified_diff()
            .context_radius(p.context_lines as usize)
            .header(&format!("a/{old_label}"), &format!("b/{new_label}"))
            .to_string()
    } else {
        String::new()
    };
    let truncated = text.len() > MAX_DIFF_BYTES;
    if truncated {
        let mut end = MAX_DIFF_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = text[..end].rfind('\n').map_or(0, |i| i + 1);
        text.truncate(cut);
    }
    Ok(DiffResult {
        diff: text,
        changed,
        added,
        removed,
        truncated,
    })
}

/// One side's text and the name its diff header shows: the inline text, or the file's
/// content. `fields` are the inline and the path field's names, for the errors.
fn side(
    ctx: &DiffCtx<'_>,
    text: Option<String>,
    path: Option<&WsPath>,
    fields: (&str, &str),
) -> Result<(String, String), CapError> {
    let (text_field, path_field) = fields;
    match (text, path) {
        (Some(text), None) => Ok((text, text_field.to_string())),
        (None, Some(path)) => {
            let mut handle = ctx.open_read(path).map_err(|e| e.with_field(path_field))?;
            if handle.len() > MAX_FILE_BYTES {
                return Err(CapError::invalid_field(
                    path_field,
                    format!(
                        "`{path}` is {} bytes, more than the {MAX_FILE_BYTES} bytes text.diff reads",
                        handle.len()
                    ),
                )
                .with_hint("compare smaller files, or parts of them read with io.fs.read_file"));
            }
            let mut bytes = Vec::new();
            handle
                .read_to_end(&mut bytes)
                .map_err(|e| CapError::execution(format!("cannot read `{path}`: {e}")))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                CapError::invalid_field(path_field, format!("`{path}` is not UTF-8 text"))
                    .with_hint("text.diff compares text files; binary files cannot be diffed")
            })?;
            Ok((text, path.as_str().to_string()))
        }
        (Some(_), Some(_)) => Err(CapError::invalid_field(
            path_field,
            format!("give `{text_field}` or `{path_field}`, not both"),
        )),
        (None, None) => Err(CapError::invalid_field(
            text_field,
            format!("is missing: give the text as `{text_field}` or a file as `{path_field}`"),
        )),
    }
}

//! `io.fs.read_many`: several text files in one call, each with its own result.
//!
//! Every path was checked by the sandbox before the call (the spec declares them as an
//! array of paths); each file is then opened through the read power, which checks it
//! again. A file that cannot be read gives an error for that file alone; running out of
//! time or being cancelled stops the whole call.

use super::paging::{Page, binary_error, not_text_error, scan};
use crate::error::{CapError, ErrorKind};
use crate::stdlib::generated::io::fs::{
    ReadManyCtx, ReadManyFilesItem, ReadManyFilesItemErrorKind as Kind, ReadManyParams,
    ReadManyResult,
};
use crate::types::WsPath;

/// `io.fs.read_many`.
pub fn read_many(ctx: &mut ReadManyCtx<'_>, p: ReadManyParams) -> Result<ReadManyResult, CapError> {
    let per_file = p.limit_bytes_per_file as usize;
    let mut budget = p.max_total_bytes as usize;
    let mut files = Vec::with_capacity(p.paths.len());
    let mut files_read = 0;
    let mut total = 0usize;
    for path in &p.paths {
        ctx.checkpoint()?;
        let item = if budget == 0 {
            over_budget(path, p.max_total_bytes)
        } else {
            match read_one(ctx, path, per_file.min(budget))? {
                Ok(item) => item,
                Err((Kind::OverBudget, _)) if budget < per_file => {
                    over_budget(path, p.max_total_bytes)
                }
                Err((Kind::OverBudget, _)) => failed(
                    path,
                    Kind::Unreadable,
                    &CapError::invalid_field(
                        "limit_bytes_per_file",
                        format!("{per_file} is smaller than the first character of `{path}`"),
                    )
                    .with_hint("use a limit_bytes_per_file of at least 4"),
                ),
                Err((kind, e)) => failed(path, kind, &e),
            }
        };
        if let Some(c) = &item.content {
            files_read += 1;
            total += c.len();
            // A file cut short by what was left of the budget ends the reading.
            budget = if item.truncated == Some(true) && budget < per_file {
                0
            } else {
                budget - c.len()
            };
        } else if item.error_kind == Some(Kind::OverBudget) {
            // A budget too small for the file's first character also ends the reading.
            budget = 0;
        }
        files.push(item);
    }
    Ok(ReadManyResult {
        files,
        files_read,
        total_bytes: total as i64,
    })
}

/// Reads the first `cap` bytes of one file. The outer error stops the whole call; the
/// inner one is this file's error.
fn read_one(
    ctx: &ReadManyCtx<'_>,
    path: &WsPath,
    cap: usize,
) -> Result<Result<ReadManyFilesItem, (Kind, CapError)>, CapError> {
    let mut handle = match ctx.open_read(path) {
        Ok(h) => h,
        Err(e) => return per_file(e),
    };
    let size = handle.len();
    let out = match scan(ctx, &mut handle, Page::first(cap, size), path) {
        Ok(out) => out,
        Err(e) => return per_file(e),
    };
    if out.binary || out.content.contains(&0) {
        return Ok(Err((Kind::Binary, binary_error(path))));
    }
    if out.content.is_empty() && out.next_byte.is_some() {
        // Not even the first character fits in `cap`.
        return Ok(Err((Kind::OverBudget, CapError::execution("no room"))));
    }
    let Ok(content) = String::from_utf8(out.content) else {
        return Ok(Err((Kind::NotText, not_text_error(path))));
    };
    Ok(Ok(ReadManyFilesItem {
        path: path.to_string(),
        ok: true,
        content: Some(content),
        size_bytes: Some(size as i64),
        total_lines: Some(out.total_lines as i64),
        truncated: Some(out.next_byte.is_some()),
        next_offset_line: out.next_line.map(|l| l as i64),
        next_offset_bytes: out.next_byte.map(|b| b as i64),
        error_kind: None,
        error_message: None,
    }))
}

/// Sorts an error into one file's error, or one that stops the call (time limit,
/// cancellation).
fn per_file<T>(e: CapError) -> Result<Result<T, (Kind, CapError)>, CapError> {
    let kind = match e.kind {
        ErrorKind::Timeout | ErrorKind::Cancelled => return Err(e),
        ErrorKind::NotFound => Kind::NotFound,
        ErrorKind::DeniedSandbox | ErrorKind::DeniedPolicy => Kind::Denied,
        _ => Kind::Unreadable,
    };
    Ok(Err((kind, e)))
}

fn failed(path: &WsPath, kind: Kind, e: &CapError) -> ReadManyFilesItem {
    let mut message = e.message.clone();
    if let Some(h) = &e.hint {
        message.push_str("; ");
        message.push_str(h);
    }
    ReadManyFilesItem {
        path: path.to_string(),
        ok: false,
        content: None,
        size_bytes: None,
        total_lines: None,
        truncated: None,
        next_offset_line: None,
        next_offset_bytes: None,
        error_kind: Some(kind),
        error_message: Some(message),
    }
}

fn over_budget(path: &WsPath, budget: i64) -> ReadManyFilesItem {
    let e = CapError::execution(format!(
        "`{path}` was not read: the files before it used up max_total_bytes ({budget} bytes)"
    ))
    .with_hint(
        "read it with io.fs.read_file, or call again with fewer paths or a larger max_total_bytes",
    );
    failed(path, Kind::OverBudget, &e)
}

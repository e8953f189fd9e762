//! `io.fs.list_dir`.

use super::entry::{is_hidden, rfc3339};
use crate::error::CapError;
use crate::powers::{EntryInfo, EntryKind};
use crate::stdlib::generated::io::fs::{
    ListDirCtx, ListDirEntriesItem, ListDirParams, ListDirResult,
};

/// `io.fs.list_dir`.
pub fn list_dir(ctx: &mut ListDirCtx<'_>, p: ListDirParams) -> Result<ListDirResult, CapError> {
    let max = p.max_entries as usize;
    let mut out: Vec<EntryInfo> = Vec::new();
    let mut truncated = false;
    let mut stack: Vec<Vec<EntryInfo>> = vec![ctx.list(&p.path)?];
    'walk: while let Some(level) = stack.last_mut() {
        let Some(e) = (if level.is_empty() {
            None
        } else {
            Some(level.remove(0))
        }) else {
            stack.pop();
            continue;
        };
        if !p.include_hidden && is_hidden(&e) {
            continue;
        }
        if out.len() >= max {
            truncated = true;
            break 'walk;
        }
        if p.recursive && e.kind == EntryKind::Dir {
            ctx.checkpoint()?;
            let children = ctx.list_entry(&e)?;
            out.push(e);
            stack.push(children);
        } else {
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.path.rel().cmp(b.path.rel()));
    Ok(ListDirResult {
        entries: out
            .into_iter()
            .map(|e| ListDirEntriesItem {
                path: e.display(),
                kind: e.kind.into(),
                size: e.size as i64,
                modified: rfc3339(e.modified),
            })
            .collect(),
        truncated,
    })
}

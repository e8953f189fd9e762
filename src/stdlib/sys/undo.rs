//! `sys.undo`: the model's way back through the workspace's undo journal.

use crate::error::CapError;
use crate::stdlib::generated::sys::{UndoCtx, UndoParams, UndoResult, UndoUndoneItem};

/// `sys.undo`.
pub fn undo(ctx: &mut UndoCtx<'_>, p: UndoParams) -> Result<UndoResult, CapError> {
    let undone = ctx.undo(p.steps as usize)?;
    let remaining = ctx.undoable()?;
    Ok(UndoResult {
        undone: undone
            .into_iter()
            .map(|o| UndoUndoneItem {
                op: o.op,
                capability: o.capability,
                summary: o.summary,
            })
            .collect(),
        remaining: remaining as i64,
    })
}

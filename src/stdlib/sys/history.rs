//! `sys.history`: the model's view of the workspace's undo journal.

use crate::error::CapError;
use crate::stdlib::generated::sys::{
    HistoryCtx, HistoryOpsItem, HistoryOpsItemState, HistoryParams, HistoryResult,
};

/// `sys.history`.
pub fn history(ctx: &mut HistoryCtx<'_>, p: HistoryParams) -> Result<HistoryResult, CapError> {
    let ops = ctx.history(p.limit as usize)?;
    Ok(HistoryResult {
        ops: ops
            .into_iter()
            .map(|o| HistoryOpsItem {
                op: o.op,
                time: o.time,
                capability: o.capability,
                summary: o.summary,
                state: match o.state.as_str() {
                    "undone" => HistoryOpsItemState::Undone,
                    "interrupted" => HistoryOpsItemState::Interrupted,
                    "irreversible" => HistoryOpsItemState::Irreversible,
                    "expired" => HistoryOpsItemState::Expired,
                    "damaged" => HistoryOpsItemState::Damaged,
                    _ => HistoryOpsItemState::Done,
                },
            })
            .collect(),
    })
}

//! `sys.history`: the model's view of the workspace's undo journal.

use crate::error::CapError;
use crate::types::OpState;
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
                session: o.session,
                principal: o.principal,
                state: match o.state {
                    OpState::Undone => HistoryOpsItemState::Undone,
                    OpState::Interrupted => HistoryOpsItemState::Interrupted,
                    OpState::Irreversible => HistoryOpsItemState::Irreversible,
                    OpState::Expired => HistoryOpsItemState::Expired,
                    OpState::Damaged => HistoryOpsItemState::Damaged,
                    // Settled ops only reach history as the states above or done; one
                    // caught mid-way (running, undoing, redoing) still counts as done.
                    OpState::Done
                    | OpState::Pending
                    | OpState::Running
                    | OpState::Undoing
                    | OpState::Redoing => HistoryOpsItemState::Done,
                },
            })
            .collect(),
    })
}

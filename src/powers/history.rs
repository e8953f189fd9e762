//! Powers over airun's own history: reading it (system facts) and moving through it
//! (state mutation).

use super::{Ctx, Yes};
use crate::error::CapError;
use crate::hooks::{OpInfo, UndoRequest};

impl<R, W, D, NR, NW, X, M> Ctx<'_, R, W, D, NR, NW, X, Yes, M> {
    /// The newest operations in this workspace's journal, newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError> {
        self.env.journal.history(limit)
    }

    /// How many operations can still be undone.
    pub fn undoable(&self) -> Result<usize, CapError> {
        self.env.journal.undoable()
    }
}

impl<R, W, D, NR, NW, X, S> Ctx<'_, R, W, D, NR, NW, X, S, Yes> {
    /// Undoes the newest `steps` operations (refusing where a file changed since).
    pub fn undo(&self, steps: usize) -> Result<Vec<OpInfo>, CapError> {
        self.env.journal.undo(
            self.env.workspace,
            UndoRequest {
                steps,
                to: None,
                force: false,
            },
        )
    }
}

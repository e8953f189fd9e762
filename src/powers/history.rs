//! Powers over airun's own history: reading it (system facts) and moving through it
//! (state mutation).

use super::{Ctx, StateMutation, SysRead};
use crate::error::CapError;
use crate::hooks::{OpInfo, UndoRequest};

impl<P> Ctx<'_, P> {
    /// The newest operations in this workspace's journal, newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError>
    where
        P: SysRead,
    {
        self.env.journal.history(limit)
    }

    /// How many operations can still be undone: what an undo reports as left.
    pub fn undoable(&self) -> Result<usize, CapError>
    where
        P: StateMutation,
    {
        self.env.journal.undoable()
    }

    /// Undoes the newest `steps` operations (refusing where a file changed since).
    pub fn undo(&self, steps: usize) -> Result<Vec<OpInfo>, CapError>
    where
        P: StateMutation,
    {
        self.env.journal.undo(
            self.env.workspace,
            UndoRequest {
                steps,
                to: None,
                force: false,
                session: None,
            },
        )
    }
}

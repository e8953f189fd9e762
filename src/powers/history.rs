//! Powers over airun's own history: reading it (system facts) and moving through it
//! (state mutation).

use super::{Ctx, StateMutation, SysRead};
use crate::error::CapError;
use crate::hooks::{OpInfo, UndoRequest};

impl<P> Ctx<'_, P> {
    /// The newest operations in this workspace's journal (the caller's own, when a user
    /// makes the call), newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<OpInfo>, CapError>
    where
        P: SysRead,
    {
        self.env.journal.history_of(self.env.principal, limit)
    }

    /// How many operations (the caller's own, when a user makes the call) can still be
    /// undone: what an undo reports as left.
    pub fn undoable(&self) -> Result<usize, CapError>
    where
        P: StateMutation,
    {
        match self.env.principal {
            None => self.env.journal.undoable(),
            Some(me) => Ok(self
                .env
                .journal
                .principals()?
                .into_iter()
                .find(|p| p.principal == me)
                .map_or(0, |p| p.undoable)),
        }
    }

    /// Undoes the newest `steps` operations (the caller's own, when a user makes the
    /// call; refusing where a file changed since).
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
                principal: self.env.principal.map(str::to_string),
            },
        )
    }
}

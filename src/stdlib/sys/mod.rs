//! `sys.*` capabilities.

pub(super) mod archive;
pub(super) mod exec;
pub(super) mod info;

mod history;
mod undo;

pub use history::history;
pub use undo::undo;

//! `text.*` capabilities.

pub(super) mod regex;
pub(super) mod template;

mod diff;

pub use diff::diff;

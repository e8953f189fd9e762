//! `text.*` capabilities.

pub(super) mod regex;
pub(super) mod template;

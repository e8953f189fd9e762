//! `text.*` capabilities.

pub(super) mod regex;
pub(super) mod template;

crate::stdlib::generated::capability_modules!(text);

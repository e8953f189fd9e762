//! `sys.*` capabilities.

pub(super) mod archive;
pub(super) mod exec;
pub(super) mod info;

crate::stdlib::generated::capability_modules!(sys);

//! `data.*` capabilities.

pub(super) mod json;

//! `io.*` capabilities.

pub(super) mod fs;

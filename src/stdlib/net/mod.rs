//! `net.*` capabilities.

pub(super) mod http;

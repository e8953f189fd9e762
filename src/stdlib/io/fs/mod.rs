//! `io.fs.*` capabilities. They act only through their context's filesystem powers.

mod entry;
mod paging;

crate::stdlib::generated::capability_modules!(io::fs);

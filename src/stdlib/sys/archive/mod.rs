//! `sys.archive.*` capabilities.

crate::stdlib::generated::capability_modules!(sys::archive);

//! `sys.info.*` capabilities.

crate::stdlib::generated::capability_modules!(sys::info);

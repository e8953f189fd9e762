//! `sys.exec.*` capabilities.

crate::stdlib::generated::capability_modules!(sys::exec);

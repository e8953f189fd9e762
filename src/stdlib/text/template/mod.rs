//! `text.template.*` capabilities.

crate::stdlib::generated::capability_modules!(text::template);

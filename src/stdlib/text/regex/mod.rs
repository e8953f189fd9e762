//! `text.regex.*` capabilities.

crate::stdlib::generated::capability_modules!(text::regex);

//! `data.json.*` capabilities.

crate::stdlib::generated::capability_modules!(data::json);

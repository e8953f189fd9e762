//! `text.regex.*` capabilities.

mod r#match;

pub use r#match::r#match;

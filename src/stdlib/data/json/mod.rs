//! `data.json.*` capabilities.

mod parse;
mod stringify;

pub use parse::parse;
pub use stringify::stringify;

//! `text.template.*` capabilities.

mod render;

pub use render::render;

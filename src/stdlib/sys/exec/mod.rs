//! `sys.exec.*` capabilities.

mod run;

pub use run::run;

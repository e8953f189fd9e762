//! Filesystem building blocks shared by the powers and the time machine: atomic writes
//! through a folder handle and the names of the temporary files they use; marks that
//! several processes of one host share. Nothing here
//! knows about capabilities or the journal.

pub mod atomic;
pub mod marks;
pub mod temp_name;

pub use atomic::{AtomicFile, Publish};
pub use marks::Marks;
pub use temp_name::{TempKind, is_temp_name};

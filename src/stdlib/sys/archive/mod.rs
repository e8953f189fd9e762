//! `sys.archive.*` capabilities.

mod unzip;
mod zip;

pub use self::zip::zip;
pub use unzip::unzip;

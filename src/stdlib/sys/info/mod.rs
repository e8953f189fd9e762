//! `sys.info.*` capabilities.

mod get_env_var;
mod get_os;
mod get_time;

pub use get_env_var::get_env_var;
pub use get_os::get_os;
pub use get_time::get_time;

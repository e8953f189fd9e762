//! `sys.info.*` handlers.

use crate::error::CapError;
use crate::stdlib::generated::sys::info::*;

/// `sys.info.get_os`.
pub fn get_os(_ctx: &mut GetOsCtx<'_>, _p: GetOsParams) -> Result<GetOsResult, CapError> {
    Err(CapError::execution("sys.info.get_os is not implemented yet"))
}

/// `sys.info.get_env_var`.
pub fn get_env_var(_ctx: &mut GetEnvVarCtx<'_>, _p: GetEnvVarParams) -> Result<GetEnvVarResult, CapError> {
    Err(CapError::execution("sys.info.get_env_var is not implemented yet"))
}

/// `sys.info.get_time`.
pub fn get_time(_ctx: &mut GetTimeCtx<'_>, _p: GetTimeParams) -> Result<GetTimeResult, CapError> {
    Err(CapError::execution("sys.info.get_time is not implemented yet"))
}

//! `sys.info.get_env_var`.

use crate::error::CapError;
use crate::stdlib::generated::sys::info::{GetEnvVarCtx, GetEnvVarParams, GetEnvVarResult};

/// `sys.info.get_env_var`: reads an environment variable on the operator's allowlist.
///
/// A name off the allowlist is a denied-policy error (its value is never read). An unset
/// variable gives `default` (or no value) with `found` false.
pub fn get_env_var(
    ctx: &mut GetEnvVarCtx<'_>,
    p: GetEnvVarParams,
) -> Result<GetEnvVarResult, CapError> {
    Ok(match ctx.env_var(&p.name)? {
        Some(value) => GetEnvVarResult {
            value: Some(value),
            found: true,
        },
        None => GetEnvVarResult {
            value: p.default,
            found: false,
        },
    })
}

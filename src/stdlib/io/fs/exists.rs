//! `io.fs.exists`.

use crate::error::CapError;
use crate::stdlib::generated::io::fs::{ExistsCtx, ExistsParams, ExistsResult};

/// `io.fs.exists`.
pub fn exists(ctx: &mut ExistsCtx<'_>, p: ExistsParams) -> Result<ExistsResult, CapError> {
    let info = ctx.stat(&p.path)?;
    Ok(ExistsResult {
        exists: info.is_some(),
        kind: info.map(|i| i.kind.into()),
    })
}

//! `io.fs.exists`.

use crate::error::CapError;
use crate::powers::EntryKind;
use crate::stdlib::generated::io::fs::{ExistsCtx, ExistsKind, ExistsParams, ExistsResult};

/// `io.fs.exists`.
pub fn exists(ctx: &mut ExistsCtx<'_>, p: ExistsParams) -> Result<ExistsResult, CapError> {
    let info = ctx.stat(&p.path)?;
    Ok(ExistsResult {
        exists: info.is_some(),
        kind: info.map(|i| match i.kind {
            EntryKind::File => ExistsKind::File,
            EntryKind::Dir => ExistsKind::Dir,
            EntryKind::Symlink => ExistsKind::Symlink,
            EntryKind::Other => ExistsKind::Other,
        }),
    })
}

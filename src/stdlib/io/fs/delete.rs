//! `io.fs.delete`.

use crate::catalog::Access;
use crate::error::CapError;
use crate::stdlib::generated::io::fs::{DeleteCtx, DeleteParams, DeleteResult};

/// `io.fs.delete`.
pub fn delete(ctx: &mut DeleteCtx<'_>, p: DeleteParams) -> Result<DeleteResult, CapError> {
    let shown = ctx.resolve(&p.path, Access::Delete)?.display();
    let kind = ctx.remove(&p.path, p.recursive)?;
    Ok(DeleteResult {
        path: shown,
        deleted: true,
        kind: kind.into(),
    })
}

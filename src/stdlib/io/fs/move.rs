//! `io.fs.move`.

use crate::error::CapError;
use crate::stdlib::generated::io::fs::{MoveCtx, MoveParams, MoveResult};

/// `io.fs.move`.
pub fn r#move(ctx: &mut MoveCtx<'_>, p: MoveParams) -> Result<MoveResult, CapError> {
    let (src, dst) = ctx.rename(&p.source, &p.destination, p.overwrite)?;
    Ok(MoveResult {
        source: src.display(),
        destination: dst.display(),
        moved: true,
    })
}

//! `io.fs.make_dir`.

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::stdlib::generated::io::fs::{MakeDirCtx, MakeDirParams, MakeDirResult};

/// `io.fs.make_dir`.
pub fn make_dir(ctx: &mut MakeDirCtx<'_>, p: MakeDirParams) -> Result<MakeDirResult, CapError> {
    let shown = ctx.resolve(&p.path, Access::Write)?.display();
    let created = if p.parents {
        !ctx.create_dir_all(&p.path)?.is_empty()
    } else {
        ctx.create_dir(&p.path)?
    };
    if !created && !p.exist_ok {
        return Err(CapError::new(
            ErrorKind::AlreadyExists,
            format!("the folder `{shown}` already exists"),
        )
        .with_field("path")
        .with_hint("pass exist_ok: true to accept an existing folder"));
    }
    Ok(MakeDirResult {
        path: shown,
        created,
    })
}

//! `io.fs.write_file`.

use crate::error::CapError;
use crate::powers::WriteMode;
use crate::stdlib::generated::io::fs::{
    WriteFileCtx, WriteFileMode, WriteFileParams, WriteFileResult,
};

/// `io.fs.write_file`.
pub fn write_file(
    ctx: &mut WriteFileCtx<'_>,
    p: WriteFileParams,
) -> Result<WriteFileResult, CapError> {
    let mode = match p.mode {
        WriteFileMode::Overwrite => WriteMode::Overwrite,
        WriteFileMode::CreateNew => WriteMode::CreateNew,
        WriteFileMode::Append => WriteMode::Append,
    };
    let outcome = ctx.write_file(&p.path, p.content.as_bytes(), mode, p.create_dirs)?;
    Ok(WriteFileResult {
        path: outcome.path.display(),
        bytes_written: p.content.len() as i64,
        created: outcome.created,
    })
}

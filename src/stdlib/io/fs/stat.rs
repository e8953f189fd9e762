//! `io.fs.stat`: what is at a path, without reading it (unless a hash is asked for).

use super::paging::read_chunk;
use crate::error::{CapError, ErrorKind};
use crate::powers::EntryKind;
use crate::stdlib::generated::io::fs::{StatCtx, StatParams, StatResult};

/// `io.fs.stat`.
pub fn stat(ctx: &mut StatCtx<'_>, p: StatParams) -> Result<StatResult, CapError> {
    let info = ctx.stat(&p.path)?.ok_or_else(|| {
        CapError::new(ErrorKind::NotFound, format!("`{}` does not exist", p.path))
            .with_field("path")
            .with_hint("check the path; io.fs.list_dir shows what is there")
    })?;
    let link_target = if info.kind == EntryKind::Symlink {
        Some(ctx.read_link(&info.path)?.to_string_lossy().into_owned())
    } else {
        None
    };
    let blake3 = if p.hash && info.kind == EntryKind::File {
        Some(hash(ctx, &p)?)
    } else {
        None
    };
    Ok(StatResult {
        path: info.display(),
        kind: info.kind.into(),
        size: info.size as i64,
        modified: info
            .modified
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        mode: format!("{:04o}", info.mode),
        readonly: info.mode & 0o222 == 0,
        link_target,
        blake3,
    })
}

/// BLAKE3 of a file's content, streamed (stopping at the call's time limit).
fn hash(ctx: &StatCtx<'_>, p: &StatParams) -> Result<String, CapError> {
    let mut handle = ctx.open_read(&p.path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut chunks = 0u64;
    loop {
        let n = read_chunk(&mut handle, &mut buf, &p.path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        chunks += 1;
        if chunks.is_multiple_of(64) {
            ctx.checkpoint()?;
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

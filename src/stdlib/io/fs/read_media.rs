//! `io.fs.read_media`: a binary file's bytes with its media type, under a size cap.
//!
//! The type comes from the first bytes (the `infer` crate's signatures) and, when they say
//! nothing, from the extension; a file the cap refuses is not read at all.

use crate::error::{CapError, ErrorKind};
use crate::stdlib::generated::io::fs::{
    ReadMediaCtx, ReadMediaDetectedFrom, ReadMediaParams, ReadMediaResult,
};
use crate::types::Bytes;
use std::io::Read;

/// The largest `max_bytes` the spec allows (20 MiB).
const HARD_MAX: u64 = 20 * 1024 * 1024;

/// `io.fs.read_media`.
pub fn read_media(
    ctx: &mut ReadMediaCtx<'_>,
    p: ReadMediaParams,
) -> Result<ReadMediaResult, CapError> {
    let cap = p.max_bytes as u64;
    let shown = ctx
        .resolve(&p.path, crate::catalog::Access::Read)?
        .display();
    let handle = ctx.open_read(&p.path)?;
    let size = handle.len();
    if size > cap {
        return Err(too_large(&p.path.to_string(), size, cap));
    }
    let mut data = Vec::with_capacity(size as usize);
    // The file may have grown since it was opened: never take more than the cap.
    handle
        .take(cap + 1)
        .read_to_end(&mut data)
        .map_err(|e| CapError::execution(format!("cannot read `{}`: {e}", p.path)))?;
    if data.len() as u64 > cap {
        return Err(too_large(&p.path.to_string(), data.len() as u64, cap));
    }
    ctx.checkpoint()?;
    let (media_type, detected_from) = media_type(&data, p.path.as_str());
    Ok(ReadMediaResult {
        path: shown,
        media_type: media_type.to_string(),
        detected_from,
        size_bytes: data.len() as i64,
        data: Bytes(data),
    })
}

fn too_large(path: &str, size: u64, cap: u64) -> CapError {
    let hint = if size > HARD_MAX {
        "files over 20 MiB cannot be read with io.fs.read_media; io.fs.stat tells about a file without reading it".to_string()
    } else {
        format!("pass max_bytes of at least {size} (at most {HARD_MAX}) to read it")
    };
    CapError::new(
        ErrorKind::Execution,
        format!(
            "`{path}` is {}, more than max_bytes ({cap} bytes)",
            human(size)
        ),
    )
    .with_field("max_bytes")
    .with_hint(hint)
}

/// `69 bytes`, `6.2 MiB (6500000 bytes)`.
fn human(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB ({n} bytes)", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.1} KiB ({n} bytes)", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// The media type of `data` named `name`, and how it was found.
fn media_type(data: &[u8], name: &str) -> (&'static str, ReadMediaDetectedFrom) {
    if let Some(t) = infer::get(data) {
        return (normalize(t.mime_type()), ReadMediaDetectedFrom::Content);
    }
    let ext = name
        .rsplit_once('.')
        .filter(|(stem, e)| !stem.is_empty() && !e.contains('/'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref().and_then(by_extension) {
        Some(t) => (t, ReadMediaDetectedFrom::Extension),
        None => ("application/octet-stream", ReadMediaDetectedFrom::None),
    }
}

/// The registered names of types `infer` reports under an older `x-` name.
fn normalize(mime: &'static str) -> &'static str {
    match mime {
        "audio/x-wav" => "audio/wav",
        "audio/x-flac" => "audio/flac",
        "audio/x-aiff" => "audio/aiff",
        other => other,
    }
}

/// Types without a signature in their first bytes (text formats above all), and common
/// ones as a fallback when the content says nothing.
fn by_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "ico" => "image/vnd.microsoft.icon",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "md" => "text/markdown",
        "txt" | "log" => "text/plain",
        _ => return None,
    })
}

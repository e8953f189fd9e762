//! `io.fs.read_file`: paged reads of text files (the scan itself is in `paging.rs`; the
//! start of the last lines is found here by a short backward scan).

use super::paging::{Page, Start, binary_error, is_continuation, not_text_error, scan};
use crate::error::CapError;
use crate::powers::ReadHandle;
use crate::stdlib::generated::io::fs::{ReadFileCtx, ReadFileParams, ReadFileResult};
use std::io::{Read, Seek, SeekFrom};

/// Most bytes `io.fs.read_file` returns in one call unless `limit_bytes` says otherwise.
pub const READ_CAP: usize = 256 * 1024;

/// `io.fs.read_file`.
pub fn read_file(ctx: &mut ReadFileCtx<'_>, p: ReadFileParams) -> Result<ReadFileResult, CapError> {
    let exclusive = |a: &str, b: &str| {
        CapError::invalid_field(b, format!("`{a}` and `{b}` cannot be used together")).with_hint(
            "page by lines (offset_line), by bytes (offset_bytes), or read the end (tail_lines)",
        )
    };
    if p.offset_line.is_some() && p.offset_bytes.is_some() {
        return Err(exclusive("offset_line", "offset_bytes"));
    }
    if p.tail_lines.is_some() {
        for (given, name) in [
            (p.offset_line.is_some(), "offset_line"),
            (p.offset_bytes.is_some(), "offset_bytes"),
            (p.limit_lines.is_some(), "limit_lines"),
        ] {
            if given {
                return Err(exclusive("tail_lines", name));
            }
        }
    }
    let mut handle = ctx.open_read(&p.path)?;
    let size = handle.len();
    let read_err =
        |e: std::io::Error| CapError::execution(format!("cannot read `{}`: {e}", p.path));
    let start = if let Some(n) = p.tail_lines {
        Start::Byte(tail_start(&mut handle, size, n as u64).map_err(read_err)?)
    } else if let Some(b) = p.offset_bytes {
        Start::Byte(char_boundary_at_or_after(&mut handle, b as u64, size).map_err(read_err)?)
    } else {
        Start::Line(p.offset_line.unwrap_or(0) as u64)
    };
    handle.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let cap = p.limit_bytes.map(|b| b as usize).unwrap_or(READ_CAP);
    let from = match start {
        Start::Byte(b) => b,
        Start::Line(_) => 0,
    };
    let page = Page {
        start,
        limit_lines: p.limit_lines.map(|l| l as u64),
        cap,
        reserve: (size.saturating_sub(from)).min(cap as u64) as usize,
    };
    let out = scan(ctx, &mut handle, page, &p.path)?;
    if out.binary {
        return Err(binary_error(&p.path));
    }
    if out.content.is_empty() && out.next_byte.is_some() {
        return Err(CapError::invalid_field(
            "limit_bytes",
            format!("limit_bytes {cap} is smaller than the character at the start of the page"),
        )
        .with_hint("use a limit_bytes of at least 4"));
    }
    if out.content.contains(&0) {
        return Err(binary_error(&p.path));
    }
    let content = String::from_utf8(out.content).map_err(|_| not_text_error(&p.path))?;
    Ok(ReadFileResult {
        content,
        size_bytes: size as i64,
        total_lines: out.total_lines as i64,
        truncated: out.next_byte.is_some(),
        next_offset_line: out.next_line.map(|l| l as i64),
        next_offset_bytes: out.next_byte.map(|b| b as i64),
    })
}

/// Moves `offset` forward past UTF-8 continuation bytes (at most three).
fn char_boundary_at_or_after(h: &mut ReadHandle, offset: u64, size: u64) -> std::io::Result<u64> {
    if offset >= size {
        return Ok(offset);
    }
    h.seek(SeekFrom::Start(offset))?;
    let mut peek = [0u8; 4];
    let mut got = 0;
    while got < peek.len() {
        match h.read(&mut peek[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let skip = peek[..got]
        .iter()
        .take(3)
        .take_while(|b| is_continuation(**b))
        .count();
    Ok(offset + skip as u64)
}

/// The byte where the last `n` lines of the file start, found by reading backwards from
/// the end (a final newline ends the last line; it does not start an empty one).
fn tail_start(h: &mut ReadHandle, size: u64, n: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = size;
    let mut need = n;
    let mut first = true;
    while end > 0 {
        let len = (buf.len() as u64).min(end) as usize;
        let at = end - len as u64;
        h.seek(SeekFrom::Start(at))?;
        h.read_exact(&mut buf[..len])?;
        let mut upto = len;
        if first && buf[len - 1] == b'\n' {
            upto -= 1;
        }
        first = false;
        for idx in memchr::memrchr_iter(b'\n', &buf[..upto]) {
            need -= 1;
            if need == 0 {
                return Ok(at + idx as u64 + 1);
            }
        }
        end = at;
    }
    Ok(0)
}

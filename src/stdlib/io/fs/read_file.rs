//! `io.fs.read_file`: paged reads of text files.
//!
//! One forward pass streams the file through a fixed buffer: it counts the lines, finds
//! where the page starts (a line number, a byte offset, or the start of the last lines
//! found by a short backward scan), and keeps only the page's bytes. Memory stays at the
//! page size plus the buffer, whatever the size of the file.

use crate::error::{CapError, ErrorKind};
use crate::powers::{Ctx, FsRead, ReadHandle};
use crate::stdlib::generated::io::fs::{ReadFileCtx, ReadFileParams, ReadFileResult};
use crate::types::WsPath;
use std::io::{Read, Seek, SeekFrom};

/// Most bytes `io.fs.read_file` returns in one call unless `limit_bytes` says otherwise.
pub const READ_CAP: usize = 256 * 1024;

/// Bytes looked at to tell a binary file from text.
const SNIFF: usize = 8 * 1024;

/// Size of the read buffer.
const CHUNK: usize = 256 * 1024;

/// Where a page starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// After this many lines.
    Line(u64),
    /// At this byte (already on a character boundary).
    Byte(u64),
}

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

/// The error for a file that is not valid UTF-8.
pub(super) fn not_text_error(path: &WsPath) -> CapError {
    CapError::execution(format!("`{path}` is not valid UTF-8 text")).with_hint(
        "airun reads text files only; this looks like a binary or differently encoded file",
    )
}

/// The error for a file that holds NUL bytes.
pub(super) fn binary_error(path: &WsPath) -> CapError {
    CapError::new(
        ErrorKind::Execution,
        format!("`{path}` is a binary file, not text"),
    )
    .with_hint("airun reads text files only; io.fs.stat or io.fs.list_dir tell its size")
}

/// What to keep of a file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    start: Start,
    limit_lines: Option<u64>,
    cap: usize,
    /// Bytes to reserve for the page up front (what is left of the file, up to the cap).
    reserve: usize,
}

impl Page {
    /// The first `cap` bytes of a file of `size` bytes.
    pub(super) fn first(cap: usize, size: u64) -> Self {
        Page {
            start: Start::Line(0),
            limit_lines: None,
            cap,
            reserve: size.min(cap as u64) as usize,
        }
    }
}

/// The kept page and what is known about the whole file.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// The page's bytes.
    pub(super) content: Vec<u8>,
    /// Lines in the whole file.
    pub(super) total_lines: u64,
    /// Where the next page starts, when something follows this one.
    pub(super) next_byte: Option<u64>,
    /// The same as a line number, when the page ends at a line boundary.
    pub(super) next_line: Option<u64>,
    /// The file's first bytes hold a NUL byte: it is binary (the scan stopped there).
    pub(super) binary: bool,
}

/// State of the page while the file streams past.
#[derive(Debug)]
struct Window {
    /// Absolute byte where the page starts, once known.
    start: Option<u64>,
    /// Lines before `start`.
    start_line: u64,
    /// The page is complete (a limit closed it).
    closed: bool,
    /// The byte cap closed it (the end may need moving back to a line boundary).
    cut_by_cap: bool,
    content: Vec<u8>,
    lines_taken: u64,
}

/// Streams a file once and keeps the page, for any handler with the read power.
pub(super) fn scan<P: FsRead>(
    ctx: &Ctx<'_, P>,
    handle: &mut ReadHandle,
    page: Page,
    path: &WsPath,
) -> Result<Scanned, CapError> {
    // A small file needs no big buffer (zeroing 256 KiB costs more than reading 1 KiB).
    let mut buf = vec![0u8; (handle.len() as usize).clamp(1, CHUNK)];
    let mut pos: u64 = 0; // absolute offset of buf[0]
    let mut newlines: u64 = 0; // '\n' seen before `pos`
    let mut last_byte: Option<u8> = None;
    let mut w = Window {
        start: match page.start {
            Start::Line(0) => Some(0),
            Start::Line(_) => None,
            Start::Byte(b) => Some(b),
        },
        start_line: 0,
        closed: false,
        cut_by_cap: false,
        content: Vec::new(),
        lines_taken: 0,
    };
    let mut chunks = 0u64;
    loop {
        let n = match handle.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CapError::execution(format!("cannot read `{path}`: {e}"))),
        };
        let chunk = &buf[..n];
        if pos < SNIFF as u64 {
            let upto = (SNIFF as u64 - pos).min(n as u64) as usize;
            if chunk[..upto].contains(&0) {
                return Ok(Scanned {
                    binary: true,
                    ..Scanned::default()
                });
            }
        }
        let chunk_lines = memchr::memchr_iter(b'\n', chunk).count() as u64;
        // Find a line-based start inside this chunk.
        if w.start.is_none()
            && let Start::Line(k) = page.start
            && newlines + chunk_lines >= k
        {
            let nth = (k - newlines) as usize; // 1-based index of the k-th newline here
            if let Some(idx) = memchr::memchr_iter(b'\n', chunk).nth(nth - 1) {
                w.start = Some(pos + idx as u64 + 1);
                w.start_line = k;
            }
        }
        if let Some(s) = w.start
            && !w.closed
            && s < pos + n as u64
        {
            let from = s.saturating_sub(pos) as usize;
            if s >= pos {
                w.start_line = newlines + memchr::memchr_iter(b'\n', &chunk[..from]).count() as u64;
            }
            take(&mut w, &chunk[from..], page);
        }
        newlines += chunk_lines;
        pos += n as u64;
        last_byte = chunk.last().copied();
        chunks += 1;
        if chunks.is_multiple_of(16) {
            ctx.checkpoint()?;
        }
    }
    let total = pos;
    let total_lines = newlines + u64::from(last_byte.is_some_and(|b| b != b'\n'));
    let Some(start) = w.start.filter(|s| *s < total) else {
        // Nothing at or after the start.
        return Ok(Scanned {
            total_lines,
            ..Scanned::default()
        });
    };
    if w.cut_by_cap {
        let cut = page_end(&w.content);
        w.content.truncate(cut);
    }
    let end = start + w.content.len() as u64;
    let mut out = Scanned {
        total_lines,
        ..Scanned::default()
    };
    if end < total {
        out.next_byte = Some(end);
        if w.content.last() == Some(&b'\n') {
            let taken = memchr::memchr_iter(b'\n', &w.content).count() as u64;
            out.next_line = Some(w.start_line + taken);
        }
    }
    out.content = w.content;
    Ok(out)
}

/// Adds what the page wants of `region` (bytes from the page start on).
fn take(w: &mut Window, region: &[u8], page: Page) {
    let mut len = region.len();
    if let Some(limit) = page.limit_lines {
        let need = (limit - w.lines_taken) as usize;
        if let Some(idx) = memchr::memchr_iter(b'\n', region).nth(need - 1) {
            len = idx + 1;
            w.closed = true;
        }
    }
    let room = page.cap - w.content.len();
    if len > room {
        len = room;
        w.closed = true;
        w.cut_by_cap = true;
    }
    if w.content.capacity() == 0 {
        w.content.reserve_exact(page.reserve.max(len));
    }
    let taken = &region[..len];
    w.lines_taken += memchr::memchr_iter(b'\n', taken).count() as u64;
    w.content.extend_from_slice(taken);
}

/// Where a page that reached the byte cap ends: after its last complete line, or, when
/// one line is longer than the page, after its last complete character (0 when not even
/// one character fits).
fn page_end(content: &[u8]) -> usize {
    if let Some(nl) = memchr::memrchr(b'\n', content) {
        return nl + 1;
    }
    let len = content.len();
    for back in 1..=len.min(4) {
        let b = content[len - back];
        if !is_continuation(b) {
            let need = match b {
                0xF0..=0xF7 => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            return if back >= need { len } else { len - back };
        }
    }
    len
}

fn is_continuation(b: u8) -> bool {
    b & 0b1100_0000 == 0b1000_0000
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

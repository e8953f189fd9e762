//! Paged scanning of text files, shared by `io.fs.read_file` and `io.fs.read_many`.
//!
//! One forward pass streams the file through a fixed buffer: it counts the lines, finds
//! where the page starts (a line number, or a byte offset), and keeps only the page's
//! bytes. Memory stays at the page size plus the buffer, whatever the size of the file.

use crate::error::{CapError, ErrorKind};
use crate::powers::{Ctx, FsRead, ReadHandle};
use crate::types::WsPath;
use std::io::Read;

/// Bytes looked at to tell a binary file from text.
const SNIFF: usize = 8 * 1024;

/// Size of the read buffer.
const CHUNK: usize = 256 * 1024;

/// Where a page starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    /// After this many lines.
    Line(u64),
    /// At this byte (already on a character boundary).
    Byte(u64),
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
    /// Where the page starts.
    pub(super) start: Start,
    /// Most lines the page may hold.
    pub(super) limit_lines: Option<u64>,
    /// Most bytes the page may hold.
    pub(super) cap: usize,
    /// Bytes to reserve for the page up front (what is left of the file, up to the cap).
    pub(super) reserve: usize,
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
        let n = read_chunk(handle, &mut buf, path)?;
        if n == 0 {
            break;
        }
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

/// True for a UTF-8 continuation byte.
pub(super) fn is_continuation(b: u8) -> bool {
    b & 0b1100_0000 == 0b1000_0000
}

/// Reads the next bytes of a file into `buf`, retrying when interrupted; 0 at the end.
pub(super) fn read_chunk(
    handle: &mut ReadHandle,
    buf: &mut [u8],
    path: &WsPath,
) -> Result<usize, CapError> {
    loop {
        match handle.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CapError::execution(format!("cannot read `{path}`: {e}"))),
        }
    }
}

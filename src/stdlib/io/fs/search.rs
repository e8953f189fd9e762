//! `io.fs.search`: find files by name and content with ripgrep's crates.
//!
//! The tree is walked in parallel by the read power ([`crate::powers::WalkEntry`]); each
//! worker thread has its own `grep-searcher` searcher over one shared `grep-regex`
//! matcher. Results are kept in a shared bounded set (the smallest keys after the cursor),
//! so memory stays at one page whatever the number of matches, and files that cannot
//! enter the page are not even opened. The page is then sorted by (path, line), which
//! makes paging with the cursor deterministic.

use crate::error::CapError;
use crate::powers::{EntryKind, WalkEntry, WalkFlow, WalkOptions};
use crate::stdlib::generated::io::fs::{SearchCtx, SearchMatchesItem, SearchParams, SearchResult};
use base64::Engine;
use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest line text returned, in characters.
const MAX_TEXT: usize = 400;

/// One result: its sort key is (path, line); name matches have line 0.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    path: String,
    line: u64,
    kind: EntryKind,
    column: Option<u64>,
    text: Option<String>,
    before: Vec<String>,
    after: Vec<String>,
}

impl Hit {
    fn key(&self) -> (&str, u64) {
        (&self.path, self.line)
    }
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The smallest `limit` hits seen so far (a max-heap, so the largest is dropped first).
#[derive(Debug)]
struct TopK {
    heap: BinaryHeap<Hit>,
    limit: usize,
}

impl TopK {
    fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.limit {
            self.heap.push(hit);
        } else if self.heap.peek().is_some_and(|top| hit < *top) {
            self.heap.pop();
            self.heap.push(hit);
        }
    }

    /// True when no hit of `path` (with a line of at least 1) can enter any more.
    fn full_before(&self, path: &str) -> bool {
        self.heap.len() >= self.limit && self.heap.peek().is_some_and(|top| (path, 0) >= top.key())
    }
}

/// How many walked entries between two progress reports.
const PROGRESS_EVERY: u64 = 256;

/// `io.fs.search`.
pub fn search(ctx: &mut SearchCtx<'_>, p: SearchParams) -> Result<SearchResult, CapError> {
    let after = p.cursor.as_deref().map(decode_cursor).transpose()?;
    let glob = p
        .name_glob
        .as_deref()
        .map(|g| NameGlob::new(g, p.case_sensitive))
        .transpose()?;
    let matcher = p
        .content
        .as_deref()
        .map(|c| build_matcher(c, p.regex, p.case_sensitive))
        .transpose()?;
    let base = ctx.resolve(&p.path, crate::catalog::Access::Read)?;
    let base_prefix = if base.is_root() {
        String::new()
    } else {
        format!("{}/", base.display())
    };
    let max = p.max_results as usize;
    let top = Mutex::new(TopK {
        heap: BinaryHeap::new(),
        limit: max + 1,
    });
    let scanned = AtomicU64::new(0);
    let context = p.context_lines as usize;
    let options = WalkOptions {
        include_hidden: p.include_hidden,
        respect_gitignore: p.respect_gitignore,
        ..WalkOptions::default()
    };
    let after_ref = after.as_ref();
    // Entries looked at, reported as progress every PROGRESS_EVERY (the total is unknown
    // until the walk ends).
    let visited = AtomicU64::new(0);
    let ctx: &SearchCtx<'_> = ctx;
    ctx.walk(&p.path, options, || {
        let mut searcher = SearcherBuilder::new()
            .line_number(true)
            .binary_detection(BinaryDetection::quit(0))
            .before_context(context)
            .after_context(context)
            .build();
        let matcher = matcher.clone();
        let (glob, top, scanned, base_prefix) = (&glob, &top, &scanned, &base_prefix);
        let visited = &visited;
        move |entry: &WalkEntry<'_>| {
            let seen = visited.fetch_add(1, Ordering::Relaxed) + 1;
            if seen.is_multiple_of(PROGRESS_EVERY) {
                ctx.progress(seen, None, "searching: entries looked at");
            }
            let path = entry.display();
            if let Some(g) = glob {
                let below = path.strip_prefix(base_prefix.as_str()).unwrap_or(&path);
                if !g.matches(below, entry.file_name()) {
                    return WalkFlow::Continue;
                }
            }
            let Some(m) = &matcher else {
                scanned.fetch_add(1, Ordering::Relaxed);
                let hit = Hit {
                    path,
                    line: 0,
                    kind: entry.kind(),
                    column: None,
                    text: None,
                    before: Vec::new(),
                    after: Vec::new(),
                };
                if after_ref.is_none_or(|(ap, al)| hit.key() > (ap.as_str(), *al)) {
                    top.lock().unwrap_or_else(|e| e.into_inner()).push(hit);
                }
                return WalkFlow::Continue;
            };
            if entry.kind() != EntryKind::File {
                return WalkFlow::Continue;
            }
            scanned.fetch_add(1, Ordering::Relaxed);
            let min_line = match after_ref {
                Some((ap, _)) if path.as_str() < ap.as_str() => return WalkFlow::Continue,
                Some((ap, al)) if path == *ap => *al,
                _ => 0,
            };
            if top
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .full_before(&path)
            {
                return WalkFlow::Continue;
            }
            let Ok(handle) = entry.open() else {
                return WalkFlow::Continue;
            };
            let mut sink = FileSink {
                matcher: m,
                path: &path,
                hits: Vec::new(),
                pending_before: Vec::new(),
                binary: false,
                min_line,
                context,
                last_kept: false,
            };
            if searcher.search_reader(m, handle, &mut sink).is_err() || sink.binary {
                return WalkFlow::Continue;
            }
            if !sink.hits.is_empty() {
                let mut t = top.lock().unwrap_or_else(|e| e.into_inner());
                for h in sink.hits {
                    t.push(h);
                }
            }
            WalkFlow::Continue
        }
    })?;
    let mut hits = top
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .heap
        .into_sorted_vec();
    let truncated = hits.len() > max;
    hits.truncate(max);
    let next_cursor = if truncated {
        hits.last().map(|h| encode_cursor(&h.path, h.line))
    } else {
        None
    };
    let with_context = context > 0;
    Ok(SearchResult {
        matches: hits
            .into_iter()
            .map(|h| SearchMatchesItem {
                path: h.path,
                kind: h.kind.into(),
                line: (h.line > 0).then_some(h.line as i64),
                column: h.column.map(|c| c as i64),
                text: h.text,
                context_before: (with_context && h.line > 0).then_some(h.before),
                context_after: (with_context && h.line > 0).then_some(h.after),
            })
            .collect(),
        next_cursor,
        truncated,
        files_scanned: scanned.into_inner() as i64,
    })
}

/// A name glob: on the file name when it has no `/`, else on the path below the search
/// folder.
#[derive(Debug)]
struct NameGlob {
    glob: globset::GlobMatcher,
    on_path: bool,
}

impl NameGlob {
    fn new(pattern: &str, case_sensitive: bool) -> Result<Self, CapError> {
        let on_path = pattern.contains('/');
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .case_insensitive(!case_sensitive)
            .backslash_escape(true)
            .build()
            .map_err(|e| {
                CapError::invalid_field(
                    "name_glob",
                    format!("`{pattern}` is not a valid glob: {}", e.kind()),
                )
                .with_hint(
                    "use * for any characters in a name, ** for any folders, {a,b} for either",
                )
            })?;
        Ok(NameGlob {
            glob: glob.compile_matcher(),
            on_path,
        })
    }

    fn matches(&self, below: &str, name: Option<&std::ffi::OsStr>) -> bool {
        if self.on_path {
            self.glob.is_match(below)
        } else {
            name.is_some_and(|n| self.glob.is_match(n))
        }
    }
}

fn build_matcher(
    content: &str,
    regex: bool,
    case_sensitive: bool,
) -> Result<RegexMatcher, CapError> {
    let mut b = RegexMatcherBuilder::new();
    b.case_insensitive(!case_sensitive)
        .line_terminator(Some(b'\n'))
        .fixed_strings(!regex);
    let built = b.build(content);
    built.map_err(|e| {
        let shown = e.to_string();
        let hint = if content.contains('\n') {
            "search for one line at a time"
        } else if regex {
            "check the regular expression (Rust regex syntax), or pass regex: false to search for plain text"
        } else {
            "search for plain text without line breaks"
        };
        CapError::invalid_field("content", format!("cannot search for this content: {shown}")).with_hint(hint)
    })
}

fn encode_cursor(path: &str, line: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{line}\n{path}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, u64), CapError> {
    let bad = || {
        CapError::invalid_field("cursor", "the cursor is not one that io.fs.search returned")
            .with_hint("pass next_cursor from the previous page unchanged, or leave cursor out to start over")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (line, path) = text.split_once('\n').ok_or_else(bad)?;
    Ok((path.to_string(), line.parse().map_err(|_| bad())?))
}

/// Collects the matches of one file.
struct FileSink<'a> {
    matcher: &'a RegexMatcher,
    path: &'a str,
    hits: Vec<Hit>,
    pending_before: Vec<String>,
    binary: bool,
    /// Lines up to this one were returned on an earlier page.
    min_line: u64,
    /// Lines of context asked for.
    context: usize,
    /// The last match was kept (its after-context belongs to it).
    last_kept: bool,
}

fn line_text(bytes: &[u8]) -> String {
    let mut b = bytes;
    while let Some((&last, rest)) = b.split_last() {
        if last == b'\n' || last == b'\r' {
            b = rest;
        } else {
            break;
        }
    }
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > MAX_TEXT {
        let mut cut: String = s.chars().take(MAX_TEXT).collect();
        cut.push('…');
        cut
    } else {
        s.into_owned()
    }
}

impl Sink for FileSink<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        let first = mat.line_number().unwrap_or(0);
        for (i, line) in mat.lines().enumerate() {
            let number = first + i as u64;
            let mut before = std::mem::take(&mut self.pending_before);
            if before.len() > self.context {
                before.drain(..before.len() - self.context);
            }
            self.last_kept = number > self.min_line;
            if !self.last_kept {
                continue;
            }
            let column =
                self.matcher.find(line).ok().flatten().map(|m| {
                    String::from_utf8_lossy(&line[..m.start()]).chars().count() as u64 + 1
                });
            self.hits.push(Hit {
                path: self.path.to_string(),
                line: number,
                kind: EntryKind::File,
                column,
                text: Some(line_text(line)),
                before,
                after: Vec::new(),
            });
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, Self::Error> {
        let text = line_text(ctx.bytes());
        match ctx.kind() {
            SinkContextKind::After => {
                if self.last_kept
                    && let Some(last) = self.hits.last_mut()
                {
                    last.after.push(text.clone());
                }
                // It may also be before-context of the next match.
                self.pending_before.push(text);
            }
            _ => self.pending_before.push(text),
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, Self::Error> {
        self.pending_before.clear();
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, Self::Error> {
        self.binary = true;
        Ok(false)
    }
}

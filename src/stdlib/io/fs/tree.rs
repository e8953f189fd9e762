//! `io.fs.tree`: a folder's tree to a depth, with file, folder and byte counts.
//!
//! One walk of the whole tree (ripgrep's walker through the read power, so ignore files
//! are honoured and links are never followed) keeps the entries down to `max_depth` and
//! folds everything deeper into its ancestor at `max_depth`. The counts of each listed
//! folder are then summed bottom-up, so a folder's counts cover everything below it.

use crate::catalog::Access;
use crate::error::CapError;
use crate::powers::{EntryKind, WalkFlow, WalkOptions};
use crate::stdlib::generated::io::fs::{TreeCtx, TreeEntriesItem, TreeParams, TreeResult};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One listed entry.
#[derive(Debug, Clone)]
struct Listed {
    rel: PathBuf,
    depth: usize,
    kind: EntryKind,
    size: u64,
}

/// Files, folders and bytes below a folder.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    files: u64,
    dirs: u64,
    links: u64,
    bytes: u64,
}

impl Counts {
    fn add(&mut self, kind: EntryKind, size: u64) {
        match kind {
            EntryKind::File => {
                self.files += 1;
                self.bytes += size;
            }
            EntryKind::Dir => self.dirs += 1,
            EntryKind::Symlink => self.links += 1,
            EntryKind::Other => {}
        }
    }

    fn merge(&mut self, o: Counts) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.links += o.links;
        self.bytes += o.bytes;
    }
}

/// What the walk found.
#[derive(Debug, Default)]
struct Found {
    listed: Vec<Listed>,
    /// Everything below `max_depth`, by its ancestor at `max_depth`.
    deeper: HashMap<PathBuf, Counts>,
    /// The start is a file, not a folder.
    start_is_file: bool,
}

/// `io.fs.tree`.
pub fn tree(ctx: &mut TreeCtx<'_>, p: TreeParams) -> Result<TreeResult, CapError> {
    let base = ctx.resolve(&p.path, Access::Read)?;
    let max_depth = p.max_depth as usize;
    let found = Mutex::new(Found::default());
    let options = WalkOptions {
        include_hidden: p.include_hidden,
        respect_gitignore: p.respect_gitignore,
        ..WalkOptions::default()
    };
    ctx.walk(&p.path, options, || {
        // Each worker thread keeps its own findings and hands them over when it is done.
        let mut mine = Flush(&found, Found::default());
        move |entry| {
            let local = &mut mine.1;
            if entry.depth() == 0 {
                local.start_is_file = true;
                return WalkFlow::Stop;
            }
            let kind = entry.kind();
            let size = entry.size();
            if entry.depth() <= max_depth {
                local.listed.push(Listed {
                    rel: entry.path().to_path_buf(),
                    depth: entry.depth(),
                    kind,
                    size,
                });
            } else {
                let cut = entry.depth() - max_depth;
                let ancestor = entry.path().ancestors().nth(cut).unwrap_or(Path::new(""));
                local
                    .deeper
                    .entry(ancestor.to_path_buf())
                    .or_default()
                    .add(kind, size);
            }
            WalkFlow::Continue
        }
    })?;
    let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    if found.start_is_file {
        return Err(
            CapError::execution(format!("`{}` is a file, not a folder", base.display()))
                .with_field("path")
                .with_hint("use io.fs.stat to look at a file, or give its folder"),
        );
    }
    Ok(build(&base, found, p.max_entries as usize))
}

/// A visitor's findings, handed to the shared set when the visitor is dropped.
struct Flush<'a>(&'a Mutex<Found>, Found);

impl Drop for Flush<'_> {
    fn drop(&mut self) {
        let mine = std::mem::take(&mut self.1);
        let mut shared = self.0.lock().unwrap_or_else(|e| e.into_inner());
        merge_into(&mut shared, mine);
    }
}

fn merge_into(into: &mut Found, f: Found) {
    into.listed.extend(f.listed);
    for (k, c) in f.deeper {
        into.deeper.entry(k).or_default().merge(c);
    }
    into.start_is_file |= f.start_is_file;
}

/// Sums the counts, picks the entries to list and renders the text.
fn build(base: &crate::sandbox::Resolved, found: Found, max_entries: usize) -> TreeResult {
    let stop = (!base.is_root()).then(|| base.rel());
    let mut below: HashMap<&Path, Counts> = HashMap::new();
    let mut total = Counts::default();
    for e in &found.listed {
        let mut c = Counts::default();
        c.add(e.kind, e.size);
        total.merge(c);
        add_above(&mut below, e.rel.parent(), c, stop);
    }
    for (ancestor, c) in &found.deeper {
        // Counted in the ancestor itself and in every folder above it.
        total.merge(*c);
        add_above(&mut below, Some(ancestor.as_path()), *c, stop);
    }
    // The shallowest entries are kept, then shown in tree order.
    let mut listed: Vec<&Listed> = found.listed.iter().collect();
    listed.sort_by(|a, b| a.depth.cmp(&b.depth).then_with(|| a.rel.cmp(&b.rel)));
    let truncated = listed.len() > max_entries;
    let left_out = listed.len().saturating_sub(max_entries);
    listed.truncate(max_entries);
    listed.sort_by(|a, b| a.rel.cmp(&b.rel));

    // The first root shows as `.`; another root (and any folder) as results name it.
    let shown_base = base.display();
    let mut text = format!("{shown_base}/  ({})\n", counts_text(&total));
    let mut entries = Vec::with_capacity(listed.len());
    for e in listed {
        let name = e
            .rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let indent = "  ".repeat(e.depth);
        let c = below.get(e.rel.as_path()).copied().unwrap_or_default();
        let (line, size) = match e.kind {
            EntryKind::Dir => (format!("{name}/  ({})", counts_text(&c)), c.bytes),
            EntryKind::File => (format!("{name}  ({})", human_bytes(e.size)), e.size),
            EntryKind::Symlink => (format!("{name}@  (link, not followed)"), e.size),
            EntryKind::Other => (format!("{name}  (special file)"), e.size),
        };
        text.push_str(&indent);
        text.push_str(&line);
        text.push('\n');
        let is_dir = e.kind == EntryKind::Dir;
        entries.push(TreeEntriesItem {
            path: base.with_rel(e.rel.clone()).display(),
            depth: e.depth as i64,
            kind: e.kind.into(),
            size: size as i64,
            files: is_dir.then_some(c.files as i64),
            dirs: is_dir.then_some(c.dirs as i64),
        });
    }
    if truncated {
        text.push_str(&format!(
            "… {left_out} more entries not listed (raise max_entries or show a sub-folder)\n"
        ));
    }
    TreeResult {
        root: shown_base.to_string(),
        tree: text,
        entries,
        files: total.files as i64,
        dirs: total.dirs as i64,
        symlinks: total.links as i64,
        total_bytes: total.bytes as i64,
        truncated,
    }
}

/// Adds `c` to `from` and each folder above it, up to (not including) `stop` or the root.
fn add_above<'a>(
    below: &mut HashMap<&'a Path, Counts>,
    from: Option<&'a Path>,
    c: Counts,
    stop: Option<&Path>,
) {
    let mut cur = from;
    while let Some(dir) = cur {
        if dir.as_os_str().is_empty() || stop == Some(dir) {
            break;
        }
        below.entry(dir).or_default().merge(c);
        cur = dir.parent();
    }
}

fn counts_text(c: &Counts) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}, {}",
        plural(c.files, "file", "files"),
        plural(c.dirs, "folder", "folders"),
        human_bytes(c.bytes)
    )
}

/// Bytes for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

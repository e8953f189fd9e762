//! `sys.archive.unzip`: extract a zip archive safely.
//!
//! Three phases. **Plan**: the central directory is read and every entry checked (names
//! without `..` or absolute paths, links that stay inside the destination, entry and byte
//! limits, compression ratios, clashes with existing files) before anything is written.
//! **Stage**: each file is decompressed into a hidden temporary sibling of its final path,
//! counting the bytes actually produced (a lying header cannot write more than it
//! declared). **Commit**: the staged files are renamed into place and the links created.
//! A failure while staging removes everything staged and every folder created.

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::powers::{EntryKind, StagedFile};
use crate::sandbox::{Climb, Resolved, stays_beneath};
use crate::stdlib::generated::sys::archive::{UnzipCtx, UnzipParams, UnzipResult};
use crate::types::WsPath;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Entries larger than this are checked for a zip-bomb compression ratio.
pub const BOMB_MIN_BYTES: u64 = 1 << 20;

/// Largest compression ratio (uncompressed / compressed) accepted for a large entry.
pub const BOMB_MAX_RATIO: u64 = 100;

/// Longest symbolic link target read from an archive.
const MAX_LINK_TARGET: u64 = 4096;

/// What an entry becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Dir,
    File { mode: u32, size: u64 },
    Link { target: String },
}

/// One checked entry.
#[derive(Debug)]
struct Planned {
    index: usize,
    name: String,
    rel: Resolved,
    item: Item,
}

fn refuse(message: String, hint: &str) -> CapError {
    CapError::new(ErrorKind::DeniedSandbox, message)
        .with_field("archive")
        .with_hint(hint)
}

fn too_big(message: String, hint: &str) -> CapError {
    CapError::new(ErrorKind::Execution, message)
        .with_field("archive")
        .with_hint(hint)
}

/// `sys.archive.unzip`.
pub fn unzip(ctx: &mut UnzipCtx<'_>, p: UnzipParams) -> Result<UnzipResult, CapError> {
    let dest = ctx.resolve(&p.destination, Access::Write)?;
    let dest_info = ctx.stat(&p.destination)?;
    if let Some(info) = &dest_info
        && info.kind != EntryKind::Dir
    {
        return Err(CapError::execution(format!(
            "`{}` exists and is not a folder",
            dest.display()
        ))
        .with_field("destination")
        .with_hint("extract into a folder, or a path that does not exist yet"));
    }
    let handle = ctx.open_read(&p.archive)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(handle)).map_err(|e| {
        CapError::execution(format!(
            "`{}` is not a readable zip archive: {e}",
            p.archive
        ))
        .with_field("archive")
    })?;

    let plan = plan(ctx, &mut zip, &p, &dest)?;

    // Stage: folders first, then every file into a temporary sibling.
    let mut created_dirs: Vec<Resolved> = Vec::new();
    let mut staged: Vec<StagedFile> = Vec::new();
    let outcome = stage(
        ctx,
        &mut zip,
        &p,
        &dest,
        &plan,
        &mut created_dirs,
        &mut staged,
    );
    let bytes = match outcome {
        Ok(b) => b,
        Err(e) => {
            for s in staged {
                ctx.discard_staged(s);
            }
            for d in created_dirs.iter().rev() {
                ctx.remove_empty_dir(d);
            }
            return Err(e);
        }
    };

    // Commit: files into place, then the links.
    let mut files = 0i64;
    for s in staged {
        ctx.commit_staged(s, p.overwrite)?;
        files += 1;
    }
    for entry in &plan {
        if let Item::Link { target } = &entry.item {
            ctx.symlink(std::path::Path::new(target), &entry.rel)?;
            files += 1;
        }
    }
    Ok(UnzipResult {
        destination: dest.display(),
        files,
        folders: created_dirs.len() as i64,
        bytes: bytes as i64,
    })
}

fn ws_path(r: &Resolved) -> WsPath {
    WsPath::from_spec(&r.display())
}

/// Reads and checks every entry; nothing is written.
fn plan<R: Read + io::Seek>(
    ctx: &UnzipCtx<'_>,
    zip: &mut zip::ZipArchive<R>,
    p: &UnzipParams,
    dest: &Resolved,
) -> Result<Vec<Planned>, CapError> {
    let count = zip.len();
    if count as i64 > p.max_entries {
        return Err(too_big(
            format!(
                "the archive has {count} entries, more than max_entries {}; nothing was extracted",
                p.max_entries
            ),
            "raise max_entries if you trust this archive",
        ));
    }
    let mut plan = Vec::with_capacity(count);
    let mut declared: u64 = 0;
    let mut seen: BTreeMap<Vec<String>, bool> = BTreeMap::new(); // path -> is a folder
    for index in 0..count {
        if index % 256 == 0 {
            ctx.checkpoint()?;
        }
        let (name, comps, item) = {
            let f = zip.by_index_raw(index).map_err(|e| bad_entry(index, &e))?;
            let name = f
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(f.name_raw()).into_owned());
            let comps = components(&name).map_err(|why| {
                refuse(
                    format!("the archive entry `{name}` {why}; nothing was extracted"),
                    "this archive tries to write outside the destination (zip slip); do not extract it",
                )
            })?;
            if f.encrypted() {
                return Err(CapError::execution(format!(
                    "the archive entry `{name}` is encrypted, which sys.archive.unzip does not support; nothing was extracted"
                ))
                .with_field("archive"));
            }
            let size = f.size();
            let packed = f.compressed_size();
            let item = if f.is_dir() {
                Item::Dir
            } else if f.is_symlink() {
                Item::Link {
                    target: String::new(),
                }
            } else {
                if size > BOMB_MIN_BYTES && (packed == 0 || size / packed.max(1) > BOMB_MAX_RATIO) {
                    return Err(too_big(
                        format!(
                            "the archive entry `{name}` expands {size} bytes from {packed} (more than {BOMB_MAX_RATIO}:1), as zip bombs do; nothing was extracted"
                        ),
                        "do not extract this archive",
                    ));
                }
                declared = declared.saturating_add(size);
                if declared > p.max_total_bytes as u64 {
                    return Err(too_big(
                        format!(
                            "the archive's files add up to more than max_total_bytes {} bytes; nothing was extracted",
                            p.max_total_bytes
                        ),
                        "raise max_total_bytes if you trust this archive and have the room",
                    ));
                }
                Item::File {
                    mode: f.unix_mode().map(|m| m & 0o777).unwrap_or(0o644),
                    size,
                }
            };
            (name, comps, item)
        };
        if comps.is_empty() {
            if item == Item::Dir {
                continue;
            }
            return Err(refuse(
                format!("the archive entry `{name}` has no file name; nothing was extracted"),
                "the archive is malformed",
            ));
        }
        // A link's target is its content; it must stay inside the destination.
        let item = match item {
            Item::Link { .. } => {
                let mut f = zip.by_index(index).map_err(|e| bad_entry(index, &e))?;
                let mut target = String::new();
                (&mut f)
                    .take(MAX_LINK_TARGET)
                    .read_to_string(&mut target)
                    .map_err(|e| {
                        CapError::execution(format!(
                            "cannot read the link `{name}` in the archive: {e}"
                        ))
                    })?;
                if !link_stays_inside(&comps, &target) {
                    return Err(refuse(
                        format!(
                            "the archive entry `{name}` is a symbolic link to `{target}`, outside the destination; nothing was extracted"
                        ),
                        "this archive tries to reach outside the destination; do not extract it",
                    ));
                }
                Item::Link { target }
            }
            other => other,
        };
        let is_dir = item == Item::Dir;
        match seen.get(&comps) {
            Some(true) if is_dir => continue,
            Some(_) => {
                return Err(refuse(
                    format!("the archive has `{name}` twice; nothing was extracted"),
                    "the archive is malformed or crafted",
                ));
            }
            None => {}
        }
        for depth in 1..comps.len() {
            if seen.get(&comps[..depth]) == Some(&false) {
                return Err(refuse(
                    format!(
                        "the archive entry `{name}` lies inside `{}`, which the archive makes a file or link; nothing was extracted",
                        comps[..depth].join("/")
                    ),
                    "the archive is malformed or crafted",
                ));
            }
        }
        seen.insert(comps.clone(), is_dir);
        let joined = comps.join("/");
        let rel_text = if dest.is_root() {
            joined
        } else {
            format!("{}/{joined}", dest.display())
        };
        let rel = ctx.resolve(&WsPath::from_spec(&rel_text), Access::Write)?;
        if !rel.rel().starts_with(dest.rel()) && !dest.is_root() {
            return Err(refuse(
                format!(
                    "the archive entry `{name}` would be written through a symbolic link to `{}`, outside the destination; nothing was extracted",
                    rel.display()
                ),
                "extract into a folder without symbolic links",
            ));
        }
        plan.push(Planned {
            index,
            name,
            rel,
            item,
        });
    }
    // Folders the archive implies (parents of its entries) must not be files or links now,
    // and the entries themselves must not exist unless overwrite is set.
    let mut clashes = Vec::new();
    for entry in &plan {
        let existing = ctx.stat(&ws_path(&entry.rel))?;
        match (&entry.item, existing.map(|i| i.kind)) {
            (_, None) => {}
            (Item::Dir, Some(EntryKind::Dir)) => {}
            (Item::Dir, Some(_)) => {
                return Err(CapError::new(
                    ErrorKind::AlreadyExists,
                    format!("`{}` exists and is not a folder, but the archive has a folder there; nothing was extracted", entry.rel.display()),
                )
                .with_hint("remove it or extract somewhere else"));
            }
            (Item::Link { .. }, Some(_)) => {
                return Err(CapError::new(
                    ErrorKind::AlreadyExists,
                    format!("`{}` exists, and the archive has a symbolic link there; nothing was extracted", entry.rel.display()),
                )
                .with_hint("remove it or extract somewhere else (links are never replaced)"));
            }
            (_, Some(EntryKind::Dir)) => {
                return Err(CapError::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "`{}` is a folder, but the archive has a file there; nothing was extracted",
                        entry.rel.display()
                    ),
                )
                .with_hint("remove it or extract somewhere else"));
            }
            (_, Some(_)) => clashes.push(entry.rel.display()),
        }
    }
    if !clashes.is_empty() && !p.overwrite {
        let shown: Vec<&str> = clashes.iter().take(5).map(String::as_str).collect();
        let more = if clashes.len() > 5 {
            format!(" and {} more", clashes.len() - 5)
        } else {
            String::new()
        };
        return Err(CapError::new(
            ErrorKind::AlreadyExists,
            format!(
                "{} already exist{}: {}{more}; nothing was extracted",
                clashes.len(),
                if clashes.len() == 1 { "s" } else { "" },
                shown.join(", ")
            ),
        )
        .with_field("destination")
        .with_hint("pass overwrite: true to replace them, or extract into an empty folder"));
    }
    Ok(plan)
}

fn bad_entry(index: usize, e: &zip::result::ZipError) -> CapError {
    CapError::execution(format!("cannot read entry {index} of the archive: {e}"))
        .with_field("archive")
}

/// The normal components of an entry name, or why the name is refused.
fn components(name: &str) -> Result<Vec<String>, &'static str> {
    if name.contains('\0') {
        return Err("has a NUL character in its name");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err("is an absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err("is an absolute (drive letter) path");
    }
    let mut out = Vec::new();
    for c in name.split(['/', '\\']) {
        match c {
            "" | "." => {}
            ".." => return Err("climbs out with `..`"),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

/// True when a link at `comps` (inside the destination) with this target stays inside the
/// destination, judged by the names alone.
fn link_stays_inside(comps: &[String], target: &str) -> bool {
    if target.is_empty()
        || target.contains('\0')
        || target.starts_with('/')
        || target.starts_with('\\')
    {
        return false;
    }
    let b = target.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return false;
    }
    // `\` separates names too (archives made on Windows).
    let target = target.replace('\\', "/");
    stays_beneath(
        comps.len().saturating_sub(1),
        Path::new(&target),
        Climb::LeadingOnly,
    )
}

/// Counts the bytes an entry really decompresses to, and stops at its declared size and at
/// the call's total.
struct Counted<'a, R> {
    inner: R,
    name: &'a str,
    declared: u64,
    produced: u64,
    total: &'a mut u64,
    max_total: u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        *self.total += n as u64;
        if self.produced > self.declared {
            return Err(io::Error::other(format!(
                "the archive entry `{}` decompresses to more than the {} bytes it declares (a zip bomb or a corrupt archive); nothing was extracted",
                self.name, self.declared
            )));
        }
        if *self.total > self.max_total {
            return Err(io::Error::other(format!(
                "extracting would write more than max_total_bytes {} bytes; nothing was extracted",
                self.max_total
            )));
        }
        Ok(n)
    }
}

/// Creates the folders and stages every file; returns the bytes written.
fn stage<R: Read + io::Seek>(
    ctx: &UnzipCtx<'_>,
    zip: &mut zip::ZipArchive<R>,
    p: &UnzipParams,
    dest: &Resolved,
    plan: &[Planned],
    created_dirs: &mut Vec<Resolved>,
    staged: &mut Vec<StagedFile>,
) -> Result<u64, CapError> {
    // Every folder needed: the destination, folder entries and the parents of the others.
    let mut folders: BTreeSet<String> = BTreeSet::new();
    if !dest.is_root() {
        folders.insert(dest.display());
    }
    for entry in plan {
        let path = if entry.item == Item::Dir {
            entry.rel.clone()
        } else {
            entry.rel.parent()
        };
        let mut cur = path;
        while !cur.is_root() && (dest.is_root() || cur.rel().starts_with(dest.rel())) {
            folders.insert(cur.display());
            if cur == *dest {
                break;
            }
            cur = cur.parent();
        }
    }
    for folder in &folders {
        created_dirs.extend(ctx.create_dir_all(&WsPath::from_spec(folder))?);
    }
    let total_entries = plan.len() as u64;
    let mut total: u64 = 0;
    for (i, entry) in plan.iter().enumerate() {
        ctx.checkpoint()?;
        let Item::File { mode, size } = entry.item else {
            continue;
        };
        let f = zip
            .by_index(entry.index)
            .map_err(|e| bad_entry(entry.index, &e))?;
        let mut counted = Counted {
            inner: f,
            name: &entry.name,
            declared: size,
            produced: 0,
            total: &mut total,
            max_total: p.max_total_bytes as u64,
        };
        let (s, _) = ctx.stage_file(&entry.rel, &mut counted, mode)?;
        staged.push(s);
        if i % 64 == 0 {
            ctx.progress(i as u64, Some(total_entries), "extracting");
        }
    }
    Ok(total)
}

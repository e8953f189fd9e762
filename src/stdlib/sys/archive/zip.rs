//! `sys.archive.*` handlers. They read and write only through their context's filesystem
//! powers. The zip writer is self-contained here; `sys.archive.zip` plans every entry
//! before it writes anything, and writes the archive atomically.

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::powers::{EntryInfo, EntryKind};
use crate::sandbox::Resolved;
use crate::stdlib::generated::sys::archive::*;
use crate::types::WsPath;
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::time::SystemTime;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Report progress after this many entries, or this many bytes, whichever comes first.
const PROGRESS_ENTRIES: u64 = 64;
const PROGRESS_BYTES: u64 = 8 << 20;

/// Bytes copied between two checks of the time limit and cancellation.
const CHUNK: usize = 256 * 1024;

/// One planned archive entry, by its name in the archive.
enum Planned {
    Dir {
        mode: u32,
        modified: Option<SystemTime>,
    },
    File {
        path: Resolved,
        size: u64,
        mode: u32,
        modified: Option<SystemTime>,
    },
    Link {
        target: String,
        modified: Option<SystemTime>,
    },
}

/// The archive's plan: entries by name (sorted, no repeats) and what was left out.
#[derive(Default)]
struct Plan {
    entries: BTreeMap<String, Planned>,
    skipped: Vec<ZipSkippedItem>,
}

impl Plan {
    fn skip(&mut self, e: &EntryInfo, reason: impl Into<String>) {
        self.skipped.push(ZipSkippedItem {
            path: e.display(),
            reason: reason.into(),
        });
    }
}

/// The entry name of a workspace path: relative to the root, `/` separators, folders
/// ending in `/`. `None` for a name that is not UTF-8.
fn entry_name(e: &EntryInfo) -> Option<String> {
    let rel = e.path.rel().to_str()?;
    Some(if e.kind == EntryKind::Dir {
        format!("{rel}/")
    } else {
        rel.to_string()
    })
}

/// Adds one entry found in a source to the plan (folders are walked by the caller).
fn plan_entry(ctx: &ZipCtx<'_>, plan: &mut Plan, e: &EntryInfo) -> Result<(), CapError> {
    let Some(name) = entry_name(e) else {
        plan.skip(e, "the name is not valid UTF-8");
        return Ok(());
    };
    let planned = match e.kind {
        EntryKind::Dir => Planned::Dir {
            mode: e.mode,
            modified: e.modified,
        },
        EntryKind::File => Planned::File {
            path: e.path.clone(),
            size: e.size,
            mode: e.mode,
            modified: e.modified,
        },
        EntryKind::Symlink => {
            let target = ctx.read_link(&e.path)?;
            if !ctx.link_stays_inside(&e.path, &target) {
                plan.skip(
                    e,
                    format!(
                        "a symbolic link to `{}`, outside the workspace; it is never followed",
                        target.display()
                    ),
                );
                return Ok(());
            }
            let Some(target) = target.to_str() else {
                plan.skip(e, "a symbolic link whose target is not valid UTF-8");
                return Ok(());
            };
            Planned::Link {
                target: target.to_string(),
                modified: e.modified,
            }
        }
        EntryKind::Other => {
            plan.skip(
                e,
                "not a regular file, folder or link (a socket, FIFO or device)",
            );
            return Ok(());
        }
    };
    plan.entries.insert(name, planned);
    Ok(())
}

/// Walks one source into the plan.
fn plan_source(
    ctx: &ZipCtx<'_>,
    plan: &mut Plan,
    root: EntryInfo,
    recursive: bool,
) -> Result<(), CapError> {
    if root.kind != EntryKind::Dir {
        return plan_entry(ctx, plan, &root);
    }
    if !root.path.is_root() {
        plan_entry(ctx, plan, &root)?;
    }
    let mut stack = vec![root];
    let mut walked = 0u64;
    while let Some(dir) = stack.pop() {
        ctx.checkpoint()?;
        walked += 1;
        for child in ctx.list_entry(&dir)? {
            if child.kind == EntryKind::Dir {
                if !recursive {
                    plan.skip(
                        &child,
                        "a folder inside a folder source (recursive is false)",
                    );
                    continue;
                }
                stack.push(child.clone());
            }
            plan_entry(ctx, plan, &child)?;
        }
        if walked.is_multiple_of(PROGRESS_ENTRIES) {
            ctx.progress(plan.entries.len() as u64, None, "listing files to archive");
        }
    }
    Ok(())
}

/// A modification time as a zip timestamp (local time, as zip tools read it; times
/// before 1980 or after 2107 become the zip epoch, 1980-01-01).
fn zip_time(t: Option<SystemTime>) -> zip::DateTime {
    t.and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::system()).datetime())
        .and_then(|d| {
            zip::DateTime::from_date_and_time(
                u16::try_from(d.year()).ok()?,
                d.month() as u8,
                d.day() as u8,
                d.hour() as u8,
                d.minute() as u8,
                d.second() as u8,
            )
            .ok()
        })
        .unwrap_or_default()
}

fn zip_err(e: zip::result::ZipError, output: &str) -> CapError {
    match e {
        zip::result::ZipError::Io(io) => {
            CapError::execution(format!("cannot write the archive `{output}`: {io}"))
        }
        other => CapError::execution(format!("cannot write the archive `{output}`: {other}")),
    }
}

/// `sys.archive.zip`.
pub fn zip(ctx: &mut ZipCtx<'_>, p: ZipParams) -> Result<ZipResult, CapError> {
    let out = ctx.resolve(&p.output, Access::Write)?;
    let shown = out.display();
    if out.is_root() {
        return Err(
            CapError::invalid_field("output", "is the workspace root, a folder")
                .with_hint("name the archive file, e.g. backup.zip"),
        );
    }
    // Resolve every source and refuse an output that is one of them or inside one.
    let mut roots = Vec::new();
    for (i, source) in p.sources.iter().enumerate() {
        let field = format!("sources[{i}]");
        let r = ctx
            .resolve(source, Access::Read)
            .map_err(|e| e.with_field(field.clone()))?;
        if r == out {
            return Err(
                CapError::invalid_field(&field, format!("is the output `{shown}` itself"))
                    .with_hint("write the archive to a new file, e.g. next to the sources"),
            );
        }
        if r.is_root() || out.rel().starts_with(r.rel()) {
            return Err(CapError::invalid_field(
                &field,
                format!(
                    "`{}` contains the output `{shown}`; the archive would pack itself",
                    r.display()
                ),
            )
            .with_hint("write the archive outside the folders being archived, or list the entries around it as sources"));
        }
        let info = ctx.stat(&WsPath::from_spec(&r.display()))?.ok_or_else(|| {
            CapError::new(ErrorKind::NotFound, format!("`{source}` does not exist"))
                .with_field(field.clone())
                .with_hint("check the path; io.fs.list_dir shows what is there")
        })?;
        roots.push(info);
    }
    // Plan every entry before writing anything.
    let mut plan = Plan::default();
    for root in roots {
        plan_source(ctx, &mut plan, root, p.recursive)?;
    }
    let total = plan.entries.len() as u64;
    let total_bytes: u64 = plan
        .entries
        .values()
        .map(|e| match e {
            Planned::File { size, .. } => *size,
            _ => 0,
        })
        .sum();
    let base = if p.compression_level == 0 {
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
    } else {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(p.compression_level))
    };
    let (mut files, mut bytes_in) = (0i64, 0u64);
    let ctx_ref: &ZipCtx<'_> = ctx;
    let (_, bytes_out) = ctx_ref.write_file_from(&p.output, |sink| {
        let mut zw = ZipWriter::new(sink);
        let mut buf = vec![0u8; CHUNK];
        let (mut since_entries, mut since_bytes) = (0u64, 0u64);
        for (done, (name, entry)) in plan.entries.iter().enumerate() {
            ctx_ref.checkpoint()?;
            match entry {
                Planned::Dir { mode, modified } => {
                    let opts = base
                        .unix_permissions(*mode)
                        .last_modified_time(zip_time(*modified));
                    zw.add_directory(name.as_str(), opts)
                        .map_err(|e| zip_err(e, &shown))?;
                }
                Planned::Link { target, modified } => {
                    let opts = base.last_modified_time(zip_time(*modified));
                    zw.add_symlink(name.as_str(), target.as_str(), opts)
                        .map_err(|e| zip_err(e, &shown))?;
                }
                Planned::File {
                    path,
                    size,
                    mode,
                    modified,
                } => {
                    let opts = base
                        .unix_permissions(*mode)
                        .last_modified_time(zip_time(*modified))
                        .large_file(*size >= u64::from(u32::MAX));
                    let mut input = ctx_ref.open_read(&WsPath::from_spec(&path.display()))?;
                    zw.start_file(name.as_str(), opts)
                        .map_err(|e| zip_err(e, &shown))?;
                    loop {
                        let n = input.read(&mut buf).map_err(|e| {
                            CapError::execution(format!("cannot read `{}`: {e}", path.display()))
                        })?;
                        if n == 0 {
                            break;
                        }
                        zw.write_all(&buf[..n]).map_err(|e| {
                            CapError::execution(format!("cannot write the archive `{shown}`: {e}"))
                        })?;
                        bytes_in += n as u64;
                        since_bytes += n as u64;
                        if since_bytes >= PROGRESS_BYTES {
                            since_bytes = 0;
                            ctx_ref.checkpoint()?;
                            ctx_ref.progress(bytes_in, Some(total_bytes.max(bytes_in)), "packing");
                        }
                    }
                    files += 1;
                }
            }
            since_entries += 1;
            if since_entries >= PROGRESS_ENTRIES {
                since_entries = 0;
                ctx_ref.progress(done as u64 + 1, Some(total), "packing");
            }
        }
        let sink = zw.finish().map_err(|e| zip_err(e, &shown))?;
        sink.flush()
            .and_then(|_| sink.stream_position())
            .map_err(|e| CapError::execution(format!("cannot write the archive `{shown}`: {e}")))
    })?;
    ctx.progress(total, Some(total), "packed");
    // Overlapping sources meet the same entries twice.
    plan.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    plan.skipped.dedup_by(|a, b| a.path == b.path);
    Ok(ZipResult {
        archive: shown,
        files,
        bytes_in: bytes_in as i64,
        bytes_out: bytes_out as i64,
        skipped: plan.skipped,
    })
}

//! `io.fs.*` handlers. They act only through their context's filesystem powers.

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::powers::{EntryInfo, EntryKind, WriteMode};
use crate::stdlib::generated::io::fs::*;
use crate::types::WsPath;
use std::io::{BufRead, BufReader};

/// Most bytes `io.fs.read_file` returns in one call.
pub const READ_CAP: usize = 256 * 1024;

/// Bytes looked at to tell a binary file from text.
const SNIFF: usize = 8 * 1024;

/// `io.fs.read_file`.
pub fn read_file(ctx: &mut ReadFileCtx<'_>, p: ReadFileParams) -> Result<ReadFileResult, CapError> {
    let handle = ctx.open_read(&p.path)?;
    let size = handle.len();
    let offset = p.offset_line.unwrap_or(0) as u64;
    let limit = p.limit_lines.map(|l| l as u64);
    let mut reader = BufReader::with_capacity(64 * 1024, handle);
    let mut content: Vec<u8> = Vec::new();
    let mut line_no: u64 = 0;
    let mut returned: u64 = 0;
    let mut truncated = false;
    let mut next = None;
    let mut line = Vec::new();
    let mut sniffed = false;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| CapError::execution(format!("cannot read `{}`: {e}", p.path)))?;
        if n == 0 {
            break;
        }
        if !sniffed && line_no == 0 {
            sniffed = true;
            let head = &line[..line.len().min(SNIFF)];
            if head.contains(&0) {
                return Err(binary_error(&p.path));
            }
        }
        if line_no >= offset && !truncated {
            let over_limit = limit.is_some_and(|l| returned >= l);
            let over_cap = !content.is_empty() && content.len() + line.len() > READ_CAP;
            if over_limit || over_cap {
                truncated = true;
                next = Some(line_no as i64);
            } else {
                if line.contains(&0) {
                    return Err(binary_error(&p.path));
                }
                content.extend_from_slice(&line);
                returned += 1;
            }
        }
        line_no += 1;
        if line_no % 4096 == 0 {
            ctx.checkpoint()?;
        }
    }
    let content = String::from_utf8(content).map_err(|_| {
        CapError::execution(format!("`{}` is not valid UTF-8 text", p.path))
            .with_hint("airun reads text files only; this looks like a binary or differently encoded file")
    })?;
    Ok(ReadFileResult {
        content,
        size_bytes: size as i64,
        total_lines: line_no as i64,
        truncated,
        next_offset_line: next,
    })
}

fn binary_error(path: &WsPath) -> CapError {
    CapError::execution(format!("`{path}` is a binary file, not text"))
        .with_hint("airun reads text files only; io.fs.exists or io.fs.list_dir tell its size")
}

/// `io.fs.write_file`.
pub fn write_file(ctx: &mut WriteFileCtx<'_>, p: WriteFileParams) -> Result<WriteFileResult, CapError> {
    let mode = match p.mode {
        WriteFileMode::Overwrite => WriteMode::Overwrite,
        WriteFileMode::CreateNew => WriteMode::CreateNew,
        WriteFileMode::Append => WriteMode::Append,
    };
    let shown = ctx.resolve(&p.path, Access::Write)?.display();
    let outcome = ctx.write_file(&p.path, p.content.as_bytes(), mode, p.create_dirs)?;
    Ok(WriteFileResult {
        path: shown,
        bytes_written: p.content.len() as i64,
        created: outcome.created,
    })
}

fn rfc3339(t: Option<std::time::SystemTime>) -> Option<String> {
    t.and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn is_hidden(e: &EntryInfo) -> bool {
    e.path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn entry_kind(k: EntryKind) -> ListDirEntriesItemKind {
    match k {
        EntryKind::File => ListDirEntriesItemKind::File,
        EntryKind::Dir => ListDirEntriesItemKind::Dir,
        EntryKind::Symlink => ListDirEntriesItemKind::Symlink,
        EntryKind::Other => ListDirEntriesItemKind::Other,
    }
}

/// `io.fs.list_dir`.
pub fn list_dir(ctx: &mut ListDirCtx<'_>, p: ListDirParams) -> Result<ListDirResult, CapError> {
    let max = p.max_entries as usize;
    let mut out: Vec<EntryInfo> = Vec::new();
    let mut truncated = false;
    let mut stack: Vec<Vec<EntryInfo>> = vec![ctx.list(&p.path)?];
    'walk: while let Some(level) = stack.last_mut() {
        let Some(e) = (if level.is_empty() { None } else { Some(level.remove(0)) }) else {
            stack.pop();
            continue;
        };
        if !p.include_hidden && is_hidden(&e) {
            continue;
        }
        if out.len() >= max {
            truncated = true;
            break 'walk;
        }
        if p.recursive && e.kind == EntryKind::Dir {
            ctx.checkpoint()?;
            let children = ctx.list_entry(&e)?;
            out.push(e);
            stack.push(children);
        } else {
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.path.rel().cmp(b.path.rel()));
    Ok(ListDirResult {
        entries: out
            .into_iter()
            .map(|e| ListDirEntriesItem {
                path: e.display(),
                kind: entry_kind(e.kind),
                size: e.size as i64,
                modified: rfc3339(e.modified),
            })
            .collect(),
        truncated,
    })
}

/// `io.fs.make_dir`.
pub fn make_dir(ctx: &mut MakeDirCtx<'_>, p: MakeDirParams) -> Result<MakeDirResult, CapError> {
    let shown = ctx.resolve(&p.path, Access::Write)?.display();
    let created = if p.parents {
        !ctx.create_dir_all(&p.path)?.is_empty()
    } else {
        ctx.create_dir(&p.path)?
    };
    if !created && !p.exist_ok {
        return Err(CapError::new(ErrorKind::AlreadyExists, format!("the folder `{shown}` already exists"))
            .with_field("path")
            .with_hint("pass exist_ok: true to accept an existing folder"));
    }
    Ok(MakeDirResult { path: shown, created })
}

/// `io.fs.delete`.
pub fn delete(ctx: &mut DeleteCtx<'_>, p: DeleteParams) -> Result<DeleteResult, CapError> {
    let shown = ctx.resolve(&p.path, Access::Delete)?.display();
    let kind = ctx.remove(&p.path, p.recursive)?;
    Ok(DeleteResult {
        path: shown,
        deleted: true,
        kind: match kind {
            EntryKind::File => DeleteKind::File,
            EntryKind::Dir => DeleteKind::Dir,
            EntryKind::Symlink => DeleteKind::Symlink,
            EntryKind::Other => DeleteKind::Other,
        },
    })
}

/// `io.fs.exists`.
pub fn exists(ctx: &mut ExistsCtx<'_>, p: ExistsParams) -> Result<ExistsResult, CapError> {
    let info = ctx.stat(&p.path)?;
    Ok(ExistsResult {
        exists: info.is_some(),
        kind: info.map(|i| match i.kind {
            EntryKind::File => ExistsKind::File,
            EntryKind::Dir => ExistsKind::Dir,
            EntryKind::Symlink => ExistsKind::Symlink,
            EntryKind::Other => ExistsKind::Other,
        }),
    })
}

/// `io.fs.move`.
pub fn move_entry(ctx: &mut MoveCtx<'_>, p: MoveParams) -> Result<MoveResult, CapError> {
    let (src, dst) = ctx.rename(&p.source, &p.destination, p.overwrite)?;
    Ok(MoveResult {
        source: src.display(),
        destination: dst.display(),
        moved: true,
    })
}

/// `io.fs.copy`.
pub fn copy(ctx: &mut CopyCtx<'_>, p: CopyParams) -> Result<CopyResult, CapError> {
    let src = ctx.resolve(&p.source, Access::Read)?;
    let dst = ctx.resolve(&p.destination, Access::Write)?;
    let src_info = ctx
        .stat(&WsPath::from_spec(&src.display()))?
        .ok_or_else(|| CapError::new(ErrorKind::NotFound, format!("`{}` does not exist", p.source)).with_field("source"))?;
    if src_info.kind != EntryKind::Dir {
        let bytes = ctx.copy_file(&src, &dst, p.overwrite)?;
        return Ok(CopyResult {
            destination: dst.display(),
            files: 1,
            bytes: bytes as i64,
        });
    }
    if !p.recursive {
        return Err(CapError::execution(format!("`{}` is a folder", src.display()))
            .with_field("source")
            .with_hint("pass recursive: true to copy a folder with everything inside it"));
    }
    if dst.rel().starts_with(src.rel()) {
        return Err(CapError::execution(format!(
            "cannot copy `{}` into itself (`{}`)",
            src.display(),
            dst.display()
        )));
    }
    // Plan first: walk the whole source and refuse before anything is written.
    let mut plan: Vec<EntryInfo> = Vec::new();
    let mut stack = vec![src_info.clone()];
    while let Some(dir) = stack.pop() {
        ctx.checkpoint()?;
        for child in ctx.list_entry(&dir)? {
            if child.kind == EntryKind::Dir {
                stack.push(child.clone());
            }
            plan.push(child);
        }
    }
    let target_of = |e: &EntryInfo| {
        let rest = e.path.rel().strip_prefix(src.rel()).unwrap_or(e.path.rel()).to_path_buf();
        let joined = if dst.is_root() { rest } else { dst.rel().join(rest) };
        WsPath::from_spec(&joined.to_string_lossy())
    };
    let mut links = Vec::new();
    for e in &plan {
        if e.kind == EntryKind::Symlink {
            let target = ctx.read_link(&e.path)?;
            let to = ctx.resolve(&target_of(e), Access::Inspect)?;
            if !ctx.link_stays_inside(&e.path, &target) || !ctx.link_stays_inside(&to, &target) {
                return Err(CapError::new(
                    ErrorKind::DeniedSandbox,
                    format!(
                        "`{}` is a symbolic link to `{}`, outside the workspace; nothing was copied",
                        e.display(),
                        target.display()
                    ),
                )
                .with_hint("remove the link or copy the folders around it"));
            }
            links.push((e.path.clone(), target));
        }
    }
    match ctx.stat(&p.destination)? {
        Some(_) if !p.overwrite => {
            return Err(CapError::new(ErrorKind::AlreadyExists, format!("`{}` already exists", dst.display()))
                .with_field("destination")
                .with_hint("pass overwrite: true to copy over it"));
        }
        Some(info) if info.kind != EntryKind::Dir => {
            return Err(CapError::execution(format!("`{}` is a file; a folder cannot replace it", dst.display())));
        }
        Some(_) => {}
        None => {
            ctx.create_dir(&p.destination)?;
        }
    }
    plan.sort_by(|a, b| a.path.rel().cmp(b.path.rel()));
    let total = plan.len() as u64;
    let (mut files, mut bytes) = (0i64, 0i64);
    for (i, e) in plan.iter().enumerate() {
        ctx.checkpoint()?;
        let to_path = target_of(e);
        let to = ctx.resolve(&to_path, Access::Write)?;
        match e.kind {
            EntryKind::Dir => {
                ctx.create_dir(&to_path)?;
                ctx.set_mode(&to, e.mode)?;
            }
            EntryKind::File => {
                bytes += ctx.copy_file(&e.path, &to, p.overwrite)? as i64;
                files += 1;
            }
            EntryKind::Symlink => {
                let target = &links
                    .iter()
                    .find(|(from, _)| from == &e.path)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default();
                ctx.symlink(target, &to)?;
            }
            EntryKind::Other => {}
        }
        if i % 64 == 0 {
            ctx.progress(i as u64, Some(total), "copying");
        }
    }
    Ok(CopyResult {
        destination: dst.display(),
        files,
        bytes,
    })
}


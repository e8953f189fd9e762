//! `io.fs.*` handlers. They act only through their context's filesystem powers.

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::powers::{EntryInfo, EntryKind, WriteMode};
use crate::stdlib::generated::io::fs::*;
use crate::types::WsPath;

/// `io.fs.write_file`.
pub fn write_file(
    ctx: &mut WriteFileCtx<'_>,
    p: WriteFileParams,
) -> Result<WriteFileResult, CapError> {
    let mode = match p.mode {
        WriteFileMode::Overwrite => WriteMode::Overwrite,
        WriteFileMode::CreateNew => WriteMode::CreateNew,
        WriteFileMode::Append => WriteMode::Append,
    };
    let outcome = ctx.write_file(&p.path, p.content.as_bytes(), mode, p.create_dirs)?;
    Ok(WriteFileResult {
        path: outcome.path.display(),
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
        let Some(e) = (if level.is_empty() {
            None
        } else {
            Some(level.remove(0))
        }) else {
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
        return Err(CapError::new(
            ErrorKind::AlreadyExists,
            format!("the folder `{shown}` already exists"),
        )
        .with_field("path")
        .with_hint("pass exist_ok: true to accept an existing folder"));
    }
    Ok(MakeDirResult {
        path: shown,
        created,
    })
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
        .ok_or_else(|| {
            CapError::new(
                ErrorKind::NotFound,
                format!("`{}` does not exist", p.source),
            )
            .with_field("source")
        })?;
    if src_info.kind != EntryKind::Dir {
        let bytes = ctx.copy_file(&src, &dst, p.overwrite)?;
        return Ok(CopyResult {
            destination: dst.display(),
            files: 1,
            bytes: bytes as i64,
        });
    }
    if !p.recursive {
        return Err(
            CapError::execution(format!("`{}` is a folder", src.display()))
                .with_field("source")
                .with_hint("pass recursive: true to copy a folder with everything inside it"),
        );
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
        let rest = e
            .path
            .rel()
            .strip_prefix(src.rel())
            .unwrap_or(e.path.rel())
            .to_path_buf();
        let joined = if dst.is_root() {
            rest
        } else {
            dst.rel().join(rest)
        };
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
    let mut dir_modes = Vec::new();
    match ctx.stat(&p.destination)? {
        Some(_) if !p.overwrite => {
            return Err(CapError::new(
                ErrorKind::AlreadyExists,
                format!("`{}` already exists", dst.display()),
            )
            .with_field("destination")
            .with_hint("pass overwrite: true to copy over it"));
        }
        Some(info) if info.kind != EntryKind::Dir => {
            return Err(CapError::execution(format!(
                "`{}` is a file; a folder cannot replace it",
                dst.display()
            )));
        }
        Some(_) => {}
        None => {
            ctx.create_dir(&p.destination)?;
            dir_modes.push((dst.clone(), src_info.mode));
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
                dir_modes.push((to, e.mode));
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
    // Folder permissions last, deepest first, so a read-only folder still gets its content.
    for (to, mode) in dir_modes.iter().rev() {
        ctx.set_mode(to, *mode)?;
    }
    Ok(CopyResult {
        destination: dst.display(),
        files,
        bytes,
    })
}

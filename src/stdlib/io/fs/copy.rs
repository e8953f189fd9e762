//! `io.fs.copy`.

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::powers::{EntryInfo, EntryKind};
use crate::stdlib::generated::io::fs::{CopyCtx, CopyParams, CopyResult};
use crate::types::WsPath;

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

//! Staged writes (write power): stream content into a hidden temporary sibling of a file,
//! then make it visible under its name in one rename, or throw it away. A capability that
//! writes many files (extracting an archive) stages them all first, so a failure part-way
//! leaves nothing behind.

use super::{Ctx, FsWrite, atomic_beside, io_err, lstat, refuse_hard_links, ws};
use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::fsutil::Publish;
use crate::fsutil::atomic::publish;
use crate::sandbox::Resolved;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// A file written beside its final path and not yet visible under its name. Commit it
/// with [`Ctx::commit_staged`] or remove it with [`Ctx::discard_staged`].
#[derive(Debug)]
#[must_use = "a staged file stays on disk until it is committed or discarded"]
pub struct StagedFile {
    tmp: PathBuf,
    target: Resolved,
}

impl StagedFile {
    /// The path it will have once committed.
    pub fn target(&self) -> &Resolved {
        &self.target
    }
}

/// Filesystem write power: staged writes.
impl<P> Ctx<'_, P> {
    /// Streams `src` into a new temporary sibling of `target` with permission bits `mode`
    /// (set-id and sticky bits are dropped), synced to disk unless the journal keeps it.
    /// The parent folder must exist.
    /// Errors of `src` come back as they are, so a reader that enforces a limit can say why.
    pub fn stage_file(
        &self,
        target: &Resolved,
        src: &mut dyn Read,
        mode: u32,
    ) -> Result<(StagedFile, u64), CapError>
    where
        P: FsWrite,
    {
        let w = ws(self);
        w.recheck(target, Access::Write)?;
        if target.is_root() {
            return Err(CapError::execution(
                "the workspace root is a folder, not a file",
            ));
        }
        let mut temp = atomic_beside(w.dir(), target, "writing")?;
        let sync = self.sync_writes();
        let mut buf = vec![0u8; 64 * 1024];
        let mut written: u64 = 0;
        let mut src_error: Option<io::Error> = None;
        let res: io::Result<()> = (|| {
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let shown = io::Error::new(e.kind(), e.to_string());
                        src_error = Some(e);
                        return Err(shown);
                    }
                };
                temp.file().write_all(&buf[..n])?;
                written += n as u64;
            }
            temp.finish_with(mode & 0o777, sync)
        })();
        if let Err(e) = res {
            // Dropping the temporary file removes it.
            return Err(match src_error {
                Some(src) => CapError::execution(src.to_string()),
                None => io_err(e, target.rel(), "writing"),
            });
        }
        let tmp = temp.keep();
        Ok((
            StagedFile {
                tmp,
                target: target.clone(),
            },
            written,
        ))
    }

    /// Makes a staged file visible under its name: replacing an existing file only when
    /// `overwrite` (never a folder, never a hard-linked file).
    pub fn commit_staged(&self, staged: StagedFile, overwrite: bool) -> Result<(), CapError>
    where
        P: FsWrite,
    {
        let w = ws(self);
        let dir = w.dir();
        let target = &staged.target;
        let res = (|| {
            w.recheck(target, Access::Write)?;
            self.before_change()?;
            if let Some(m) = lstat(dir, target)? {
                if !overwrite {
                    return Err(CapError::new(
                        ErrorKind::AlreadyExists,
                        format!("`{}` already exists", target.display()),
                    )
                    .with_hint("pass overwrite: true to replace it"));
                }
                if m.is_dir() {
                    return Err(CapError::execution(format!(
                        "`{}` is a folder; a file cannot replace it",
                        target.display()
                    )));
                }
                refuse_hard_links(&m, target)?;
                publish(dir, &staged.tmp, target.rel(), Publish::Replace)
                    .map_err(|e| io_err(e, target.rel(), "writing"))
            } else {
                // Without overwrite, a file that appeared meanwhile is never replaced.
                publish(dir, &staged.tmp, target.rel(), Publish::CreateNew)
                    .map_err(|e| io_err(e, target.rel(), "writing"))
            }
        })();
        if res.is_err() {
            let _ = dir.remove_file(&staged.tmp);
        }
        res
    }

    /// Removes a folder if it is empty (to take back a folder this call created); does
    /// nothing otherwise.
    pub fn remove_empty_dir(&self, r: &Resolved)
    where
        P: FsWrite,
    {
        if r.is_root() || ws(self).recheck(r, Access::Write).is_err() {
            return;
        }
        let _ = ws(self).dir().remove_dir(r.rel());
    }

    /// Removes a staged file that will not be committed.
    pub fn discard_staged(&self, staged: StagedFile)
    where
        P: FsWrite,
    {
        let _ = ws(self).dir().remove_file(&staged.tmp);
    }
}

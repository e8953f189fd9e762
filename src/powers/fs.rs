//! Filesystem powers: read, write and delete, each on contexts that declare it.
//!
//! Every method resolves its path through the sandbox again at the moment of use and then
//! acts through the workspace's root handle.

use super::{Ctx, FsDelete, FsRead, FsWrite};
use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::fsutil::{AtomicFile, Publish, TempKind};
use crate::sandbox::{Climb, Resolved, Workspace, stays_beneath};
use crate::types::WsPath;
use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions, OpenOptionsExt};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

mod open;
mod stage;
mod walk;

pub use open::{HardLinked, is_not_regular, open_regular};

pub use stage::StagedFile;
pub use walk::{WalkEntry, WalkFlow, WalkOptions, WalkStats};

/// The kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (socket, device, fifo).
    Other,
}

impl EntryKind {
    /// `file`, `dir`, `symlink` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        }
    }

    fn of(meta: &Metadata) -> EntryKind {
        EntryKind::of_type(meta.file_type())
    }

    /// The kind of a file type (a symlink is not followed).
    pub(crate) fn of_type(ft: cap_std::fs::FileType) -> EntryKind {
        if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }
}

/// What is known about one entry (never following a final symlink).
#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// Workspace-relative path.
    pub path: Resolved,
    /// The kind.
    pub kind: EntryKind,
    /// Size in bytes (of the link itself for symlinks).
    pub size: u64,
    /// Last modification time, when the system reports it.
    pub modified: Option<SystemTime>,
    /// Unix permission bits.
    pub mode: u32,
}

impl EntryInfo {
    fn from_meta(path: Resolved, meta: &Metadata) -> Self {
        EntryInfo {
            path,
            kind: EntryKind::of(meta),
            size: meta.len(),
            modified: meta.modified().ok().map(|t| t.into_std()),
            mode: meta.mode() & 0o7777,
        }
    }

    /// The workspace-relative path as text.
    pub fn display(&self) -> String {
        self.path.display()
    }
}

/// A file opened for reading inside the workspace.
#[derive(Debug)]
pub struct ReadHandle {
    file: cap_std::fs::File,
    len: u64,
    /// When set, reads fail once this instant has passed (a search stops reading a huge
    /// file at the call's time limit, not at its end).
    deadline: Option<std::time::Instant>,
}

impl ReadHandle {
    /// The file's size when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for ReadHandle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the call ran past its time limit",
            ));
        }
        self.file.read(buf)
    }
}

impl Seek for ReadHandle {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// The file [`Ctx::write_file_from`] hands its writer: a fresh temporary file next to the
/// target, which replaces the target only when the writer succeeds.
#[derive(Debug)]
pub struct WriteSink<'a> {
    file: &'a mut cap_std::fs::File,
}

impl Write for WriteSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for WriteSink<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// How [`Ctx::write_file`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace it atomically.
    Overwrite,
    /// Fail if it exists.
    CreateNew,
    /// Add to its end.
    Append,
}

/// The result of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The file written, as the sandbox resolved it.
    pub path: Resolved,
    /// The file did not exist before.
    pub created: bool,
}

/// Maps an I/O error on `path` to a clear capability error.
pub(crate) fn io_err(e: io::Error, path: &Path, doing: &str) -> CapError {
    let shown = path.display();
    if is_not_regular(&e) {
        return CapError::execution(format!(
            "`{shown}` is not a regular file (a FIFO, socket or device)"
        ))
        .with_hint("airun reads and writes regular files only");
    }
    if let Some(HardLinked(n)) = e.get_ref().and_then(|i| i.downcast_ref::<HardLinked>()) {
        return CapError::new(
            ErrorKind::DeniedSandbox,
            format!(
                "`{shown}` has {n} hard links; writing it would also change the other links, which may be outside the workspace"
            ),
        )
        .with_hint("write to a new file instead");
    }
    // cap-std reports an escape attempt as PermissionDenied: say what it is.
    if e.to_string().contains("outside of the filesystem") {
        return CapError::new(
            ErrorKind::DeniedSandbox,
            format!("`{shown}` leads outside the workspace"),
        )
        .with_hint("symlinks may point only inside the workspace");
    }
    match e.kind() {
        io::ErrorKind::NotFound => {
            CapError::new(ErrorKind::NotFound, format!("`{shown}` does not exist"))
                .with_hint("check the path; io.fs.list_dir shows what is there")
        }
        io::ErrorKind::AlreadyExists => CapError::new(
            ErrorKind::AlreadyExists,
            format!("`{shown}` already exists"),
        ),
        io::ErrorKind::PermissionDenied => {
            CapError::execution(format!("permission denied while {doing} `{shown}`"))
        }
        io::ErrorKind::IsADirectory => CapError::execution(format!("`{shown}` is a folder")),
        io::ErrorKind::NotADirectory => {
            CapError::execution(format!("a part of `{shown}` is not a folder"))
        }
        io::ErrorKind::DirectoryNotEmpty => {
            CapError::execution(format!("`{shown}` is a folder that is not empty"))
        }
        _ => CapError::execution(format!("error while {doing} `{shown}`: {e}")),
    }
}

/// The error for a FIFO, socket or device where a regular file is needed.
fn not_regular(r: &Resolved) -> CapError {
    CapError::execution(format!(
        "`{}` is not a regular file (a FIFO, socket or device)",
        r.display()
    ))
    .with_hint("airun reads and writes regular files only")
}

fn lstat(dir: &Dir, r: &Resolved) -> Result<Option<Metadata>, CapError> {
    match dir.symlink_metadata(r.rel()) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(e, r.rel(), "inspecting")),
    }
}

/// A fresh temporary sibling of `target` for an atomic write.
fn atomic_beside<'d>(
    dir: &'d Dir,
    target: &Resolved,
    doing: &str,
) -> Result<AtomicFile<'d>, CapError> {
    AtomicFile::beside(dir, target.rel(), TempKind::Write)
        .map_err(|e| io_err(e, target.rel(), doing))
}

/// A fresh temporary sibling of `target` that `fill` wrote, with `mode`, synced to disk
/// when `sync` is set.
fn filled<'d>(
    dir: &'d Dir,
    target: &Resolved,
    mode: u32,
    sync: bool,
    fill: impl FnOnce(&mut cap_std::fs::File) -> io::Result<()>,
) -> Result<AtomicFile<'d>, CapError> {
    let mut f = atomic_beside(dir, target, "writing")?;
    fill(f.file())
        .and_then(|_| f.finish_with(mode, sync))
        .map_err(|e| io_err(e, target.rel(), "writing"))?;
    Ok(f)
}

/// Copies `target` (when it exists) and then `data` into a fresh temporary sibling with
/// the target's permissions, synced to disk when `sync` is set. The target is opened
/// without following a link and must be a regular file with one link (checked on the
/// handle).
fn append_temp<'d>(
    dir: &'d Dir,
    target: &Resolved,
    data: &[u8],
    sync: bool,
) -> Result<AtomicFile<'d>, CapError> {
    let source = match open_regular(dir, target.rel(), false) {
        Ok((file, meta)) => {
            refuse_hard_links(&meta, target)?;
            Some((file, meta.mode() & 0o7777))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(e, target.rel(), "writing")),
    };
    let mode = source.as_ref().map_or(0o644, |(_, m)| *m);
    filled(dir, target, mode, sync, |f| {
        if let Some((mut old, _)) = source {
            std::io::copy(&mut old, f)?;
        }
        f.write_all(data)
    })
}

/// What is at a path about to be written: nothing, or a regular file with one link.
/// A folder, a special file or a hard-linked file is refused.
fn existing_file_to_replace(dir: &Dir, r: &Resolved) -> Result<Option<Metadata>, CapError> {
    let existing = lstat(dir, r)?;
    if let Some(m) = &existing {
        if m.is_dir() {
            return Err(CapError::execution(format!(
                "`{}` is a folder, not a file",
                r.display()
            )));
        }
        if !m.is_file() {
            return Err(not_regular(r));
        }
        refuse_hard_links(m, r)?;
    }
    Ok(existing)
}

fn refuse_hard_links(meta: &Metadata, r: &Resolved) -> Result<(), CapError> {
    if meta.is_file() && meta.nlink() > 1 {
        return Err(CapError::new(
            ErrorKind::DeniedSandbox,
            format!(
                "`{}` has {} hard links; writing it would also change the other links, which may be outside the workspace",
                r.display(),
                meta.nlink()
            ),
        )
        .with_hint("write to a new file instead"));
    }
    Ok(())
}

/// Refuses reading a file with other hard links when the operator's `fs.hardlinks` is
/// `refuse_all` (such a file may be the same file as one outside the workspace).
pub(crate) fn refuse_read_hard_links(
    policy: crate::settings::HardLinks,
    meta: &Metadata,
    shown: &Path,
) -> Result<(), CapError> {
    if policy == crate::settings::HardLinks::RefuseAll && meta.is_file() && meta.nlink() > 1 {
        return Err(CapError::new(
            ErrorKind::DeniedSandbox,
            format!(
                "`{}` has {} hard links, so it may be a file outside the workspace; the operator's policy (fs.hardlinks = \"refuse_all\") refuses reading it",
                shown.display(),
                meta.nlink()
            ),
        )
        .with_hint("read another file; the operator decides fs.hardlinks"));
    }
    Ok(())
}

fn ws<'a, P>(ctx: &Ctx<'a, P>) -> &'a Workspace {
    ctx.env.workspace
}

impl<P> Ctx<'_, P> {
    fn fs_resolve(&self, p: &WsPath, access: Access) -> Result<Resolved, CapError> {
        if let Some((_, _, r)) = self
            .env
            .resolved
            .iter()
            .find(|(q, a, _)| *a == access && q == p)
        {
            return Ok(r.clone());
        }
        ws(self).resolve(p, access)
    }

    fn walk_children(&self, dir_path: &Resolved) -> Result<Vec<EntryInfo>, CapError> {
        let w = ws(self);
        let rd = w
            .dir()
            .read_dir(dir_path.rel())
            .map_err(|e| io_err(e, dir_path.rel(), "listing"))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_err(e, dir_path.rel(), "listing"))?;
            let rel = if dir_path.is_root() {
                PathBuf::from(entry.file_name())
            } else {
                dir_path.rel().join(entry.file_name())
            };
            if w.protected().is_hidden(&rel) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e, &rel, "inspecting")),
            };
            out.push(EntryInfo::from_meta(dir_path.with_rel(rel), &meta));
        }
        out.sort_by(|a, b| a.path.rel().cmp(b.path.rel()));
        Ok(out)
    }
}

/// Filesystem read power.
impl<P> Ctx<'_, P> {
    /// Resolves a path for an access, or says why the sandbox refuses it.
    pub fn resolve(&self, p: &WsPath, access: Access) -> Result<Resolved, CapError>
    where
        P: FsRead,
    {
        self.fs_resolve(p, access)
    }

    /// Looks at an entry without following a final symlink; `None` when it does not exist.
    pub fn stat(&self, p: &WsPath) -> Result<Option<EntryInfo>, CapError>
    where
        P: FsRead,
    {
        let r = self.fs_resolve(p, Access::Inspect)?;
        Ok(lstat(ws(self).dir(), &r)?.map(|m| EntryInfo::from_meta(r, &m)))
    }

    /// Opens a file for reading (symlinks inside the workspace are followed).
    pub fn open_read(&self, p: &WsPath) -> Result<ReadHandle, CapError>
    where
        P: FsRead,
    {
        let r = self.fs_resolve(p, Access::Read)?;
        let dir = ws(self).dir();
        let meta = dir
            .metadata(r.rel())
            .map_err(|e| io_err(e, r.rel(), "reading"))?;
        if meta.is_dir() {
            return Err(
                CapError::execution(format!("`{}` is a folder, not a file", r.display()))
                    .with_hint("use io.fs.list_dir to see what is in a folder"),
            );
        }
        if !meta.is_file() {
            // Opening a FIFO would block; a device could be endless.
            return Err(not_regular(&r));
        }
        // The checks above are for the messages; the handle is what counts (the file may
        // have been swapped meanwhile).
        let (file, meta) =
            open_regular(dir, r.rel(), true).map_err(|e| io_err(e, r.rel(), "reading"))?;
        refuse_read_hard_links(self.env.settings.fs.hardlinks, &meta, r.rel())?;
        Ok(ReadHandle {
            file,
            len: meta.len(),
            deadline: None,
        })
    }

    /// Lists a folder's entries, sorted by name.
    pub fn list(&self, p: &WsPath) -> Result<Vec<EntryInfo>, CapError>
    where
        P: FsRead,
    {
        let r = self.fs_resolve(p, Access::Read)?;
        let meta = ws(self)
            .dir()
            .metadata(r.rel())
            .map_err(|e| io_err(e, r.rel(), "listing"))?;
        if !meta.is_dir() {
            return Err(
                CapError::execution(format!("`{}` is not a folder", r.display()))
                    .with_hint("use io.fs.read_file to read a file"),
            );
        }
        self.walk_children(&r)
    }

    /// Lists the entries of a folder found while walking (no symlink is followed).
    pub fn list_entry(&self, dir_entry: &EntryInfo) -> Result<Vec<EntryInfo>, CapError>
    where
        P: FsRead,
    {
        if dir_entry.kind != EntryKind::Dir {
            return Ok(Vec::new());
        }
        ws(self).recheck(&dir_entry.path, Access::Read)?;
        self.walk_children(&dir_entry.path)
    }

    /// The target of a symbolic link, as stored in the link.
    pub fn read_link(&self, p: &Resolved) -> Result<PathBuf, CapError>
    where
        P: FsRead,
    {
        ws(self)
            .dir()
            .read_link_contents(p.rel())
            .map_err(|e| io_err(e, p.rel(), "reading the link"))
    }

    /// True when a link at `link` with this target would stay inside the workspace. A
    /// target with `..` after a name (`x/y/..`) is refused: it climbs from wherever `x/y`
    /// leads, which a later link could make anywhere.
    pub fn link_stays_inside(&self, link: &Resolved, target: &Path) -> bool
    where
        P: FsRead,
    {
        if !stays_beneath(link.parent().depth(), target, Climb::LeadingOnly) {
            return false;
        }
        let p = link.parent().rel().join(target);
        let p = if link.parent().is_root() {
            target.to_path_buf()
        } else {
            p
        };
        match p.to_str() {
            Some(s) => {
                ws(self)
                    .resolve(&WsPath::from_spec(s), Access::Inspect)
                    .is_ok()
                    && !target.is_absolute()
            }
            None => false,
        }
    }
}

/// Filesystem write power.
impl<P> Ctx<'_, P> {
    /// Writes a file: atomically (temporary sibling + rename) for overwrite and create-new,
    /// in place for append. Keeps an existing file's permissions.
    pub fn write_file(
        &self,
        p: &WsPath,
        data: &[u8],
        mode: WriteMode,
        create_dirs: bool,
    ) -> Result<WriteOutcome, CapError>
    where
        P: FsWrite,
    {
        let r = self.file_to_write(
            p,
            create_dirs,
            "pass create_dirs: true to create missing folders",
        )?;
        let dir = ws(self).dir();
        let existing = existing_file_to_replace(dir, &r)?;
        let sync = self.sync_writes();
        let (temp, how) = match mode {
            // Never written in place: the old content and the new bytes go to a fresh
            // temporary sibling that replaces the file. A file swapped at any moment for
            // a hard link to an outside file is then only read, never changed (a check of
            // the handle's link count cannot close that race: the link can be removed and
            // made again between any two checks).
            WriteMode::Append => (append_temp(dir, &r, data, sync)?, Publish::Replace),
            WriteMode::Overwrite => {
                let perm = existing
                    .as_ref()
                    .map(|m| m.mode() & 0o7777)
                    .unwrap_or(0o644);
                let temp = filled(dir, &r, perm, sync, |f| f.write_all(data))?;
                (temp, Publish::Replace)
            }
            WriteMode::CreateNew => {
                if existing.is_some() {
                    return Err(CapError::new(
                        ErrorKind::AlreadyExists,
                        format!("`{}` already exists", r.display()),
                    )
                    .with_hint("use mode overwrite to replace it, or append to add to it"));
                }
                let temp = filled(dir, &r, 0o644, sync, |f| f.write_all(data))?;
                (temp, Publish::CreateNew)
            }
        };
        let doing = match how {
            Publish::Replace => {
                crate::failpoint::crash_point!("fs_before_rename");
                "writing"
            }
            Publish::CreateNew => "creating",
        };
        self.before_change()?;
        temp.commit(r.rel(), how)
            .map_err(|e| io_err(e, r.rel(), doing))?;
        Ok(WriteOutcome {
            created: existing.is_none(),
            path: r,
        })
    }

    /// Writes a file from a stream, atomically: `fill` writes into a fresh temporary
    /// sibling of `p`, which replaces `p` only when `fill` returns `Ok` (on an error or a
    /// cancelled call the temporary file is removed and `p` is untouched). An existing
    /// file keeps its permissions; a folder, a special file or a hard-linked file is
    /// refused. The parent folder must exist. Returns the outcome and `fill`'s value.
    pub fn write_file_from<T>(
        &self,
        p: &WsPath,
        fill: impl FnOnce(&mut WriteSink<'_>) -> Result<T, CapError>,
    ) -> Result<(WriteOutcome, T), CapError>
    where
        P: FsWrite,
    {
        let r = self.file_to_write(p, false, "create it first with io.fs.make_dir")?;
        let dir = ws(self).dir();
        let existing = existing_file_to_replace(dir, &r)?;
        let mode = existing
            .as_ref()
            .map(|m| m.mode() & 0o7777)
            .unwrap_or(0o644);
        let mut temp = atomic_beside(dir, &r, "writing")?;
        // On an error the temporary file is dropped, which removes it.
        let value = fill(&mut WriteSink { file: temp.file() })?;
        temp.file()
            .flush()
            .and_then(|_| temp.finish_with(mode, self.sync_writes()))
            .map_err(|e| io_err(e, r.rel(), "writing"))?;
        self.before_change()?;
        temp.commit(r.rel(), Publish::Replace)
            .map_err(|e| io_err(e, r.rel(), "writing"))?;
        Ok((
            WriteOutcome {
                created: existing.is_none(),
                path: r,
            },
            value,
        ))
    }

    /// Resolves a file about to be written: never the workspace root; its folder must
    /// exist (`missing` says what to do when it does not), or is created (with any missing
    /// parents) when `create_dirs` is set.
    fn file_to_write(
        &self,
        p: &WsPath,
        create_dirs: bool,
        missing: &str,
    ) -> Result<Resolved, CapError>
    where
        P: FsWrite,
    {
        let r = self.fs_resolve(p, Access::Write)?;
        if r.is_root() {
            return Err(CapError::execution(
                "the workspace root is a folder, not a file",
            ));
        }
        let dir = ws(self).dir();
        let parent = r.parent();
        if create_dirs && !parent.is_root() {
            ws(self).recheck(&parent, Access::Write)?;
            if lstat(dir, &parent)?.is_none() {
                self.before_change()?;
                dir.create_dir_all(parent.rel())
                    .map_err(|e| io_err(e, parent.rel(), "creating"))?;
            }
        } else if !parent.is_root() && lstat(dir, &parent)?.is_none() {
            return Err(CapError::new(
                ErrorKind::NotFound,
                format!("the folder `{}` does not exist", parent.display()),
            )
            .with_hint(missing));
        }
        Ok(r)
    }

    /// Creates one folder; `Ok(false)` when it already exists as a folder.
    pub fn create_dir(&self, p: &WsPath) -> Result<bool, CapError>
    where
        P: FsWrite,
    {
        let r = self.fs_resolve(p, Access::Write)?;
        self.create_dir_resolved(&r)
    }

    fn create_dir_resolved(&self, r: &Resolved) -> Result<bool, CapError>
    where
        P: FsWrite,
    {
        let dir = ws(self).dir();
        self.before_change()?;
        match dir.create_dir(r.rel()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match lstat(dir, r)? {
                Some(m) if m.is_dir() => Ok(false),
                _ => Err(CapError::new(
                    ErrorKind::AlreadyExists,
                    format!("`{}` exists and is not a folder", r.display()),
                )),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CapError::new(
                ErrorKind::NotFound,
                format!("the parent folder of `{}` does not exist", r.display()),
            )
            .with_hint("pass parents: true to create missing parent folders")),
            Err(e) => Err(io_err(e, r.rel(), "creating")),
        }
    }

    /// Creates a folder and any missing parents; returns the folders it created, outermost
    /// first.
    pub fn create_dir_all(&self, p: &WsPath) -> Result<Vec<Resolved>, CapError>
    where
        P: FsWrite,
    {
        let r = self.fs_resolve(p, Access::Write)?;
        let mut chain = Vec::new();
        let mut cur = r.clone();
        while !cur.is_root() {
            chain.push(cur.clone());
            cur = cur.parent();
        }
        chain.reverse();
        let mut created = Vec::new();
        for c in chain {
            ws(self).recheck(&c, Access::Write)?;
            if self.create_dir_resolved(&c)? {
                created.push(c);
            }
        }
        Ok(created)
    }

    /// Copies one regular file atomically, keeping its permissions; returns the bytes copied.
    pub fn copy_file(
        &self,
        from: &Resolved,
        to: &Resolved,
        overwrite: bool,
    ) -> Result<u64, CapError>
    where
        P: FsWrite,
    {
        let w = ws(self);
        w.recheck(from, Access::Read)?;
        w.recheck(to, Access::Write)?;
        let dir = w.dir();
        if let Some(m) = lstat(dir, to)? {
            if !overwrite {
                return Err(CapError::new(
                    ErrorKind::AlreadyExists,
                    format!("`{}` already exists", to.display()),
                )
                .with_hint("pass overwrite: true to replace it"));
            }
            if m.is_dir() {
                return Err(CapError::execution(format!(
                    "`{}` is a folder; it cannot be replaced by a file",
                    to.display()
                )));
            }
            refuse_hard_links(&m, to)?;
        }
        let (mut src, meta) =
            open_regular(dir, from.rel(), false).map_err(|e| io_err(e, from.rel(), "copying"))?;
        refuse_read_hard_links(self.env.settings.fs.hardlinks, &meta, from.rel())?;
        let mut dst = atomic_beside(dir, to, "copying")?;
        let res = (|| {
            let n = io::copy(&mut src, dst.file())?;
            dst.finish_with(meta.mode() & 0o7777, self.sync_writes())?;
            Ok(n)
        })();
        let n = res.map_err(|e| io_err(e, to.rel(), "copying"))?;
        self.before_change()?;
        dst.commit(to.rel(), Publish::Replace)
            .map_err(|e| io_err(e, to.rel(), "copying"))?;
        Ok(n)
    }

    /// Creates a symbolic link at `link` whose stored target is `target`; refused when the
    /// target would lead outside the workspace.
    pub fn symlink(&self, target: &Path, link: &Resolved) -> Result<(), CapError>
    where
        P: FsWrite,
    {
        ws(self).recheck(link, Access::Write)?;
        if !self.link_stays_inside(link, target) {
            return Err(CapError::new(
                ErrorKind::DeniedSandbox,
                format!(
                    "a link at `{}` to `{}` would point outside the workspace",
                    link.display(),
                    target.display()
                ),
            ));
        }
        self.before_change()?;
        ws(self)
            .dir()
            .symlink_contents(target, link.rel())
            .map_err(|e| io_err(e, link.rel(), "creating the link"))
    }

    /// Sets Unix permission bits, on what the opened handle is: never through a symlink,
    /// and never on a file with other hard links (that would change an outside file's
    /// mode too).
    pub fn set_mode(&self, p: &Resolved, mode: u32) -> Result<(), CapError>
    where
        P: FsWrite,
    {
        ws(self).recheck(p, Access::Write)?;
        let mut opts = OpenOptions::new();
        opts.read(true)
            .custom_flags((rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW).bits() as i32);
        let handle = ws(self)
            .dir()
            .open_with(p.rel(), &opts)
            .map_err(|e| io_err(e, p.rel(), "setting permissions on"))?;
        let meta = handle
            .metadata()
            .map_err(|e| io_err(e, p.rel(), "setting permissions on"))?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        refuse_hard_links(&meta, p)?;
        // The same file must still sit at the path (a hard link to an outside file,
        // opened and then removed, would show one link).
        open::still_named(ws(self).dir(), p.rel(), &meta)
            .map_err(|e| io_err(e, p.rel(), "setting permissions on"))?;
        self.before_change()?;
        // An O_PATH handle cannot be fchmod'ed; its /proc/self/fd entry can (and names
        // exactly the opened inode).
        let fd = std::os::fd::AsRawFd::as_raw_fd(&handle);
        rustix::fs::chmod(
            format!("/proc/self/fd/{fd}").as_str(),
            rustix::fs::Mode::from_raw_mode(mode & 0o7777),
        )
        .map_err(|e| io_err(e.into(), p.rel(), "setting permissions on"))
    }

    /// Resolves a path for an access, keeping workspace checks (for writes found by walking).
    pub fn child(&self, parent: &Resolved, name: &std::ffi::OsStr) -> Resolved
    where
        P: FsWrite,
    {
        parent.with_rel(if parent.is_root() {
            PathBuf::from(name)
        } else {
            parent.rel().join(name)
        })
    }
}

/// Filesystem delete power.
impl<P> Ctx<'_, P> {
    /// Removes a file, a symlink (not its target) or a folder (`recursive` for a non-empty
    /// one, reporting progress and stopping at the time limit). Returns what was removed.
    pub fn remove(&self, p: &WsPath, recursive: bool) -> Result<EntryKind, CapError>
    where
        P: FsDelete,
    {
        let r = self.fs_resolve(p, Access::Delete)?;
        if r.is_root() {
            return Err(CapError::new(
                ErrorKind::DeniedSandbox,
                "the workspace root itself cannot be deleted",
            )
            .with_hint("delete the entries inside it instead"));
        }
        let dir = ws(self).dir();
        let meta = lstat(dir, &r)?.ok_or_else(|| {
            CapError::new(
                ErrorKind::NotFound,
                format!("`{}` does not exist", r.display()),
            )
        })?;
        let kind = EntryKind::of(&meta);
        self.before_change()?;
        if kind != EntryKind::Dir {
            dir.remove_file(r.rel())
                .map_err(|e| io_err(e, r.rel(), "deleting"))?;
            return Ok(kind);
        }
        if !recursive {
            return match dir.remove_dir(r.rel()) {
                Ok(()) => Ok(kind),
                Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Err(CapError::execution(
                    format!("`{}` is a folder that is not empty", r.display()),
                )
                .with_hint("pass recursive: true to delete it with everything inside")),
                Err(e) => Err(io_err(e, r.rel(), "deleting")),
            };
        }
        let mut removed = 0;
        self.remove_tree(&r, &mut removed)?;
        Ok(kind)
    }

    fn remove_tree(&self, r: &Resolved, removed: &mut u64) -> Result<(), CapError>
    where
        P: FsDelete,
    {
        let dir = ws(self).dir();
        for child in self.walk_children(r)? {
            self.checkpoint()?;
            ws(self).recheck(&child.path, Access::Delete)?;
            if child.kind == EntryKind::Dir {
                self.remove_tree(&child.path, removed)?;
            } else {
                dir.remove_file(child.path.rel())
                    .map_err(|e| io_err(e, child.path.rel(), "deleting"))?;
                *removed += 1;
                crate::failpoint::crash_point!("fs_delete_midway");
                if removed.is_multiple_of(256) {
                    self.progress(*removed, None, "deleting");
                }
            }
        }
        dir.remove_dir(r.rel())
            .map_err(|e| io_err(e, r.rel(), "deleting"))
    }
}

/// Moving needs both write and delete.
impl<P> Ctx<'_, P> {
    /// Renames `from` to `to` (a symlink is moved as a link). Refuses to replace an existing
    /// `to` unless `overwrite`; never replaces a folder with a file or the reverse.
    pub fn rename(
        &self,
        from: &WsPath,
        to: &WsPath,
        overwrite: bool,
    ) -> Result<(Resolved, Resolved), CapError>
    where
        P: FsWrite + FsDelete,
    {
        let w = ws(self);
        let src = self.fs_resolve(from, Access::Delete)?;
        let dst = self.fs_resolve(to, Access::Delete)?;
        w.recheck(&dst, Access::Write)?;
        if src.is_root() || dst.is_root() {
            return Err(CapError::new(
                ErrorKind::DeniedSandbox,
                "the workspace root cannot be moved or replaced",
            ));
        }
        if dst.rel().starts_with(src.rel()) {
            return Err(CapError::execution(format!(
                "cannot move `{}` into itself (`{}`)",
                src.display(),
                dst.display()
            )));
        }
        let dir = w.dir();
        let sm = lstat(dir, &src)?.ok_or_else(|| {
            CapError::new(
                ErrorKind::NotFound,
                format!("`{}` does not exist", src.display()),
            )
        })?;
        if let Some(dm) = lstat(dir, &dst)? {
            if !overwrite {
                return Err(CapError::new(
                    ErrorKind::AlreadyExists,
                    format!("`{}` already exists", dst.display()),
                )
                .with_hint("pass overwrite: true to replace it"));
            }
            if dm.is_dir() != sm.is_dir() {
                return Err(CapError::execution(format!(
                    "`{}` is a {} and `{}` is a {}; one cannot replace the other",
                    src.display(),
                    EntryKind::of(&sm).as_str(),
                    dst.display(),
                    EntryKind::of(&dm).as_str()
                )));
            }
        } else if !dst.parent().is_root() && lstat(dir, &dst.parent())?.is_none() {
            return Err(CapError::new(
                ErrorKind::NotFound,
                format!("the folder `{}` does not exist", dst.parent().display()),
            ));
        }
        self.refuse_moving_links_out(&src, &dst, &sm)?;
        self.before_change()?;
        dir.rename(src.rel(), dir, dst.rel())
            .map_err(|e| io_err(e, dst.rel(), "moving to"))?;
        Ok((src, dst))
    }

    /// Refuses a move after which a relative symbolic link (the moved entry, or one inside
    /// a moved folder) would point outside the workspace: airun never follows it, but the
    /// next tool that opens it would.
    fn refuse_moving_links_out(
        &self,
        src: &Resolved,
        dst: &Resolved,
        meta: &Metadata,
    ) -> Result<(), CapError>
    where
        P: FsWrite + FsDelete,
    {
        let mut pending: Vec<(Resolved, bool)> = vec![(src.clone(), meta.is_dir())];
        let mut seen = 0u64;
        while let Some((at, is_dir)) = pending.pop() {
            if is_dir {
                for child in self.walk_children(&at)? {
                    seen += 1;
                    if seen.is_multiple_of(1024) {
                        self.checkpoint()?;
                    }
                    match child.kind {
                        EntryKind::Dir => pending.push((child.path, true)),
                        EntryKind::Symlink => pending.push((child.path, false)),
                        _ => {}
                    }
                }
                continue;
            }
            let Some(m) = lstat(ws(self).dir(), &at)? else {
                continue;
            };
            if !m.file_type().is_symlink() {
                continue;
            }
            let target = self.read_link(&at)?;
            let below = at.rel().strip_prefix(src.rel()).unwrap_or(Path::new(""));
            let moved = if below.as_os_str().is_empty() {
                dst.clone()
            } else {
                dst.with_rel(dst.rel().join(below))
            };
            // Where the link lands after the move, judged lexically from its new folder.
            // An absolute target leads to the same place from anywhere.
            let depth = moved.parent().depth();
            if !target.is_absolute() && !stays_beneath(depth, &target, Climb::Anywhere) {
                return Err(CapError::new(
                    ErrorKind::DeniedSandbox,
                    format!(
                        "moving `{}` would leave the symbolic link `{}` (to `{}`) pointing outside the workspace",
                        src.display(),
                        moved.display(),
                        target.display()
                    ),
                )
                .with_hint("move it to a folder at the same depth, or recreate the link"));
            }
        }
        Ok(())
    }
}

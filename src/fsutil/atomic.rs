//! Atomic file writes through a folder handle: the content goes into a temporary file
//! (a fresh sibling of the target, or a name its writer owns), gets its permission bits,
//! is synced (unless its caller keeps the content durable elsewhere), and only then takes
//! its final name in one rename — or one hard link, when a file that appeared meanwhile
//! must never be replaced. Every step is relative to the
//! handle, so the sandbox's guarantees for the handle hold for the write. An uncommitted
//! write removes its temporary file when dropped: a failed write leaves nothing behind.

use super::temp_name::{self, TempKind};
use cap_std::fs::{Dir, File, OpenOptions, Permissions, PermissionsExt};
use std::io;
use std::path::{Path, PathBuf};

/// How a finished temporary file takes its final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Replace whatever file has the name (one rename).
    Replace,
    /// Take the name only while it is free (`AlreadyExists` otherwise): a hard link, then
    /// the temporary name is removed.
    CreateNew,
}

/// A file being written beside its final name, not yet visible under it.
#[derive(Debug)]
pub struct AtomicFile<'d> {
    dir: &'d Dir,
    temp: PathBuf,
    file: File,
    /// Dropping removes the temporary file (cleared once it has taken its name).
    armed: bool,
}

impl<'d> AtomicFile<'d> {
    /// Creates a fresh temporary sibling of `target` (a path relative to `dir`), open for
    /// reading and writing.
    pub fn beside(dir: &'d Dir, target: &Path, kind: TempKind) -> io::Result<AtomicFile<'d>> {
        let temp = temp_name::beside(target, kind);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        Self::open(dir, temp, &opts)
    }

    /// Creates (or empties) the temporary file `temp`, a name only its writer uses (one
    /// writer at a time under a lock, or a name unique to the writer): a killed writer's
    /// leftover is reused.
    pub fn at(dir: &'d Dir, temp: PathBuf) -> io::Result<AtomicFile<'d>> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(true);
        Self::open(dir, temp, &opts)
    }

    fn open(dir: &'d Dir, temp: PathBuf, opts: &OpenOptions) -> io::Result<AtomicFile<'d>> {
        let file = dir.open_with(&temp, opts)?;
        Ok(AtomicFile {
            dir,
            temp,
            file,
            armed: true,
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the content its permission bits and syncs it to disk.
    pub fn finish(&mut self, mode: u32) -> io::Result<()> {
        self.finish_with(mode, true)
    }

    /// Gives the content its permission bits, and syncs it to disk when `sync` is set
    /// (a caller whose journal keeps the content durable leaves it to a later sync).
    pub fn finish_with(&mut self, mode: u32, sync: bool) -> io::Result<()> {
        self.set_mode(mode)?;
        if sync { self.sync() } else { Ok(()) }
    }

    /// Gives the content its permission bits.
    pub fn set_mode(&mut self, mode: u32) -> io::Result<()> {
        self.file.set_permissions(Permissions::from_mode(mode))
    }

    /// Syncs the content to disk (keeping the permission bits it was created with).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Makes the (finished) content visible as `target`; on failure the temporary file
    /// is removed and `target` is as it was.
    pub fn commit(mut self, target: &Path, how: Publish) -> io::Result<()> {
        self.armed = false;
        publish(self.dir, &self.temp, target, how)
    }

    /// Keeps the temporary file for a later [`publish`] (or removal) by the caller, and
    /// returns its name.
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.temp)
    }
}

impl Drop for AtomicFile<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.dir.remove_file(&self.temp);
        }
    }
}

/// Gives a kept temporary file `temp` the name `target`; the temporary name is gone
/// afterwards whether or not that succeeded.
pub fn publish(dir: &Dir, temp: &Path, target: &Path, how: Publish) -> io::Result<()> {
    let res = match how {
        Publish::Replace => dir.rename(temp, dir, target),
        Publish::CreateNew => dir.hard_link(temp, dir, target),
    };
    if res.is_err() || how == Publish::CreateNew {
        let _ = dir.remove_file(temp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;
    use std::io::{Read, Write};

    fn names(dir: &Dir) -> Vec<String> {
        let mut v: Vec<String> = dir
            .entries()
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_committed_write_replaces_the_file_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        dir.write("a.txt", b"old").unwrap();
        let mut f = AtomicFile::beside(&dir, Path::new("a.txt"), TempKind::Write).unwrap();
        f.file().write_all(b"new").unwrap();
        assert_eq!(dir.read_to_string("a.txt").unwrap(), "old");
        f.finish(0o600).unwrap();
        f.commit(Path::new("a.txt"), Publish::Replace).unwrap();
        let mut s = String::new();
        dir.open("a.txt").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "new");
        use cap_std::fs::MetadataExt;
        assert_eq!(dir.metadata("a.txt").unwrap().mode() & 0o777, 0o600);
        assert_eq!(names(&dir), ["a.txt"]);
    }

    #[test]
    fn a_dropped_write_leaves_nothing_and_create_new_never_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        let mut f = AtomicFile::beside(&dir, Path::new("b.txt"), TempKind::Write).unwrap();
        f.file().write_all(b"lost").unwrap();
        drop(f);
        assert!(names(&dir).is_empty());
        dir.write("b.txt", b"there").unwrap();
        let mut f = AtomicFile::beside(&dir, Path::new("b.txt"), TempKind::Restore).unwrap();
        f.finish(0o644).unwrap();
        let err = f
            .commit(Path::new("b.txt"), Publish::CreateNew)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(dir.read_to_string("b.txt").unwrap(), "there");
        assert_eq!(names(&dir), ["b.txt"]);
    }
}

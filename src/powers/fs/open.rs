//! Opening files through the workspace handle so that what was checked is what is used.
//!
//! A path's type can change between a check and the open (a regular file swapped for a
//! FIFO, or for a hard link to a file outside the workspace), so every decision is taken
//! on the opened handle: files are opened with `O_NONBLOCK` (opening a FIFO then returns
//! at once instead of waiting for a writer), `fstat` of the handle must say "regular
//! file" (and, for writes, "one link"), and only then is the flag cleared.

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, File, Metadata, MetadataExt, OpenOptions, OpenOptionsExt};
use rustix::fs::OFlags;
use std::fmt;
use std::io;
use std::path::Path;

/// The error inside an [`io::Error`] for a handle that is not a regular file.
#[derive(Debug)]
pub struct NotRegular;

impl fmt::Display for NotRegular {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a regular file (a FIFO, socket, device or folder)")
    }
}

impl std::error::Error for NotRegular {}

/// The error inside an [`io::Error`] for a file opened for writing that has other links.
#[derive(Debug)]
pub struct HardLinked(pub u64);

impl fmt::Display for HardLinked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the file has {} hard links", self.0)
    }
}

impl std::error::Error for HardLinked {}

/// True when `e` says the handle was not a regular file.
pub fn is_not_regular(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<NotRegular>())
}

/// Opens `rel` beneath `dir` for reading as a regular file (following a final symlink
/// only when `follow`), and returns it with the handle's own metadata. A FIFO, socket,
/// device or folder is refused with [`NotRegular`], without blocking.
pub fn open_regular(dir: &Dir, rel: &Path, follow: bool) -> io::Result<(File, Metadata)> {
    let mut opts = OpenOptions::new();
    opts.read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .follow(if follow {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        });
    let file = dir.open_with(rel, &opts)?;
    checked(file, false)
}

/// Opens `rel` beneath `dir` for appending (creating it when missing), never following a
/// final symlink. The handle must be a regular file with a single link: a file swapped
/// meanwhile for a hard link to another file is refused with [`HardLinked`] before a
/// byte is written. Returns the file and whether it existed before.
pub fn open_append(dir: &Dir, rel: &Path) -> io::Result<(File, bool)> {
    let mut opts = OpenOptions::new();
    opts.append(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .follow(FollowSymlinks::No);
    let existed = match dir.open_with(rel, &opts) {
        Ok(f) => return checked(f, true).map(|(f, _)| (f, true)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    opts.create_new(true);
    let file = dir.open_with(rel, &opts)?;
    checked(file, true).map(|(f, _)| (f, existed))
}

/// `fstat`s an opened handle: a regular file (with one link when `single_link`), then
/// back to blocking mode.
fn checked(file: File, single_link: bool) -> io::Result<(File, Metadata)> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(NotRegular));
    }
    if single_link && meta.nlink() > 1 {
        return Err(io::Error::other(HardLinked(meta.nlink())));
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
    Ok((file, meta))
}

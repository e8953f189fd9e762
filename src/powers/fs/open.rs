//! Opening files through the workspace handle so that what was checked is what is used.
//!
//! A path's type can change between a check and the open (a regular file swapped for a
//! FIFO, or for a hard link to a file outside the workspace), so every decision is taken
//! on the opened handle: files are opened with `O_NONBLOCK` (opening a FIFO then returns
//! at once instead of waiting for a writer), `fstat` of the handle must say "regular
//! file", and only then is the flag cleared. Writes never go into an existing file in
//! place (they replace it with a new one); a permission change checks that the handle's
//! file has one link and still sits at its path.

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
    checked(file)
}

/// Refuses a handle whose file no longer sits at `rel`. A one-link check alone is not
/// enough: a hard link to an outside file, opened and then removed from the workspace,
/// leaves the handle on that outside file with a single (outside) link. When `rel` still
/// names the handle's file and it has one link, that link is the workspace's.
pub fn still_named(dir: &Dir, rel: &Path, handle: &Metadata) -> io::Result<()> {
    let now = dir.symlink_metadata(rel)?;
    if now.dev() != handle.dev() || now.ino() != handle.ino() {
        return Err(io::Error::other(HardLinked(handle.nlink().max(2))));
    }
    Ok(())
}

/// `fstat`s an opened handle: a regular file, then back to blocking mode.
fn checked(file: File) -> io::Result<(File, Metadata)> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(NotRegular));
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
    Ok((file, meta))
}

//! Images of a path in the workspace: what was there (files with content and mode,
//! folders with everything inside, symlinks as links, absence as absence), and putting an
//! image back exactly.

use super::blobs::{BlobProblem, BlobStore, hash_reader};
use crate::fsutil::{AtomicFile, Publish, TempKind};
use cap_std::fs::{Dir, MetadataExt, Permissions, PermissionsExt};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// What an entry of an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Nothing was at the path.
    Absent,
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A socket, device or fifo (recorded, not restored).
    Other,
}

impl Kind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Absent => "absent",
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Other => "other",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Kind {
        match s {
            "file" => Kind::File,
            "dir" => Kind::Dir,
            "symlink" => Kind::Symlink,
            "other" => Kind::Other,
            _ => Kind::Absent,
        }
    }
}

/// One entry of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Workspace-relative path.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Unix permission bits.
    pub mode: u32,
    /// Size in bytes (files).
    pub size: u64,
    /// BLAKE3 of the content (files).
    pub blob: Option<String>,
    /// Link target as stored (symlinks).
    pub link: Option<String>,
}

/// Takes the image of `target` (workspace-relative). With a store, file contents are
/// saved in it; without, they are only hashed (to compare).
pub fn snapshot(dir: &Dir, target: &Path, store: Option<&BlobStore>) -> io::Result<Vec<Entry>> {
    snapshot_cached(dir, target, store, None, None)
}

/// Like [`snapshot`], but a file whose size, modification and change times, inode and
/// device match the cache is not read again: its recorded hash is used (in a store,
/// only when that blob is still there). `skip` (airun's own state folder when it lies
/// inside the workspace) is left out of the image.
pub fn snapshot_cached(
    dir: &Dir,
    target: &Path,
    store: Option<&BlobStore>,
    cache: Option<&mut StatCache>,
    skip: Option<&Path>,
) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut w = Walker { store, cache, skip };
    w.walk(dir, target, &mut out)?;
    Ok(out)
}

/// What must stay the same for a file's recorded hash to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch (cannot be set back by a program).
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Device number.
    pub dev: u64,
}

impl StatKey {
    fn of(meta: &cap_std::fs::Metadata) -> StatKey {
        StatKey {
            size: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

/// Files changed less than this before a snapshot started are not cached: a change in the
/// same timestamp tick right after they were read would not show in their times.
const RACY: i64 = 2_000_000_000;

/// Hashes of files by workspace path, trusted while their [`StatKey`] is unchanged; the
/// changes to write back; and counts of files read and skipped.
#[derive(Debug, Default)]
pub struct StatCache {
    /// By path: the key, the hash, and whether that content is stored as a row.
    known: HashMap<String, (StatKey, String, bool)>,
    /// Entries to store (path, key and hash) after the snapshot.
    pub updates: Vec<(String, StatKey, String)>,
    /// Paths seen by the snapshot.
    pub seen: HashSet<String>,
    started_ns: i64,
    /// Files read (hashed) by the snapshot.
    pub reads: u64,
    /// Files whose hash came from the cache.
    pub hits: u64,
}

impl StatCache {
    /// A cache over `known` entries (key, hash, and whether the content is stored as a
    /// row of the state database), for a snapshot starting now.
    pub fn new(known: HashMap<String, (StatKey, String, bool)>) -> StatCache {
        let started_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        StatCache {
            known,
            started_ns,
            ..StatCache::default()
        }
    }

    /// Cached paths under `target` (workspace-relative; `.` for all) that the snapshot
    /// did not see as files: they are gone and can be forgotten.
    pub fn gone_under(&self, target: &str) -> Vec<String> {
        let prefix = format!("{target}/");
        self.known
            .keys()
            .filter(|k| target == "." || k.as_str() == target || k.starts_with(&prefix))
            .filter(|k| !self.seen.contains(k.as_str()))
            .cloned()
            .collect()
    }

    /// The recorded hash of an unchanged file; when the snapshot stores contents, only
    /// while that content is still stored (a row, or a file).
    fn lookup(&self, path: &str, key: &StatKey, store: Option<&BlobStore>) -> Option<String> {
        let (k, hash, row) = self.known.get(path)?;
        if k != key || store.is_some_and(|s| !row && !s.contains_file(hash)) {
            return None;
        }
        Some(hash.clone())
    }

    fn record(&mut self, path: &str, key: StatKey, hash: &str) {
        let settled = key.mtime_ns.max(key.ctime_ns) < self.started_ns.saturating_sub(RACY);
        if settled
            && self
                .known
                .get(path)
                .is_none_or(|(k, h, _)| *k != key || h != hash)
        {
            self.updates.push((path.to_string(), key, hash.to_string()));
        }
    }
}

struct Walker<'a> {
    store: Option<&'a BlobStore>,
    cache: Option<&'a mut StatCache>,
    skip: Option<&'a Path>,
}

fn rel_str(p: &Path) -> String {
    let s = p.to_string_lossy().into_owned();
    if s.is_empty() { ".".into() } else { s }
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Dir, p: &Path, out: &mut Vec<Entry>) -> io::Result<()> {
        let store = self.store;
        let path = rel_str(p);
        let meta = match dir.symlink_metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.push(Entry {
                    path,
                    kind: Kind::Absent,
                    mode: 0,
                    size: 0,
                    blob: None,
                    link: None,
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mode = meta.mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let link = dir.read_link_contents(p)?;
            out.push(Entry {
                path,
                kind: Kind::Symlink,
                mode,
                size: 0,
                blob: None,
                link: Some(link.to_string_lossy().into_owned()),
            });
        } else if ft.is_file() {
            let key = StatKey::of(&meta);
            if let Some(c) = self.cache.as_deref_mut() {
                c.seen.insert(path.clone());
            }
            let cached = self
                .cache
                .as_deref()
                .and_then(|c| c.lookup(&path, &key, store));
            let (hash, size) = match cached {
                Some(hash) => {
                    if let Some(c) = self.cache.as_deref_mut() {
                        c.hits += 1;
                    }
                    (hash, key.size)
                }
                None => {
                    // Not blocking on a FIFO swapped in after the lstat above.
                    let (mut f, _) = crate::powers::open_regular(dir, p, false)?;
                    let (hash, size) = match store {
                        Some(s) => s.put_file(&mut f, meta.len())?,
                        None => hash_reader(&mut f)?,
                    };
                    if let Some(c) = self.cache.as_deref_mut() {
                        c.reads += 1;
                        // Cache only what was read from a file that did not change meanwhile.
                        if let Ok(m2) = f.metadata()
                            && StatKey::of(&m2) == key
                            && size == key.size
                        {
                            c.record(&path, key, &hash);
                        }
                    }
                    (hash, size)
                }
            };
            out.push(Entry {
                path,
                kind: Kind::File,
                mode,
                size,
                blob: Some(hash),
                link: None,
            });
        } else if ft.is_dir() {
            out.push(Entry {
                path,
                kind: Kind::Dir,
                mode,
                size: 0,
                blob: None,
                link: None,
            });
            let mut names: Vec<_> = dir
                .read_dir(if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                })?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for name in names {
                // Children of the root are `name`, not `./name`.
                let child = if p.as_os_str() == "." {
                    PathBuf::from(name)
                } else {
                    p.join(name)
                };
                if self.skip.is_some_and(|s| child == s) {
                    continue;
                }
                self.walk(dir, &child, out)?;
            }
        } else {
            out.push(Entry {
                path,
                kind: Kind::Other,
                mode,
                size: meta.len(),
                blob: None,
                link: None,
            });
        }
        Ok(())
    }
}

/// The first path where two images differ, if any.
pub fn first_difference(expected: &[Entry], actual: &[Entry]) -> Option<String> {
    let same = |a: &Entry, b: &Entry| {
        a.path == b.path
            && a.kind == b.kind
            && a.blob == b.blob
            && a.link == b.link
            && (a.kind == Kind::Symlink || a.mode == b.mode)
    };
    for (i, e) in expected.iter().enumerate() {
        match actual.get(i) {
            Some(a) if same(e, a) => {}
            Some(a) if a.path != e.path => return Some(a.path.clone().min(e.path.clone())),
            _ => return Some(e.path.clone()),
        }
    }
    actual.get(expected.len()).map(|a| a.path.clone())
}

fn remove_any(dir: &Dir, p: &Path) -> io::Result<()> {
    match dir.symlink_metadata(p) {
        Ok(m) if m.is_dir() => dir.remove_dir_all(p),
        Ok(_) => dir.remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// An error that names the file it is about.
fn about(p: &Path, kind: io::ErrorKind, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(kind, format!("`{}`: {what}", p.display()))
}

/// Writes a blob's content to `p` through a temp file beside it, checking the content
/// against its hash on the way: a missing or damaged blob leaves `p` untouched.
fn write_blob(dir: &Dir, store: &BlobStore, p: &Path, hash: &str, mode: u32) -> io::Result<()> {
    let mut blob = match store.open_blob(hash) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(about(p, e.kind(), BlobProblem::Missing));
        }
        Err(e) => return Err(about(p, e.kind(), BlobProblem::Unreadable(e.to_string()))),
    };
    let mut out = AtomicFile::beside(dir, p, TempKind::Restore)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = blob.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.file().write_all(&buf[..n])?;
    }
    // Returning early drops the temporary file, which removes it.
    if hasher.finalize().to_hex().as_str() != hash {
        return Err(about(p, io::ErrorKind::InvalidData, BlobProblem::Damaged));
    }
    out.finish(mode)?;
    if let Ok(m) = dir.symlink_metadata(p)
        && m.is_dir()
    {
        dir.remove_dir_all(p)?;
    }
    out.commit(p, Publish::Replace)
}

/// Puts an image back at its path, exactly: content, modes, kinds and link targets.
/// Idempotent, so an interrupted restore can simply run again. A folder that is a folder
/// now too (always so for the workspace root, which is never removed) is synced in place:
/// entries the image lacks are removed, the rest restored where they differ.
pub fn restore(dir: &Dir, store: &BlobStore, image: &[Entry]) -> io::Result<()> {
    restore_skipping(dir, store, image, None, &HashSet::new())
}

/// [`restore`], leaving `skip` (airun's own state folder inside the workspace) alone,
/// and the files in `leave` (whose saved copies are lost) as they are now.
pub fn restore_skipping(
    dir: &Dir,
    store: &BlobStore,
    image: &[Entry],
    skip: Option<&Path>,
    leave: &HashSet<String>,
) -> io::Result<()> {
    let Some(root) = image.first() else {
        return Ok(());
    };
    let to = Target {
        dir,
        store,
        skip,
        leave,
    };
    let root_path = Path::new(&root.path);
    let is_dir_now = dir.symlink_metadata(root_path).is_ok_and(|m| m.is_dir());
    if root.kind == Kind::Dir && (is_dir_now || root.path == ".") {
        return sync_dir(to, image);
    }
    if let Some(parent) = root_path.parent()
        && !parent.as_os_str().is_empty()
    {
        dir.create_dir_all(parent)?;
    }
    match root.kind {
        // A file replaces whatever is there in one rename.
        Kind::File => {}
        _ => remove_any(dir, root_path)?,
    }
    put_entries(to, image, false)
}

/// Writes an image's entries (files, folders, links) where they belong, then gives the
/// folders their modes. `in_place`: entries that are already as the image says are left
/// as they are.
fn put_entries(to: Target<'_>, image: &[Entry], in_place: bool) -> io::Result<()> {
    let dir = to.dir;
    let mut dirs = Vec::new();
    for e in image {
        let p = Path::new(&e.path);
        match e.kind {
            Kind::Absent | Kind::Other => {}
            Kind::File if to.leave.contains(&e.path) => {}
            Kind::File => {
                if !(in_place && same_file(dir, p, e)?) {
                    let hash = e.blob.as_deref().unwrap_or_default();
                    write_blob(dir, to.store, p, hash, e.mode)?;
                }
            }
            Kind::Dir => {
                make_dir(dir, e)?;
                dirs.push((p, e.mode));
            }
            Kind::Symlink => {
                let want_link = e.link.as_deref().unwrap_or_default();
                let same = in_place
                    && dir
                        .read_link_contents(p)
                        .is_ok_and(|t| t.as_os_str() == std::ffi::OsStr::new(want_link));
                if !same {
                    remove_any(dir, p)?;
                    dir.symlink_contents(want_link, p)?;
                }
            }
        }
    }
    for (p, mode) in dirs.into_iter().rev() {
        if in_place && dir.symlink_metadata(p)?.mode() & 0o7777 == mode {
            continue;
        }
        dir.set_permissions(p, Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Makes the folder of a folder entry unless it is there (the root always is).
fn make_dir(dir: &Dir, e: &Entry) -> io::Result<()> {
    if e.path == "." {
        return Ok(());
    }
    match dir.create_dir(&e.path) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

fn kind_of(meta: &cap_std::fs::Metadata) -> Kind {
    let ft = meta.file_type();
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

/// Removes every entry under the folder `p` that `want` lacks or has as another kind.
fn prune(dir: &Dir, p: &Path, want: &HashMap<&str, &Entry>, skip: Option<&Path>) -> io::Result<()> {
    let listed = if p.as_os_str() == "." {
        Path::new(".")
    } else {
        p
    };
    let mut names: Vec<_> = dir
        .read_dir(listed)?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let child = if p.as_os_str() == "." {
            PathBuf::from(&name)
        } else {
            p.join(&name)
        };
        if skip.is_some_and(|s| child == s) {
            continue;
        }
        let meta = match dir.symlink_metadata(&child) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let kind = kind_of(&meta);
        match want.get(rel_str(&child).as_str()) {
            Some(e) if e.kind == kind => {
                if kind == Kind::Dir {
                    prune(dir, &child, want, skip)?;
                }
            }
            _ => remove_any(dir, &child)?,
        }
    }
    Ok(())
}

/// True when the file at `p` already has the entry's content and mode.
fn same_file(dir: &Dir, p: &Path, e: &Entry) -> io::Result<bool> {
    let meta = match dir.symlink_metadata(p) {
        Ok(m) => m,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    if !meta.is_file() || meta.len() != e.size || meta.mode() & 0o7777 != e.mode {
        return Ok(false);
    }
    let (hash, _) = hash_reader(&mut crate::powers::open_regular(dir, p, false)?.0)?;
    Ok(Some(hash.as_str()) == e.blob.as_deref())
}

/// Where a restore writes and what it leaves alone (see [`restore_skipping`]).
#[derive(Clone, Copy)]
struct Target<'a> {
    dir: &'a Dir,
    store: &'a BlobStore,
    skip: Option<&'a Path>,
    leave: &'a HashSet<String>,
}

/// Restores a folder image onto a folder in place (see [`restore`]).
fn sync_dir(to: Target<'_>, image: &[Entry]) -> io::Result<()> {
    let want: HashMap<&str, &Entry> = image.iter().map(|e| (e.path.as_str(), e)).collect();
    let root = Path::new(&image[0].path);
    prune(to.dir, root, &want, to.skip)?;
    put_entries(to, image, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    fn names(root: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Restoring the workspace root syncs its children in place, and leaves airun's own
    /// state folder (when it lies inside) out of the image and alone.
    #[test]
    fn restoring_the_root_syncs_children_and_skips_the_state_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        std::fs::create_dir_all(ws.join("state")).unwrap();
        std::fs::create_dir_all(ws.join("keep/sub")).unwrap();
        std::fs::write(ws.join("keep/sub/a.txt"), "a").unwrap();
        std::fs::write(ws.join("state/airun.db"), "db v1").unwrap();
        std::fs::write(ws.join("same.txt"), "unchanged").unwrap();
        let ino = || {
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(ws.join("same.txt")).unwrap())
        };
        let same_ino = ino();
        let store = BlobStore::open(&tmp.path().join("blobs")).unwrap();
        let dir = Dir::open_ambient_dir(&ws, ambient_authority()).unwrap();
        let skip = Path::new("state");
        let image = snapshot_cached(&dir, Path::new("."), Some(&store), None, Some(skip)).unwrap();
        assert!(
            image.iter().all(|e| !e.path.starts_with("state")),
            "{image:?}"
        );
        std::fs::write(ws.join("state/airun.db"), "db v2").unwrap();
        std::fs::write(ws.join("new.txt"), "new").unwrap();
        std::fs::remove_dir_all(ws.join("keep")).unwrap();
        restore_skipping(&dir, &store, &image, Some(skip), &HashSet::new()).unwrap();
        assert_eq!(names(&ws), ["keep", "same.txt", "state"]);
        assert_eq!(ino(), same_ino, "an unchanged file is not rewritten");
        assert_eq!(
            std::fs::read_to_string(ws.join("keep/sub/a.txt")).unwrap(),
            "a"
        );
        assert_eq!(
            std::fs::read_to_string(ws.join("state/airun.db")).unwrap(),
            "db v2"
        );
    }
}

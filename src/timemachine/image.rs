//! Images of a path in the workspace: what was there (files with content and mode,
//! folders with everything inside, symlinks as links, absence as absence), and putting an
//! image back exactly.

use super::blobs::{BlobStore, hash_reader};
use cap_std::fs::{Dir, MetadataExt, OpenOptions, Permissions, PermissionsExt};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    let mut out = Vec::new();
    walk(dir, target, store, &mut out)?;
    Ok(out)
}

fn rel_str(p: &Path) -> String {
    let s = p.to_string_lossy().into_owned();
    if s.is_empty() { ".".into() } else { s }
}

fn walk(dir: &Dir, p: &Path, store: Option<&BlobStore>, out: &mut Vec<Entry>) -> io::Result<()> {
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
        let mut f = dir.open(p)?;
        let (hash, size) = match store {
            Some(s) => s.put_file(&mut f, meta.len())?,
            None => hash_reader(&mut f)?,
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
            .read_dir(if p.as_os_str().is_empty() { Path::new(".") } else { p })?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            walk(dir, &p.join(name), store, out)?;
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

static TEMP: AtomicU64 = AtomicU64::new(0);

fn temp_beside(p: &Path) -> PathBuf {
    let n = TEMP.fetch_add(1, Ordering::Relaxed);
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = format!(".{name}.airun-restore-{}-{n}", std::process::id());
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

fn remove_any(dir: &Dir, p: &Path) -> io::Result<()> {
    match dir.symlink_metadata(p) {
        Ok(m) if m.is_dir() => dir.remove_dir_all(p),
        Ok(_) => dir.remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn write_blob(dir: &Dir, store: &BlobStore, p: &Path, hash: &str, mode: u32) -> io::Result<()> {
    let tmp = temp_beside(p);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    let res = (|| {
        let mut out = dir.open_with(&tmp, &opts)?;
        let mut blob = store.open_blob(hash)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = blob.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
        }
        out.set_permissions(Permissions::from_mode(mode))?;
        out.sync_data()?;
        if let Ok(m) = dir.symlink_metadata(p)
            && m.is_dir()
        {
            dir.remove_dir_all(p)?;
        }
        dir.rename(&tmp, dir, p)
    })();
    if res.is_err() {
        let _ = dir.remove_file(&tmp);
    }
    res
}

/// Puts an image back at its path, exactly: content, modes, kinds and link targets.
/// Idempotent, so an interrupted restore can simply run again.
pub fn restore(dir: &Dir, store: &BlobStore, image: &[Entry]) -> io::Result<()> {
    let Some(root) = image.first() else { return Ok(()) };
    let root_path = Path::new(&root.path);
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
    let mut dirs = Vec::new();
    for e in image {
        let p = Path::new(&e.path);
        match e.kind {
            Kind::Absent | Kind::Other => {}
            Kind::File => {
                let hash = e.blob.as_deref().unwrap_or_default();
                write_blob(dir, store, p, hash, e.mode)?;
            }
            Kind::Dir => {
                if e.path != "." {
                    match dir.create_dir(p) {
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(err) => return Err(err),
                    }
                }
                dirs.push((p.to_path_buf(), e.mode));
            }
            Kind::Symlink => {
                remove_any(dir, p)?;
                dir.symlink_contents(e.link.as_deref().unwrap_or_default(), p)?;
            }
        }
    }
    for (p, mode) in dirs.into_iter().rev() {
        let p = if p.as_os_str() == "." { PathBuf::from(".") } else { p };
        dir.set_permissions(&p, Permissions::from_mode(mode))?;
    }
    Ok(())
}

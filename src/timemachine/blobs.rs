//! The content-addressed blob store: one file per distinct content, named by its BLAKE3
//! hash, cloned (reflink) from the source when the filesystem can, copied otherwise.
//!
//! A blob is written under `tmp/`, synced, and only then renamed to its name, so a blob
//! the journal points at is whole on disk. A call killed mid-write leaves its temp file,
//! which [`BlobStore::sweep_temps`] removes (recovery and gc call it under the operation
//! lock, when no call is writing one). Reading a blob back checks its hash
//! ([`BlobStore::verify`], and every restore).

use crate::fsutil::{AtomicFile, Publish};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Files up to this size are read into memory once; larger ones are hashed first and
/// then cloned or copied.
const SMALL: u64 = 1 << 20;

static TEMP: AtomicU64 = AtomicU64::new(0);

/// A folder of blobs: `<dir>/<first two hex digits>/<the other 62>`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    /// A handle on `dir`, which blobs are written through.
    handle: Arc<Dir>,
}

impl BlobStore {
    /// Opens (and creates) the store at `dir`.
    pub fn open(dir: &Path) -> io::Result<BlobStore> {
        fs::create_dir_all(dir.join("tmp"))?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
            handle: Arc::new(Dir::open_ambient_dir(dir, ambient_authority())?),
        })
    }

    /// Where the blob with this hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(Self::rel(hash))
    }

    /// Where the blob with this hash lives, inside the store.
    fn rel(hash: &str) -> PathBuf {
        let (a, b) = hash.split_at(2.min(hash.len()));
        Path::new(a).join(b)
    }

    /// True when the blob is stored.
    pub fn contains(&self, hash: &str) -> bool {
        self.path(hash).exists()
    }

    /// Writes a blob through a temp file under `tmp/`, synced, then renamed to its name
    /// and the folder synced, so the blob is durable before anything refers to it. A
    /// failed write (a full disk) leaves no temp.
    fn write_temp(
        &self,
        hash: &str,
        fill: impl FnOnce(&mut cap_std::fs::File) -> io::Result<()>,
    ) -> io::Result<()> {
        let n = TEMP.fetch_add(1, Ordering::Relaxed);
        let temp = Path::new("tmp").join(format!("{}-{n}", std::process::id()));
        let mut out = AtomicFile::at(&self.handle, temp)?;
        fill(out.file())?;
        crate::failpoint::crash_point!("blob_before_publish");
        out.sync()?;
        let dest = Self::rel(hash);
        if self.handle.exists(&dest) {
            // Stored meanwhile: dropping the temp removes it.
            return Ok(());
        }
        let shard = dest.parent().unwrap_or(Path::new("."));
        self.handle.create_dir_all(shard)?;
        out.commit(&dest, Publish::Replace)?;
        self.handle.open(shard)?.sync_all()?;
        Ok(())
    }

    /// Removes every temp file: blobs whose writer died (killed, or the disk filled)
    /// before publishing them. Only call it when no blob is being written (under the
    /// workspace's operation lock). Returns how many were removed.
    pub fn sweep_temps(&self) -> io::Result<usize> {
        let mut n = 0;
        let entries = match fs::read_dir(self.dir.join("tmp")) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            match fs::remove_file(entry.path()) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Checks that a blob is stored whole: present, of `size` bytes, with content
    /// hashing to its name.
    pub fn verify(&self, hash: &str, size: u64) -> Result<(), BlobProblem> {
        let mut f = match self.open_blob(hash) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobProblem::Missing),
            Err(e) => return Err(BlobProblem::Unreadable(e.to_string())),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        if len != size {
            return Err(BlobProblem::Damaged);
        }
        match hash_reader(&mut f) {
            Ok((h, _)) if h == hash => Ok(()),
            Ok(_) => Err(BlobProblem::Damaged),
            Err(e) => Err(BlobProblem::Unreadable(e.to_string())),
        }
    }

    /// Stores the content of an open file; returns its hash and size. The same content
    /// stored twice costs one blob.
    pub fn put_file(&self, file: &mut cap_std::fs::File, len: u64) -> io::Result<(String, u64)> {
        if len <= SMALL {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)?;
            let hash = blake3::hash(&buf).to_hex().to_string();
            if !self.contains(&hash) {
                self.write_temp(&hash, |out| out.write_all(&buf))?;
            }
            return Ok((hash, buf.len() as u64));
        }
        let (hash, size) = hash_reader(&mut *file)?;
        if self.contains(&hash) {
            return Ok((hash, size));
        }
        self.write_temp(&hash, |out| {
            if !clone_file(file, out) {
                use std::io::Seek;
                file.seek(io::SeekFrom::Start(0))?;
                io::copy(file, out)?;
            }
            Ok(())
        })?;
        Ok((hash, size))
    }

    /// Opens a stored blob.
    pub fn open_blob(&self, hash: &str) -> io::Result<File> {
        File::open(self.path(hash))
    }

    /// Every stored blob's hash.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.dir)? {
            let shard = shard?;
            let name = shard.file_name().to_string_lossy().into_owned();
            if name.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for blob in fs::read_dir(shard.path())? {
                out.push(format!("{name}{}", blob?.file_name().to_string_lossy()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a blob.
    pub fn remove(&self, hash: &str) -> io::Result<()> {
        fs::remove_file(self.path(hash))
    }

    /// Bytes used by the store.
    pub fn bytes(&self) -> u64 {
        self.list()
            .unwrap_or_default()
            .iter()
            .filter_map(|h| fs::metadata(self.path(h)).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// What is wrong with a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobProblem {
    /// Not in the store.
    Missing,
    /// Its size or content does not match its hash.
    Damaged,
    /// It could not be read.
    Unreadable(String),
}

impl std::fmt::Display for BlobProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobProblem::Missing => f.write_str("its saved copy is missing from the state folder"),
            BlobProblem::Damaged => f.write_str(
                "its saved copy in the state folder is damaged (the content does not match its hash)",
            ),
            BlobProblem::Unreadable(e) => write!(f, "its saved copy cannot be read: {e}"),
        }
    }
}

/// BLAKE3 of everything a reader yields, and its length.
pub fn hash_reader(r: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().to_hex().to_string(), total))
}

#[cfg(target_os = "linux")]
fn clone_file(src: &cap_std::fs::File, dst: &cap_std::fs::File) -> bool {
    rustix::fs::ioctl_ficlone(dst, src).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn clone_file(_: &cap_std::fs::File, _: &cap_std::fs::File) -> bool {
    false
}

//! The content-addressed blob store: one file per distinct content, named by its BLAKE3
//! hash, cloned (reflink) from the source when the filesystem can, copied otherwise.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Files up to this size are read into memory once; larger ones are hashed first and
/// then cloned or copied.
const SMALL: u64 = 1 << 20;

static TEMP: AtomicU64 = AtomicU64::new(0);

/// A folder of blobs: `<dir>/<first two hex digits>/<the other 62>`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (and creates) the store at `dir`.
    pub fn open(dir: &Path) -> io::Result<BlobStore> {
        fs::create_dir_all(dir.join("tmp"))?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Where the blob with this hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        let (a, b) = hash.split_at(2.min(hash.len()));
        self.dir.join(a).join(b)
    }

    /// True when the blob is stored.
    pub fn contains(&self, hash: &str) -> bool {
        self.path(hash).exists()
    }

    fn temp(&self) -> PathBuf {
        let n = TEMP.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()))
    }

    fn publish(&self, temp: &Path, hash: &str) -> io::Result<()> {
        let dest = self.path(hash);
        if dest.exists() {
            return fs::remove_file(temp);
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(temp, dest)
    }

    /// Stores the content of an open file; returns its hash and size. The same content
    /// stored twice costs one blob.
    pub fn put_file(&self, file: &mut cap_std::fs::File, len: u64) -> io::Result<(String, u64)> {
        if len <= SMALL {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)?;
            let hash = blake3::hash(&buf).to_hex().to_string();
            if !self.contains(&hash) {
                let temp = self.temp();
                File::create(&temp)?.write_all(&buf)?;
                self.publish(&temp, &hash)?;
            }
            return Ok((hash, buf.len() as u64));
        }
        let (hash, size) = hash_reader(&mut *file)?;
        if self.contains(&hash) {
            return Ok((hash, size));
        }
        let temp = self.temp();
        let out = File::create(&temp)?;
        let cloned = clone_file(file, &out);
        if !cloned {
            use std::io::Seek;
            file.seek(io::SeekFrom::Start(0))?;
            let mut out = out;
            io::copy(file, &mut out)?;
        }
        self.publish(&temp, &hash)?;
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
fn clone_file(src: &cap_std::fs::File, dst: &File) -> bool {
    rustix::fs::ioctl_ficlone(dst, src).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn clone_file(_: &cap_std::fs::File, _: &File) -> bool {
    false
}

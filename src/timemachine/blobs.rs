//! The content-addressed blob store: one copy per distinct content, named by its BLAKE3
//! hash. A small content (at most [`INLINE_MAX`] bytes) is a row of the state database,
//! written in the same transaction as the images that refer to it, so it costs no file,
//! no sync of its own and no inode: the write-ahead log's sync that carries the commit
//! carries it too. A larger one is a file, cloned (reflink) from the source when the
//! filesystem can, copied otherwise. Contents stored as files by earlier versions (of
//! any size) stay files; either way a content is stored once, in one place.
//!
//! A snapshot does not write rows itself: it collects the small contents it found new
//! ([`BlobStore::take_new`]), and the transaction that records its images inserts them,
//! so no committed image refers to a row that is not committed with it or before it. A
//! snapshot of many small files holds at most [`NEW_ROWS_MAX`] bytes of them in memory:
//! beyond that, what it collected is inserted in a transaction of its own, ahead of the
//! images (unreferenced until they commit; should the call fail, `gc` removes them).
//!
//! A file blob is written under `tmp/`, synced, and only then renamed to its name, so a
//! blob the journal points at is whole on disk. A call killed mid-write leaves its temp file,
//! which [`BlobStore::sweep_temps`] removes (recovery and gc call it under the operation
//! lock, when no call is writing one). Reading a blob back checks its hash
//! ([`BlobStore::verify`], and every restore).

use super::db;
use crate::fsutil::{AtomicFile, Publish};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rusqlite::Connection;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Files up to this size are read into memory once; larger ones are hashed first and
/// then cloned or copied.
const SMALL: u64 = 1 << 20;

/// Contents up to this size are kept as rows of the state database, larger ones as files.
pub const INLINE_MAX: u64 = 64 * 1024;

/// Most bytes of new small contents a snapshot holds in memory before inserting them.
pub const NEW_ROWS_MAX: u64 = 4 << 20;

static TEMP: AtomicU64 = AtomicU64::new(0);

/// Small contents the snapshots of one thread's call found new, by hash, until the
/// transaction recording its images takes them; and their total size.
#[derive(Default)]
struct NewRows {
    rows: HashMap<String, Vec<u8>>,
    bytes: u64,
}

/// The blobs of a workspace: rows of the state database (small contents) and a folder of
/// files, `<dir>/<first two hex digits>/<the other 62>`.
#[derive(Clone)]
pub struct BlobStore {
    dir: PathBuf,
    /// A handle on `dir`, which blobs are written through.
    handle: Arc<Dir>,
    /// The state database holding small contents (without one, every blob is a file).
    db: Option<Arc<Mutex<Connection>>>,
    /// Small contents found new and not yet inserted, by the thread whose call found them
    /// (changes to files apart run at once; see [`BlobStore::take_new`]).
    new: Arc<Mutex<HashMap<std::thread::ThreadId, NewRows>>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("dir", &self.dir)
            .field("rows", &self.db.is_some())
            .finish()
    }
}

/// A stored blob, open for reading.
pub enum Blob {
    /// A file under `blobs/`.
    File(File),
    /// A row of the state database, read whole.
    Row(io::Cursor<Vec<u8>>),
}

impl Blob {
    /// Its length in bytes.
    pub fn len(&self) -> io::Result<u64> {
        match self {
            Blob::File(f) => f.metadata().map(|m| m.len()),
            Blob::Row(c) => Ok(c.get_ref().len() as u64),
        }
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> io::Result<bool> {
        self.len().map(|n| n == 0)
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Blob::File(f) => f.read(buf),
            Blob::Row(c) => c.read(buf),
        }
    }
}

fn db_err(e: rusqlite::Error) -> io::Error {
    let kind = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        io::ErrorKind::StorageFull
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, format!("the state database: {e}"))
}

impl BlobStore {
    /// Opens (and creates) a store of files only at `dir`.
    pub fn open(dir: &Path) -> io::Result<BlobStore> {
        fs::create_dir_all(dir.join("tmp"))?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
            handle: Arc::new(Dir::open_ambient_dir(dir, ambient_authority())?),
            db: None,
            new: Arc::default(),
        })
    }

    /// Opens (and creates) the store at `dir`, keeping small contents as rows of the
    /// state database `db` (whose lock no caller of the store may hold).
    pub fn open_with_rows(dir: &Path, db: Arc<Mutex<Connection>>) -> io::Result<BlobStore> {
        let mut store = Self::open(dir)?;
        store.db = Some(db);
        Ok(store)
    }

    fn conn(&self) -> Option<MutexGuard<'_, Connection>> {
        self.db
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn new_rows(&self) -> MutexGuard<'_, HashMap<std::thread::ThreadId, NewRows>> {
        self.new.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this thread's snapshots already hold `hash` as a new content.
    fn holds_new(&self, hash: &str) -> bool {
        self.new_rows()
            .get(&std::thread::current().id())
            .is_some_and(|n| n.rows.contains_key(hash))
    }

    /// The small contents this thread's snapshots found new since its last call, to
    /// insert (with [`db::put_blobs`]) in the transaction that records their images. A
    /// call's snapshots and its transactions run on the call's thread, so these are that
    /// call's, whatever other changes run at the same time.
    pub fn take_new(&self) -> Vec<(String, Vec<u8>)> {
        let Some(new) = self.new_rows().remove(&std::thread::current().id()) else {
            return Vec::new();
        };
        let mut rows: Vec<_> = new.rows.into_iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// Keeps a new small content for [`BlobStore::take_new`]; past [`NEW_ROWS_MAX`] bytes
    /// held, inserts everything held in a transaction of its own (not synced: the
    /// transaction recording the images follows it in the write-ahead log, whose sync
    /// carries both).
    fn keep_new(&self, hash: String, data: Vec<u8>) -> io::Result<()> {
        let full = {
            let mut all = self.new_rows();
            let new = all.entry(std::thread::current().id()).or_default();
            new.bytes += data.len() as u64;
            new.rows.insert(hash, data);
            new.bytes > NEW_ROWS_MAX
        };
        if !full {
            return Ok(());
        }
        let rows = self.take_new();
        let Some(mut conn) = self.conn() else {
            return Ok(());
        };
        db::unsynced(&mut conn, |c| {
            let tx = c.transaction()?;
            db::put_blobs(&tx, &rows)?;
            tx.commit()
        })
        .and_then(|r| r)
        .map_err(db_err)
    }

    /// Where the blob with this hash lives when it is a file.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(Self::rel(hash))
    }

    /// Where the blob with this hash lives, inside the store.
    fn rel(hash: &str) -> PathBuf {
        let (a, b) = hash.split_at(2.min(hash.len()));
        Path::new(a).join(b)
    }

    /// True when the blob is stored as a file.
    pub fn contains_file(&self, hash: &str) -> bool {
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
        let len = f.len().unwrap_or(u64::MAX);
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
    ///
    /// A small content not stored as a file waits, in memory, for [`BlobStore::take_new`]:
    /// the transaction that records its images inserts it unless that row is there
    /// already (`INSERT OR IGNORE`), so no query asks first. Only small contents are
    /// rows, so a larger one is stored unless its file is there.
    pub fn put_file(&self, file: &mut cap_std::fs::File, len: u64) -> io::Result<(String, u64)> {
        if len <= SMALL {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)?;
            let hash = blake3::hash(&buf).to_hex().to_string();
            let size = buf.len() as u64;
            if self.holds_new(&hash) || self.contains_file(&hash) {
                return Ok((hash, size));
            }
            if self.db.is_some() && size <= INLINE_MAX {
                self.keep_new(hash.clone(), buf)?;
            } else {
                self.write_temp(&hash, |out| out.write_all(&buf))?;
            }
            return Ok((hash, size));
        }
        let (hash, size) = hash_reader(&mut *file)?;
        if self.contains_file(&hash) {
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

    /// Opens a stored blob, a row or a file (`NotFound` when it is neither).
    pub fn open_blob(&self, hash: &str) -> io::Result<Blob> {
        if let Some(conn) = self.conn()
            && let Some(data) = db::blob(&conn, hash).map_err(db_err)?
        {
            return Ok(Blob::Row(io::Cursor::new(data)));
        }
        File::open(self.path(hash)).map(Blob::File)
    }

    /// Every stored blob's hash, rows and files.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out = match self.conn() {
            Some(c) => db::blob_hashes(&c).map_err(db_err)?,
            None => Vec::new(),
        };
        out.extend(self.list_files()?);
        out.sort();
        Ok(out)
    }

    /// Every blob stored as a file, by hash.
    pub fn list_files(&self) -> io::Result<Vec<String>> {
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

    /// Removes a blob, a row or a file.
    pub fn remove(&self, hash: &str) -> io::Result<()> {
        if let Some(c) = self.conn()
            && db::remove_blob(&c, hash).map_err(db_err)?
        {
            return Ok(());
        }
        fs::remove_file(self.path(hash))
    }

    /// Bytes used by the store: its rows' contents and its files.
    pub fn bytes(&self) -> u64 {
        let rows = self
            .conn()
            .map(|c| db::blob_bytes(&c).unwrap_or(0))
            .unwrap_or(0);
        let files: u64 = self
            .list_files()
            .unwrap_or_default()
            .iter()
            .filter_map(|h| fs::metadata(self.path(h)).ok())
            .map(|m| m.len())
            .sum();
        rows + files
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

#[cfg(test)]
mod tests {
    use super::BlobStore;

    /// Changes to files apart run at once: the new contents one call's snapshots found
    /// are that call's transaction's to insert, never taken (and lost) by another's.
    #[test]
    fn each_thread_takes_only_the_new_contents_its_own_snapshots_found() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BlobStore::open(tmp.path()).unwrap();
        store.keep_new("a1".into(), b"from a".to_vec()).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                store.keep_new("b1".into(), b"from b".to_vec()).unwrap();
                assert!(store.holds_new("b1") && !store.holds_new("a1"));
                let taken = store.take_new();
                assert_eq!(taken, [("b1".to_string(), b"from b".to_vec())]);
            })
            .join()
            .unwrap();
        });
        assert!(store.holds_new("a1"));
        assert_eq!(store.take_new(), [("a1".to_string(), b"from a".to_vec())]);
        assert!(store.take_new().is_empty());
    }
}

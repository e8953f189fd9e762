//! Space kept in reserve for the audit log: a file of [`SIZE`] bytes in the state folder.
//!
//! On a full disk, a refused call must still leave its audit record. When writing a
//! record fails for lack of space, the reserve is given up and the write tried again;
//! the reserve is made again at the next start once there is room.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The file's name in the state folder.
pub const FILE: &str = "reserve";
/// Bytes kept in reserve: room for many audit records and their log frames.
pub const SIZE: usize = 512 * 1024;

/// Makes the reserve if it is missing or short (best effort: a full disk leaves it so).
pub fn ensure(dir: &Path) {
    let path = dir.join(FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= SIZE as u64) {
        return;
    }
    let res = (|| {
        let mut f = File::create(&path)?;
        // Real blocks, not a sparse file: zeros written out.
        f.write_all(&vec![0u8; SIZE])?;
        f.sync_all()
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&path);
    }
}

/// Gives the reserve up; true when there was one to give.
pub fn release(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(FILE)).is_ok()
}

/// True when an error means the disk (or the database's share of it) is full.
pub fn is_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

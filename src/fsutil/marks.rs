//! A folder of empty files, one per name, that several processes of one host share:
//! marking a name is atomic (exactly one process creates it), and marks older than their
//! use are swept as new ones are made. Names are hex (nonces); anything else is refused.

use std::path::PathBuf;
use std::time::Duration;

/// The marks in one folder.
#[derive(Debug, Clone)]
pub struct Marks {
    dir: PathBuf,
    keep: Duration,
}

fn is_hex(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Marks {
    /// The marks in `dir` (created when missing), each kept at least `keep`.
    pub fn open(dir: PathBuf, keep: Duration) -> std::io::Result<Marks> {
        std::fs::create_dir_all(&dir)?;
        Ok(Marks { dir, keep })
    }

    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Marks `name`: true when this call made the mark, false when it was there already
    /// (or the name is not hex, or the folder cannot be written).
    pub fn mark(&self, name: &str) -> bool {
        if !is_hex(name) {
            return false;
        }
        self.sweep();
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))
            .is_ok()
    }

    /// True when `name` is marked.
    pub fn contains(&self, name: &str) -> bool {
        is_hex(name) && self.dir.join(name).exists()
    }

    /// Removes the marks older than they are kept for.
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > self.keep);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_marked_once_across_handles() {
        let dir = tempfile::tempdir().unwrap();
        let a = Marks::open(dir.path().join("m"), Duration::from_secs(60)).unwrap();
        let b = Marks::open(dir.path().join("m"), Duration::from_secs(60)).unwrap();
        assert!(!a.contains("ab12"));
        assert!(a.mark("ab12"));
        assert!(!b.mark("ab12"));
        assert!(b.contains("ab12"));
        assert!(!a.mark("../x"), "not hex");
        assert!(!a.contains("../x"));
    }
}

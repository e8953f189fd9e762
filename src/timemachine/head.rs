//! The state's head: how many audit records and journal commits the database holds, and
//! the hash of the newest audit record, kept in a small file beside the database.
//!
//! The database cannot vouch for itself: deleted, truncated, replaced, or missing the
//! end of its write-ahead log, it opens as a valid but shorter journal. The head is
//! written after every durable audit batch (every change, undo, redo and recovery ends
//! with one), from the values that batch's synced transaction committed, so the database
//! is never legitimately behind it. On opening, a database behind its head (fewer records
//! or commits, or another record where the newest one was) is refused until the operator
//! runs `airun state reset`.
//!
//! The file holds two slots of [`SLOT`] bytes, each a head with a checksum; a write
//! overwrites the older slot in place, so a write torn by a power cut leaves the other
//! slot whole, and the newer whole slot counts. Writing in place costs no sync on the
//! answer's path: the head only ever lags the synced database (a lagging head is a prefix
//! of it), and it is synced with each checkpoint of the log. Each slot begins with the
//! lines of the older one-head file, which older versions read.

use crate::fsutil::{AtomicFile, Publish};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rusqlite::Connection;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The file's name in the state folder.
pub const FILE: &str = "head";
/// Bytes of one slot (one disk sector: written whole or not at all by most disks).
pub const SLOT: usize = 512;

/// What the database held after a commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Head {
    /// Audit records.
    pub audit_records: i64,
    /// Hash of the newest audit record (empty without records).
    pub audit_hash: String,
    /// Journal commits (finished operations, undos, redos, recoveries).
    pub commits: i64,
}

impl Head {
    fn parse(text: &str) -> Option<Head> {
        let mut lines = text.lines();
        if lines.next()? != "airun-state-head 1" {
            return None;
        }
        let mut audit = lines.next()?.strip_prefix("audit ")?.split(' ');
        let audit_records = audit.next()?.parse().ok()?;
        let audit_hash = audit.next().unwrap_or_default().to_string();
        let commits = lines.next()?.strip_prefix("commits ")?.parse().ok()?;
        Some(Head {
            audit_records,
            audit_hash,
            commits,
        })
    }

    fn render(&self) -> String {
        format!(
            "airun-state-head 1\naudit {} {}\ncommits {}\n",
            self.audit_records, self.audit_hash, self.commits
        )
    }

    /// The head as one slot: its lines, a checksum of them, and newlines up to [`SLOT`].
    fn render_slot(&self) -> Vec<u8> {
        let text = self.render();
        let check = blake3::hash(text.as_bytes()).to_hex();
        let mut slot = format!("{text}check {}\n", &check[..32]).into_bytes();
        slot.resize(SLOT, b'\n');
        slot
    }

    /// The head of a slot whose checksum holds.
    fn parse_slot(slot: &[u8]) -> Option<Head> {
        let text = std::str::from_utf8(slot).ok()?;
        let (lines, rest) = text.split_at(nth_line_end(text, 3)?);
        let check = rest.lines().next()?.strip_prefix("check ")?;
        let want = blake3::hash(lines.as_bytes()).to_hex();
        if check != &want[..32] {
            return None;
        }
        Head::parse(lines)
    }

    /// True when `self` has everything `other` has (the database moved on from it).
    fn covers(&self, other: &Head) -> bool {
        self.audit_records >= other.audit_records && self.commits >= other.commits
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} audit record(s), {} journal commit(s)",
            self.audit_records, self.commits
        )
    }
}

/// The head file of the state folder holding `conn`'s database.
fn file_of(conn: &Connection) -> Option<PathBuf> {
    let db = conn.path().filter(|p| !p.is_empty())?;
    Some(Path::new(db).with_file_name(FILE))
}

/// The byte just after the `n`th line of `text`.
fn nth_line_end(text: &str, n: usize) -> Option<usize> {
    text.match_indices('\n').nth(n - 1).map(|(i, _)| i + 1)
}

/// The head a head file holds: the newer whole slot of the two; or the one head of an
/// older file. `None` for a file of two empty slots (made, never written); `Err` when
/// nothing in it is a head.
fn parse_file(bytes: &[u8]) -> Result<Option<Head>, ()> {
    if bytes.len() != 2 * SLOT {
        let text = std::str::from_utf8(bytes).map_err(|_| ())?;
        return Head::parse(text).map(Some).ok_or(());
    }
    let slots = [&bytes[..SLOT], &bytes[SLOT..]];
    let newest = slots
        .iter()
        .filter_map(|s| Head::parse_slot(s))
        .max_by_key(|h| (h.audit_records, h.commits));
    match newest {
        Some(h) => Ok(Some(h)),
        None if bytes.iter().all(|b| *b == 0) => Ok(None),
        None => Err(()),
    }
}

fn not_a_head(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is not a head file", dir.join(FILE).display()),
    )
}

/// Reads the head file of a state folder (None when there is none).
pub fn read(dir: &Path) -> io::Result<Option<Head>> {
    match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => parse_file(&bytes).map_err(|()| not_a_head(dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The head of the database as it is now.
pub fn of_db(conn: &Connection) -> rusqlite::Result<Head> {
    let audit = super::db::last_audit(conn)?;
    let commits: Option<String> = super::db::meta(conn, "commits")?;
    let (audit_records, audit_hash) = audit.unwrap_or((0, String::new()));
    Ok(Head {
        audit_records,
        audit_hash,
        commits: commits.and_then(|c| c.parse().ok()).unwrap_or(0),
    })
}

/// Writes the database's current head to the head file, unless the file already holds
/// a newer one (another process committed since). Call it after a commit.
pub fn publish(conn: &Connection) -> io::Result<()> {
    let Some(path) = file_of(conn) else {
        return Ok(());
    };
    Writer::open(path.parent().unwrap_or(Path::new(".")))?.publish(conn)
}

/// Writes the head file of one state folder: the file and its lock file are opened once
/// and each write overwrites a slot in place.
#[derive(Debug)]
pub struct Writer {
    file: File,
    lock: File,
    /// Written since the last sync.
    dirty: std::sync::atomic::AtomicBool,
}

impl Writer {
    /// A writer for the head file of the state folder `dir`. A missing file, or one of
    /// the older one-head layout, is made (or remade) in the two-slot layout first,
    /// through a synced temporary file.
    pub fn open(dir: &Path) -> io::Result<Writer> {
        let lock = super::lock::lock_file(&dir.join("head.lock"))?;
        lock.lock()?;
        let made = Self::two_slots(dir);
        let unlocked = lock.unlock();
        made.and(unlocked)?;
        let file = File::options()
            .read(true)
            .write(true)
            .open(dir.join(FILE))?;
        Ok(Writer {
            file,
            lock,
            dirty: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Makes the head file two slots long, keeping the head it holds (the caller holds
    /// the lock).
    fn two_slots(dir: &Path) -> io::Result<()> {
        let bytes = match std::fs::read(dir.join(FILE)) {
            Ok(b) if b.len() == 2 * SLOT => return Ok(()),
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut file = vec![0u8; 2 * SLOT];
        if let Some(b) = bytes {
            let head = parse_file(&b).map_err(|()| not_a_head(dir))?;
            if let Some(h) = head {
                let slot = h.render_slot();
                file[..SLOT].copy_from_slice(&slot);
                file[SLOT..].copy_from_slice(&slot);
            }
        }
        let state = Dir::open_ambient_dir(dir, ambient_authority())?;
        // One writer at a time (the lock), so one temp name: a killed writer's is reused.
        let mut temp = AtomicFile::at(&state, PathBuf::from(format!("{FILE}.tmp")))?;
        temp.file().write_all(&file)?;
        temp.sync()?;
        temp.commit(Path::new(FILE), Publish::Replace)?;
        state.open(".")?.sync_all()
    }

    /// Writes the database's current head (see [`publish`]).
    pub fn publish(&self, conn: &Connection) -> io::Result<()> {
        self.write(&of_db(conn).map_err(io::Error::other)?)
    }

    /// Writes `head`, which a synced commit holds, unless the file already holds it or a
    /// newer one (another process committed since).
    pub fn write(&self, head: &Head) -> io::Result<()> {
        self.lock.lock()?;
        let written = self.overwrite(head);
        let unlocked = self.lock.unlock();
        written.and(unlocked)
    }

    /// Overwrites the older slot with `head` (the caller holds the lock).
    fn overwrite(&self, head: &Head) -> io::Result<()> {
        let mut bytes = vec![0u8; 2 * SLOT];
        self.file.read_exact_at(&mut bytes, 0)?;
        let slots = [
            Head::parse_slot(&bytes[..SLOT]),
            Head::parse_slot(&bytes[SLOT..]),
        ];
        let newest = match (&slots[0], &slots[1]) {
            (Some(a), Some(b)) if (b.audit_records, b.commits) > (a.audit_records, a.commits) => 1,
            (None, Some(_)) => 1,
            _ => 0,
        };
        if let Some(old) = &slots[newest]
            && (old == head || !head.covers(old))
        {
            return Ok(());
        }
        let at = if slots[newest].is_some() {
            1 - newest
        } else {
            0
        };
        self.file
            .write_all_at(&head.render_slot(), (at * SLOT) as u64)?;
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Syncs what was written since the last sync.
    pub fn sync(&self) -> io::Result<()> {
        if self.dirty.swap(false, std::sync::atomic::Ordering::AcqRel) {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// Checks the database against the head file of its folder: `Err` says what was lost.
/// Without a head file, one is written when the database has content.
pub fn check(conn: &Connection, dir: &Path) -> Result<(), String> {
    // The file first: it is written only after the database committed what it says, so
    // a database read after it is never behind it, whatever other processes commit.
    let known = read(dir).map_err(|e| format!("the head file cannot be read: {e}"))?;
    let now = of_db(conn).map_err(|e| format!("the state database cannot be read: {e}"))?;
    let Some(known) = known else {
        if now.audit_records > 0 || now.commits > 0 {
            let _ = publish(conn);
        }
        return Ok(());
    };
    if !now.covers(&known) {
        return Err(format!(
            "the database holds {now}, but {known} were written before (the database or its write-ahead log was deleted, truncated or replaced)"
        ));
    }
    if known.audit_records > 0 {
        let hash = super::db::audit_hash(conn, known.audit_records)
            .map_err(|e| format!("the state database cannot be read: {e}"))?;
        if hash.as_deref() != Some(known.audit_hash.as_str()) {
            return Err(format!(
                "audit record {} is not the one written before (the database was replaced or edited)",
                known.audit_records
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(n: i64) -> Head {
        Head {
            audit_records: n,
            audit_hash: format!("hash{n}"),
            commits: n / 2,
        }
    }

    #[test]
    fn each_write_takes_the_older_slot_and_a_torn_slot_leaves_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::open(dir.path()).unwrap();
        // A new file: two empty slots, no head yet.
        assert_eq!(read(dir.path()).unwrap(), None);
        for n in 1..=5 {
            w.write(&head(n)).unwrap();
            assert_eq!(read(dir.path()).unwrap(), Some(head(n)));
        }
        // An older head never replaces a newer one.
        w.write(&head(3)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(5)));
        // Head 5 went to the first slot (1, 3, 5), head 4 is in the second: tearing the
        // first leaves head 4, which the database covers.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40..60].fill(b'#');
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(4)));
        // The next write goes to the torn slot.
        let w = Writer::open(dir.path()).unwrap();
        w.write(&head(6)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(6)));
        // Garbage in both is not a head file.
        std::fs::write(&path, vec![b'#'; 2 * SLOT]).unwrap();
        assert!(read(dir.path()).is_err());
    }

    #[test]
    fn a_one_head_file_is_read_and_made_two_slots_keeping_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, head(7).render()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head(7)));
        let w = Writer::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
        assert_eq!(read(dir.path()).unwrap(), Some(head(7)));
        // Each slot starts with the lines the one-head layout had.
        w.write(&head(8)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(Head::parse(&text).is_some_and(|h| h == head(7) || h == head(8)));
        assert_eq!(read(dir.path()).unwrap(), Some(head(8)));
    }
}

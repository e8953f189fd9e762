//! The state's head: how many audit records and journal commits the database holds, and
//! the hash of the newest audit record, kept in a small file beside the database.
//!
//! The database cannot vouch for itself: deleted, truncated, replaced, or missing the
//! end of its write-ahead log, it opens as a valid but shorter journal. The head file is
//! written (to a temp name, synced, renamed) after every audit append (every call, undo,
//! redo and recovery ends with one), from values read out of the committed database, so
//! the database is never legitimately behind it. On opening,
//! a database behind its head (fewer records or commits, or another record where the
//! newest one was) is refused until the operator runs `airun state reset`.

use crate::fsutil::{AtomicFile, Publish};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rusqlite::Connection;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file's name in the state folder.
pub const FILE: &str = "head";

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

/// Reads the head file of a state folder (None when there is none).
pub fn read(dir: &Path) -> io::Result<Option<Head>> {
    match std::fs::read_to_string(dir.join(FILE)) {
        Ok(text) => Head::parse(&text).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a head file", dir.join(FILE).display()),
            )
        }),
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

/// Writes the head file of one state folder, holding the folder and its lock file open
/// so each write opens neither again.
#[derive(Debug)]
pub struct Writer {
    dir: PathBuf,
    state: Dir,
    lock: File,
}

impl Writer {
    /// A writer for the head file of the state folder `dir`.
    pub fn open(dir: &Path) -> io::Result<Writer> {
        Ok(Writer {
            dir: dir.to_path_buf(),
            state: Dir::open_ambient_dir(dir, ambient_authority())?,
            lock: super::lock::lock_file(&dir.join("head.lock"))?,
        })
    }

    /// Writes the database's current head (see [`publish`]).
    pub fn publish(&self, conn: &Connection) -> io::Result<()> {
        self.write(&of_db(conn).map_err(io::Error::other)?)
    }

    /// Writes `head`, read from the database after a commit, unless the file already
    /// holds a newer one.
    pub fn write(&self, head: &Head) -> io::Result<()> {
        self.lock.lock()?;
        let written = self.replace(head);
        let unlocked = self.lock.unlock();
        written.and(unlocked)
    }

    /// Replaces the head file with `head` (the caller holds the lock).
    fn replace(&self, head: &Head) -> io::Result<()> {
        if let Ok(Some(old)) = read(&self.dir)
            && (old == *head || !head.covers(&old))
        {
            return Ok(());
        }
        // One writer at a time (the lock), so one temp name: a killed writer's is reused.
        let mut temp = AtomicFile::at(&self.state, PathBuf::from(format!("{FILE}.tmp")))?;
        temp.file().write_all(head.render().as_bytes())?;
        temp.sync()?;
        temp.commit(Path::new(FILE), Publish::Replace)
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

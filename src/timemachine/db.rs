//! The SQLite database of one workspace: the undo journal and the audit log.

use super::image::{Entry, Kind, StatKey};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The schema's version, kept in the database's `user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    capability TEXT NOT NULL,
    params TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    targets TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ops_state ON ops(state);
CREATE TABLE IF NOT EXISTS images (
    op INTEGER NOT NULL,
    phase TEXT NOT NULL,
    target INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    blob TEXT,
    link TEXT,
    PRIMARY KEY (op, phase, target, ord)
);
CREATE INDEX IF NOT EXISTS images_blob ON images(blob);
CREATE TABLE IF NOT EXISTS stat_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    blob TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    workspace TEXT NOT NULL,
    capability TEXT NOT NULL,
    params TEXT NOT NULL,
    decision TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    op INTEGER,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"#;

/// Opens (creating) the database with WAL and a busy timeout so several processes can
/// share it; commits are synced.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Every commit is synced before it returns, so an answered change survives a power
    // cut (a torn log cannot roll it back). Only the intent of a change is written
    // without (see `TimeMachine::begin`).
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Leave the write-ahead log for the next process instead of checkpointing it on every
    // exit (SQLite still checkpoints it as it grows): short CLI runs stay cheap.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    // The schema is set up once per database, not parsed again on every start.
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(conn)
}

/// Phase of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the handler ran.
    Before,
    /// After it succeeded.
    After,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::After => "after",
        }
    }
}

/// Stores the image of one target.
pub fn put_image(
    conn: &Connection,
    op: i64,
    phase: Phase,
    target: usize,
    image: &[Entry],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO images (op, phase, target, ord, path, kind, mode, size, blob, link) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (ord, e) in image.iter().enumerate() {
        stmt.execute(params![
            op,
            phase.as_str(),
            target as i64,
            ord as i64,
            e.path,
            e.kind.as_str(),
            e.mode,
            e.size as i64,
            e.blob,
            e.link
        ])?;
    }
    Ok(())
}

/// Loads the images of an op for a phase, one per target, in target order.
pub fn images(conn: &Connection, op: i64, phase: Phase) -> rusqlite::Result<Vec<Vec<Entry>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, path, kind, mode, size, blob, link FROM images WHERE op = ?1 AND phase = ?2 ORDER BY target, ord",
    )?;
    let rows = stmt.query_map(params![op, phase.as_str()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Entry {
                path: r.get(1)?,
                kind: Kind::parse(&r.get::<_, String>(2)?),
                mode: r.get(3)?,
                size: r.get::<_, i64>(4)? as u64,
                blob: r.get(5)?,
                link: r.get(6)?,
            },
        ))
    })?;
    let mut out: Vec<Vec<Entry>> = Vec::new();
    for row in rows {
        let (t, e) = row?;
        while out.len() <= t as usize {
            out.push(Vec::new());
        }
        out[t as usize].push(e);
    }
    Ok(out)
}

/// A meta value.
pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Sets a meta value.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The stat cache: the hash of each workspace file as of its last snapshot, by path.
pub fn stat_cache(conn: &Connection) -> rusqlite::Result<HashMap<String, (StatKey, String)>> {
    let mut stmt = conn
        .prepare_cached("SELECT path, size, mtime_ns, ctime_ns, ino, dev, blob FROM stat_cache")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (
                StatKey {
                    size: r.get::<_, i64>(1)? as u64,
                    mtime_ns: r.get(2)?,
                    ctime_ns: r.get(3)?,
                    ino: r.get::<_, i64>(4)? as u64,
                    dev: r.get::<_, i64>(5)? as u64,
                },
                r.get::<_, String>(6)?,
            ),
        ))
    })?;
    rows.collect()
}

/// Stores new stat-cache entries and forgets `gone` paths.
pub fn update_stat_cache(
    conn: &mut Connection,
    updates: &[(String, StatKey, String)],
    gone: &[String],
) -> rusqlite::Result<()> {
    if updates.is_empty() && gone.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO stat_cache (path, size, mtime_ns, ctime_ns, ino, dev, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (path, k, blob) in updates {
            put.execute(params![
                path,
                k.size as i64,
                k.mtime_ns,
                k.ctime_ns,
                k.ino as i64,
                k.dev as i64,
                blob
            ])?;
        }
        let mut del = tx.prepare_cached("DELETE FROM stat_cache WHERE path = ?1")?;
        for path in gone {
            del.execute([path])?;
        }
    }
    tx.commit()
}

//! The SQLite database of one workspace: the undo journal and the audit log.

use super::audit::{AuditQuery, Record};
use super::image::{Entry, Kind, StatKey};
use crate::hooks::{OpId, OpInfo, PrincipalSummary, Session, SessionSummary, Transport};
use crate::types::OpState;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// The schema's version, kept in the database's `user_version`.
const SCHEMA_VERSION: i64 = 5;

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

/// Version 2: every operation names the agent session that made it (existing ones keep
/// none), and each session's transport and client are kept once.
const SESSIONS: &str = r#"
ALTER TABLE ops ADD COLUMN session TEXT;
CREATE INDEX IF NOT EXISTS ops_session ON ops(session);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    transport TEXT NOT NULL,
    client_name TEXT,
    client_version TEXT,
    started TEXT NOT NULL
);
"#;

/// Version 4: small contents (see [`super::blobs::INLINE_MAX`]) are rows here instead of
/// files under `blobs/`, written in the transaction that records the images referring to
/// them. Existing file blobs stay files and keep working.
const BLOB_DATA: &str = r#"
CREATE TABLE IF NOT EXISTS blob_data (hash TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
"#;

/// Version 5: the changes whose files may not be on disk yet (see
/// [`super::settle`]): each committed change's op, with the boot and the process it was
/// made in, until the file systems its folders are on were synced after it.
const UNSYNCED_CHANGES: &str = r#"
CREATE TABLE IF NOT EXISTS unsynced_changes (
    op INTEGER PRIMARY KEY,
    boot TEXT NOT NULL,
    pid INTEGER NOT NULL
);
"#;

/// Version 3: every operation and audit record names its principal (who made it). Existing
/// operations read as the operator's; existing audit records keep no principal (NULL, read
/// as the operator's), so their hashes, which never covered one, still verify.
fn add_principals(tx: &Connection) -> rusqlite::Result<()> {
    if !has_column(tx, "ops", "principal")? {
        tx.execute_batch(&format!(
            "ALTER TABLE ops ADD COLUMN principal TEXT NOT NULL DEFAULT '{}';",
            crate::users::OPERATOR
        ))?;
    }
    if !has_column(tx, "audit", "principal")? {
        tx.execute_batch("ALTER TABLE audit ADD COLUMN principal TEXT;")?;
    }
    tx.execute_batch("CREATE INDEX IF NOT EXISTS ops_principal ON ops(principal);")
}

/// True when `table` has a column `column`.
fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.prepare("SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)")?
        .query_row(params![table, column], |r| r.get(0))
}

/// Brings a database of schema `version` up to [`SCHEMA_VERSION`], in one transaction
/// (a crash leaves it at the version it had).
fn migrate(conn: &mut Connection, version: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have migrated it since the version was read.
    let version = tx
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .unwrap_or(version);
    if version < 1 {
        tx.execute_batch(SCHEMA)?;
    }
    if version < 2 {
        tx.execute_batch(SESSIONS)?;
    }
    if version < 3 {
        add_principals(&tx)?;
    }
    if version < 4 {
        tx.execute_batch(BLOB_DATA)?;
    }
    if version < 5 {
        tx.execute_batch(UNSYNCED_CHANGES)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Opens (creating) the database with WAL and a busy timeout so several processes can
/// share it; commits are synced.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    // Room for every statement a call runs, so none is parsed again.
    conn.set_prepared_statement_cache_capacity(64);
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Commits are synced before they return unless written with `unsynced`: the intent
    // of a change (see `TimeMachine::begin`), its commit, and the audit records, whose
    // batch writer syncs the log itself before any answer goes out (see `batch`). So an
    // answered change survives a power cut (a torn log cannot roll it back).
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
        migrate(&mut conn, version)?;
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
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Sets a meta value.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// The stat cache of `under` (a workspace-relative path, `.` for all) and everything
/// below it: the hash of each file as of its last snapshot, by path, and whether that
/// content is stored as a row of `blob_data`.
pub fn stat_cache(
    conn: &Connection,
    under: &str,
) -> rusqlite::Result<HashMap<String, (StatKey, String, bool)>> {
    const SELECT: &str = "SELECT s.path, s.size, s.mtime_ns, s.ctime_ns, s.ino, s.dev, s.blob, EXISTS (SELECT 1 FROM blob_data b WHERE b.hash = s.blob) FROM stat_cache s";
    // Paths below `under` sort from `under/` up to (not including) `under0`: '0' follows
    // '/' in every collation by bytes.
    let (mut stmt, args) = if under == "." {
        (conn.prepare_cached(SELECT)?, Vec::new())
    } else {
        (
            conn.prepare_cached(&format!(
                "{SELECT} WHERE s.path = ?1 OR (s.path >= ?2 AND s.path < ?3)"
            ))?,
            vec![under.to_string(), format!("{under}/"), format!("{under}0")],
        )
    };
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
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
                r.get::<_, bool>(7)?,
            ),
        ))
    })?;
    rows.collect()
}

/// Stores new stat-cache entries and forgets `gone` paths (one transaction: callers with
/// neither skip it, without taking the connection).
pub fn update_stat_cache(
    conn: &mut Connection,
    updates: &[(String, StatKey, String)],
    gone: &[String],
) -> rusqlite::Result<()> {
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

/// The columns of an op a journal event names it by.
pub struct OpRow {
    /// Who made it.
    pub principal: String,
    /// The capability id.
    pub capability: String,
    /// The call's parameters, as JSON text.
    pub params: String,
    /// Its history line (empty until it is committed).
    pub summary: String,
    /// Its undo targets, as a JSON list.
    pub targets: String,
}

/// A new op's columns.
#[derive(Clone, Copy)]
pub struct NewOp<'a> {
    /// When it started.
    pub started: &'a str,
    /// The capability id.
    pub capability: &'a str,
    /// The call's parameters, as JSON text.
    pub params: &'a str,
    /// Its first state.
    pub state: OpState,
    /// Its undo targets, as a JSON list.
    pub targets: &'a str,
    /// The agent session that made it, when known.
    pub session: Option<&'a Session>,
    /// Who made it.
    pub principal: &'a str,
}

/// Records a new op; returns its id.
pub fn insert_op(conn: &Connection, op: &NewOp<'_>) -> rusqlite::Result<OpId> {
    let NewOp {
        started,
        capability,
        params,
        state,
        targets,
        session,
        principal,
    } = *op;
    if let Some(s) = session {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO sessions (id, transport, client_name, client_version, started) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            s.id,
            s.transport.as_str(),
            s.client_name,
            s.client_version,
            started
        ])?;
    }
    conn.prepare_cached(
        "INSERT INTO ops (started, capability, params, state, targets, session, principal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        started,
        capability,
        params,
        state.as_str(),
        targets,
        session.map(|s| s.id.as_str()),
        principal
    ])?;
    Ok(conn.last_insert_rowid())
}

/// An op's row.
pub fn op_row(conn: &Connection, id: OpId) -> rusqlite::Result<OpRow> {
    conn.prepare_cached(
        "SELECT capability, params, summary, targets, principal FROM ops WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(OpRow {
            capability: r.get(0)?,
            params: r.get(1)?,
            summary: r.get(2)?,
            targets: r.get(3)?,
            principal: r.get(4)?,
        })
    })
}

/// An op as history shows it, with its undo targets (a JSON list).
pub fn op_info(conn: &Connection, id: OpId) -> rusqlite::Result<(OpInfo, String)> {
    conn.prepare_cached(
        "SELECT id, started, capability, summary, state, targets, session, principal FROM ops WHERE id = ?1",
    )?
    .query_row([id], |r| {
        let info = OpInfo {
            op: r.get(0)?,
            time: r.get(1)?,
            capability: r.get(2)?,
            summary: r.get(3)?,
            state: state_of(r, 4)?,
            session: r.get(6)?,
            principal: r.get(7)?,
        };
        Ok((info, r.get(5)?))
    })
}

/// Reads an op state stored in column `i`.
fn state_of(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<OpState> {
    let name: String = r.get(i)?;
    OpState::parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown operation state `{name}`").into(),
        )
    })
}

/// Moves an op to `state`.
pub fn set_state(
    conn: &Connection,
    id: OpId,
    state: OpState,
    finished: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE ops SET state = ?1, finished = ?2 WHERE id = ?3")?
        .execute(params![state.as_str(), finished, id])?;
    Ok(())
}

/// Ends an op in `state` with its history line (and what keeping it costs, when known).
pub fn settle(
    conn: &Connection,
    id: OpId,
    state: OpState,
    summary: &str,
    finished: &str,
    bytes: Option<u64>,
) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE ops SET state = ?1, summary = ?2, finished = ?3, bytes = COALESCE(?4, bytes) WHERE id = ?5")?.execute(params![
            state.as_str(),
            summary,
            finished,
            bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            id
        ],
    )?;
    Ok(())
}

/// Gives an op its history line.
pub fn set_summary(conn: &Connection, id: OpId, summary: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE ops SET summary = ?1 WHERE id = ?2")?
        .execute(params![summary, id])?;
    Ok(())
}

/// Removes an op and its images.
pub fn forget(conn: &Connection, id: OpId) -> rusqlite::Result<()> {
    drop_images(conn, id)?;
    conn.prepare_cached("DELETE FROM ops WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Gives up an op's undo point: its images go, it stays in history as `expired`.
pub fn expire(conn: &Connection, id: OpId) -> rusqlite::Result<()> {
    drop_images(conn, id)?;
    conn.prepare_cached("UPDATE ops SET state = ?1 WHERE id = ?2")?
        .execute(params![OpState::Expired.as_str(), id])?;
    Ok(())
}

fn drop_images(conn: &Connection, id: OpId) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM images WHERE op = ?1")?
        .execute([id])?;
    Ok(())
}

/// Ops a crash left between two states, newest first.
pub fn unsettled(conn: &Connection) -> rusqlite::Result<Vec<(OpId, OpState)>> {
    // Sorted here, not by SQLite: an `ORDER BY` would build a temporary b-tree on every
    // look, and this runs each time the operation lock is taken (mostly finding nothing).
    let mut stmt =
        conn.prepare_cached("SELECT id, state FROM ops WHERE state IN (?1, ?2, ?3, ?4)")?;
    let states = [
        OpState::Pending,
        OpState::Running,
        OpState::Undoing,
        OpState::Redoing,
    ]
    .map(OpState::as_str);
    let mut ops: Vec<(OpId, OpState)> = stmt
        .query_map(states, |r| Ok((r.get(0)?, state_of(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    ops.sort_unstable_by_key(|op| std::cmp::Reverse(op.0));
    Ok(ops)
}

/// Records that the files of change `op` may not be on disk yet: only the log holds
/// what it wrote until the file system is synced (see [`super::settle`]).
pub fn add_unsynced(conn: &Connection, op: OpId, boot: &str, pid: u32) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO unsynced_changes (op, boot, pid) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![op, boot, pid])?;
    Ok(())
}

/// Forgets the changes `ops` as unsynced: their files are on disk.
pub fn remove_unsynced(conn: &Connection, ops: &[OpId]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM unsynced_changes WHERE op = ?1")?;
    for op in ops {
        stmt.execute([op])?;
    }
    Ok(())
}

/// Ids of the changes of process `pid` whose files may not be on disk yet.
pub fn unsynced_ops_of(conn: &Connection, pid: u32) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT op FROM unsynced_changes WHERE pid = ?1",
        [pid],
    )
}

/// A change whose files may not be on disk yet, as [`unsynced_changes`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsynced {
    /// The op.
    pub op: OpId,
    /// The boot it was made in (see [`super::settle::boot_id`]).
    pub boot: String,
    /// The process that made it.
    pub pid: u32,
    /// Its state now (`None` once it is gone from the journal).
    pub state: Option<OpState>,
    /// Whether an op after it is neither unsynced nor unfinished: its files are on disk,
    /// so this change's may have been changed since by something the journal cannot
    /// replay.
    pub superseded: bool,
}

/// The changes whose files may not be on disk yet, oldest first.
pub fn unsynced_changes(conn: &Connection) -> rusqlite::Result<Vec<Unsynced>> {
    // The newest op whose files are on disk: neither unsynced nor between two states.
    let settled: OpId = conn
        .prepare_cached(
            "SELECT COALESCE(MAX(id), 0) FROM ops WHERE id NOT IN (SELECT op FROM unsynced_changes) AND state NOT IN (?1, ?2, ?3, ?4)",
        )?
        .query_row(
            [
                OpState::Pending,
                OpState::Running,
                OpState::Undoing,
                OpState::Redoing,
            ]
            .map(OpState::as_str),
            |r| r.get(0),
        )?;
    let mut stmt = conn.prepare_cached(
        "SELECT u.op, u.boot, u.pid, o.state FROM unsynced_changes u LEFT JOIN ops o ON o.id = u.op ORDER BY u.op",
    )?;
    stmt.query_map([], |r| {
        let op: OpId = r.get(0)?;
        let state = match r.get::<_, Option<String>>(3)? {
            Some(_) => Some(state_of(r, 3)?),
            None => None,
        };
        Ok(Unsynced {
            op,
            boot: r.get(1)?,
            pid: r.get(2)?,
            state,
            superseded: op < settled,
        })
    })?
    .collect()
}

/// Ids of the done ops from `from` on (of `principal` only, when given), newest first.
pub fn done_since(
    conn: &Connection,
    from: OpId,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT id FROM ops WHERE state = ?1 AND id >= ?2 AND (?3 IS NULL OR principal = ?3) ORDER BY id DESC",
        params![OpState::Done.as_str(), from, principal],
    )
}

/// Ids of the done ops of `session` (from `from` on, when given; of `principal` only,
/// when given), newest first.
pub fn session_done(
    conn: &Connection,
    session: &str,
    from: Option<OpId>,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT id FROM ops WHERE state = ?1 AND session = ?2 AND id >= ?3 AND (?4 IS NULL OR principal = ?4) ORDER BY id DESC",
        params![
            OpState::Done.as_str(),
            session,
            from.unwrap_or(0),
            principal
        ],
    )
}

/// Ids of the newest `limit` ops of `session` history shows, newest first.
pub fn session_history(
    conn: &Connection,
    session: &str,
    limit: usize,
) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT id FROM ops WHERE state != ?1 AND session = ?2 ORDER BY id DESC LIMIT ?3",
        params![OpState::Pending.as_str(), session, count(limit)],
    )
}

/// True when the journal has ever recorded `session`.
pub fn session_known(conn: &Connection, session: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
        .query_row([session], |r| r.get(0))
}

/// The sessions with operations in history (of `principal` only, when given), the most
/// recently active first; a session is listed once per principal it recorded operations
/// for.
pub fn sessions(
    conn: &Connection,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<SessionSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.transport, s.client_name, s.client_version, MIN(o.started), MAX(o.started), COUNT(o.id), SUM(o.state = ?1), o.principal \
         FROM sessions s JOIN ops o ON o.session = s.id WHERE o.state != ?2 AND (?3 IS NULL OR o.principal = ?3) \
         GROUP BY s.id, o.principal ORDER BY MAX(o.id) DESC",
    )?;
    let rows = stmt.query_map(
        params![OpState::Done.as_str(), OpState::Pending.as_str(), principal],
        |r| {
            let transport: String = r.get(1)?;
            Ok(SessionSummary {
                session: r.get(0)?,
                transport: Transport::parse(&transport).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        format!("unknown session transport `{transport}`").into(),
                    )
                })?,
                client_name: r.get(2)?,
                client_version: r.get(3)?,
                first: r.get(4)?,
                last: r.get(5)?,
                ops: usize::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                undoable: usize::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
                principal: r.get(8)?,
            })
        },
    )?;
    rows.collect()
}

/// Everyone with operations in history, by name, with their counts.
pub fn principals(conn: &Connection) -> rusqlite::Result<Vec<PrincipalSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT principal, MIN(started), MAX(started), COUNT(id), SUM(state = ?1) FROM ops \
         WHERE state != ?2 GROUP BY principal ORDER BY principal",
    )?;
    let rows = stmt.query_map(
        params![OpState::Done.as_str(), OpState::Pending.as_str()],
        |r| {
            Ok(PrincipalSummary {
                principal: r.get(0)?,
                first: r.get(1)?,
                last: r.get(2)?,
                ops: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                undoable: usize::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            })
        },
    )?;
    rows.collect()
}

/// The ops after `after` whose changes stand (done or irreversible), newest first: id,
/// principal and undo targets (a JSON list).
pub fn standing_after(
    conn: &Connection,
    after: OpId,
) -> rusqlite::Result<Vec<(OpId, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, principal, targets FROM ops WHERE id > ?1 AND state IN (?2, ?3) ORDER BY id DESC",
    )?;
    let rows = stmt.query_map(
        params![
            after,
            OpState::Done.as_str(),
            OpState::Irreversible.as_str()
        ],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    rows.collect()
}

/// Ids of the newest `n` done ops (of `principal` only, when given), newest first.
pub fn newest_done(
    conn: &Connection,
    n: usize,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT id FROM ops WHERE state = ?1 AND (?3 IS NULL OR principal = ?3) ORDER BY id DESC LIMIT ?2",
        params![OpState::Done.as_str(), count(n), principal],
    )
}

/// Ids of the oldest `n` undone ops that nothing newer has settled after, oldest first.
/// With a `principal`, only theirs, and only their own newer ops end the chain.
pub fn redoable(
    conn: &Connection,
    n: usize,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT id FROM ops WHERE state = ?1 AND (?7 IS NULL OR principal = ?7) AND id > COALESCE((SELECT MAX(id) FROM ops WHERE state IN (?2, ?3, ?4, ?5) AND (?7 IS NULL OR principal = ?7)), 0) ORDER BY id ASC LIMIT ?6",
        params![
            OpState::Undone.as_str(),
            OpState::Done.as_str(),
            OpState::Irreversible.as_str(),
            OpState::Interrupted.as_str(),
            OpState::Damaged.as_str(),
            count(n),
            principal
        ],
    )
}

/// Ids of the newest `limit` ops history shows (of `principal` only, when given), newest
/// first.
pub fn history(
    conn: &Connection,
    limit: usize,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<OpId>> {
    ids(
        conn,
        "SELECT id FROM ops WHERE state != ?1 AND (?3 IS NULL OR principal = ?3) ORDER BY id DESC LIMIT ?2",
        params![OpState::Pending.as_str(), count(limit), principal],
    )
}

/// How many ops can be undone.
pub fn count_done(conn: &Connection) -> rusqlite::Result<usize> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM ops WHERE state = ?1")?
        .query_row([OpState::Done.as_str()], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// How many ops hold undo points, and the bytes they keep.
pub fn kept_totals(conn: &Connection) -> rusqlite::Result<(usize, u64)> {
    conn.prepare_cached(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM ops WHERE state IN (?1, ?2, ?3)",
    )?
    .query_row(
        params![
            OpState::Done.as_str(),
            OpState::Undone.as_str(),
            OpState::Interrupted.as_str()
        ],
        |r| {
            let n: i64 = r.get(0)?;
            let b: i64 = r.get(1)?;
            Ok((
                usize::try_from(n).unwrap_or(0),
                u64::try_from(b).unwrap_or(0),
            ))
        },
    )
}

/// The ops that keep images, oldest first, with what each costs.
pub fn kept_ops(conn: &Connection) -> rusqlite::Result<Vec<(OpId, u64)>> {
    let mut stmt =
        conn.prepare("SELECT id, bytes FROM ops WHERE state IN (?1, ?2, ?3, ?4) ORDER BY id")?;
    let states = [
        OpState::Done,
        OpState::Undone,
        OpState::Interrupted,
        OpState::Damaged,
    ]
    .map(OpState::as_str);
    stmt.query_map(states, |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect()
}

/// Every blob some image refers to.
pub fn referenced_blobs(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT blob FROM images WHERE blob IS NOT NULL")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Stores small contents as rows (inside the transaction that records the images
/// referring to them); a content stored already is left as it is.
pub fn put_blobs(conn: &Connection, blobs: &[(String, Vec<u8>)]) -> rusqlite::Result<()> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO blob_data (hash, data) VALUES (?1, ?2)")?;
    for (hash, data) in blobs {
        stmt.execute(params![hash, data])?;
    }
    Ok(())
}

/// The content stored as a row under `hash`, if any.
pub fn blob(conn: &Connection, hash: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT data FROM blob_data WHERE hash = ?1")?
        .query_row([hash], |r| r.get(0))
        .optional()
}

/// The hashes of every content stored as a row.
pub fn blob_hashes(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT hash FROM blob_data")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Bytes of content stored as rows.
pub fn blob_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(SUM(length(data)), 0) FROM blob_data")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
}

/// Removes the row stored under `hash`; true when there was one.
pub fn remove_blob(conn: &Connection, hash: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM blob_data WHERE hash = ?1")?
        .execute([hash])?
        > 0)
}

/// Removes every row no image refers to, in one statement; returns how many.
pub fn remove_unreferenced_blobs(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM blob_data WHERE hash NOT IN (SELECT blob FROM images WHERE blob IS NOT NULL)",
        [],
    )
}

/// Moves the write-ahead log into the database and empties it.
pub fn checkpoint_wal(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

/// Whether commits are synced before they return: `FULL` or `NORMAL`.
pub fn set_synchronous(conn: &Connection, level: &str) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", level)
}

/// True when commits are synced (`FULL` or more).
pub fn synced(conn: &Connection) -> rusqlite::Result<bool> {
    let level: i64 = conn
        .prepare_cached("PRAGMA synchronous")?
        .query_row([], |r| r.get(0))?;
    Ok(level >= 2)
}

/// Runs `f` with commits not synced (`NORMAL`), then puts the level it had back.
pub fn unsynced<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> T,
) -> rusqlite::Result<T> {
    let level: i64 = conn
        .prepare_cached("PRAGMA synchronous")?
        .query_row([], |r| r.get(0))?;
    set_level(conn, 1)?;
    let out = f(conn);
    set_level(conn, level)?;
    Ok(out)
}

/// Sets `synchronous` to a level by number, through a cached statement.
fn set_level(conn: &Connection, level: i64) -> rusqlite::Result<()> {
    let sql = match level {
        0 => "PRAGMA synchronous = 0",
        1 => "PRAGMA synchronous = 1",
        2 => "PRAGMA synchronous = 2",
        _ => "PRAGMA synchronous = 3",
    };
    conn.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

/// Counts one journal commit (inside the committing transaction).
pub fn count_commit(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('commits', '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
    )?
    .execute([])?;
    Ok(())
}

/// The newest audit record's number and hash.
pub fn last_audit(conn: &Connection) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// The hash of audit record `seq`.
pub fn audit_hash(conn: &Connection, seq: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT hash FROM audit WHERE seq = ?1")?
        .query_row([seq], |r| r.get(0))
        .optional()
}

/// Appends audit records whose numbers and hashes are set.
pub fn insert_audit(conn: &Connection, records: &[Record]) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit (seq, time, user, workspace, capability, params, decision, outcome, duration_ms, op, prev_hash, hash, principal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for r in records {
        let columns = r.columns().into_iter().chain([r.stored_principal()]);
        insert.execute(rusqlite::params_from_iter(columns))?;
    }
    Ok(())
}

/// The audit columns a [`Record`] is read from, in [`audit_row`]'s order.
const AUDIT_COLUMNS: &str = "seq, time, user, workspace, capability, params, decision, outcome, duration_ms, op, prev_hash, hash, principal";

/// Audit records (of `principal` only, when given), oldest first; `limit` keeps the newest
/// ones.
pub fn audit_records(
    conn: &Connection,
    limit: Option<usize>,
    principal: Option<&str>,
) -> rusqlite::Result<Vec<Record>> {
    // The newest `limit` records (all with -1), oldest first.
    let mut stmt = conn.prepare(&format!(
        "SELECT * FROM (SELECT {AUDIT_COLUMNS} FROM audit WHERE ?2 IS NULL OR COALESCE(principal, ?3) = ?2 ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
    ))?;
    let limit = limit.map_or(-1, count);
    // Rows written before airun kept principals (NULL) are the operator's.
    let rows = stmt.query_map(params![limit, principal, crate::users::OPERATOR], audit_row)?;
    rows.collect()
}

/// One page of audit records, oldest first: at most `q.limit` records after `q.after`
/// that match the query's filters.
pub fn audit_page(conn: &Connection, q: &AuditQuery) -> rusqlite::Result<Vec<Record>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit \
         WHERE seq > ?1 AND (?2 IS NULL OR capability = ?2) AND (?3 IS NULL OR decision = ?3) \
         AND (?4 IS NULL OR time >= ?4) AND (?5 IS NULL OR time < ?5) \
         AND (?7 IS NULL OR COALESCE(principal, ?8) = ?7) ORDER BY seq LIMIT ?6",
    ))?;
    let rows = stmt.query_map(
        params![
            q.after,
            q.capability,
            q.decision,
            q.since,
            q.until,
            count(q.limit),
            q.principal,
            crate::users::OPERATOR
        ],
        audit_row,
    )?;
    rows.collect()
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let principal: Option<String> = r.get(12)?;
    Ok(Record {
        seq: r.get(0)?,
        time: r.get(1)?,
        user: r.get(2)?,
        workspace: r.get(3)?,
        capability: r.get(4)?,
        params: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or(serde_json::Value::Null),
        decision: r.get(6)?,
        outcome: r.get(7)?,
        duration_ms: r.get(8)?,
        op: r.get(9)?,
        prev_hash: r.get(10)?,
        hash: r.get(11)?,
        principal_chained: principal.is_some(),
        principal: principal.unwrap_or_else(|| crate::users::OPERATOR.to_string()),
    })
}

/// A count as SQLite takes it.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn ids(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> rusqlite::Result<Vec<OpId>> {
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_map(args, |r| r.get(0))?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of schema 1, as airun created it before sessions, with one op in it.
    fn schema_1(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO ops (started, capability, params, state, targets) VALUES ('2026-01-01T00:00:00.000Z', 'io.fs.write_file', '{}', 'done', '[\"a.txt\"]')",
            [],
        )
        .unwrap();
    }

    /// Records an op of `io.fs.write_file` in `state`.
    fn new_op(conn: &Connection, state: OpState) -> OpId {
        insert_op(
            conn,
            &NewOp {
                started: "2026-01-01T00:00:00.000Z",
                capability: "io.fs.write_file",
                params: "{}",
                state,
                targets: "[]",
                session: None,
                principal: crate::users::OPERATOR,
            },
        )
        .unwrap()
    }

    #[test]
    fn unsettled_ops_come_newest_first_and_settled_ones_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("airun.db")).unwrap();
        let states = [
            OpState::Running,
            OpState::Done,
            OpState::Undoing,
            OpState::Pending,
            OpState::Interrupted,
            OpState::Redoing,
            OpState::Running,
        ];
        let ids: Vec<OpId> = states.iter().map(|&state| new_op(&conn, state)).collect();
        let want: Vec<(OpId, OpState)> = ids
            .iter()
            .zip(states)
            .filter(|(_, s)| !matches!(s, OpState::Done | OpState::Interrupted))
            .map(|(id, s)| (*id, s))
            .rev()
            .collect();
        assert_eq!(unsettled(&conn).unwrap(), want);
    }

    #[test]
    fn an_unsynced_change_a_later_settled_one_follows_is_superseded() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("airun.db")).unwrap();
        let op = |state| new_op(&conn, state);
        // Listed, then a change whose files are on disk (not listed), then listed ones
        // and one still running.
        let first = op(OpState::Done);
        op(OpState::Undone);
        let second = op(OpState::Done);
        let gone = op(OpState::Done);
        op(OpState::Running);
        for id in [first, second, gone] {
            add_unsynced(&conn, id, "boot-a", 7).unwrap();
        }
        forget(&conn, gone).unwrap();
        let listed = unsynced_changes(&conn).unwrap();
        let seen: Vec<(OpId, Option<OpState>, bool)> = listed
            .iter()
            .map(|u| (u.op, u.state, u.superseded))
            .collect();
        assert_eq!(
            seen,
            [
                (first, Some(OpState::Done), true),
                (second, Some(OpState::Done), false),
                (gone, None, false),
            ]
        );
        assert!(listed.iter().all(|u| u.boot == "boot-a" && u.pid == 7));
        assert_eq!(unsynced_ops_of(&conn, 7).unwrap().len(), 3);
        assert!(unsynced_ops_of(&conn, 8).unwrap().is_empty());
        remove_unsynced(&conn, &[first, second]).unwrap();
        assert_eq!(unsynced_ops_of(&conn, 7).unwrap(), [gone]);
    }

    #[test]
    fn a_schema_1_database_gets_sessions_and_keeps_its_ops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airun.db");
        schema_1(&path);
        let conn = open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let (info, _) = op_info(&conn, 1).unwrap();
        assert_eq!(info.state, OpState::Done);
        assert_eq!(info.session, None);
        assert!(sessions(&conn, None).unwrap().is_empty());
        let s = Session {
            id: "s1".into(),
            transport: Transport::Stdio,
            client_name: Some("c".into()),
            client_version: None,
        };
        let id = insert_op(
            &conn,
            &NewOp {
                started: "t",
                capability: "io.fs.write_file",
                params: "{}",
                state: OpState::Done,
                targets: "[]",
                session: Some(&s),
                principal: "operator",
            },
        )
        .unwrap();
        assert_eq!(op_info(&conn, id).unwrap().0.session.as_deref(), Some("s1"));
        assert_eq!(session_done(&conn, "s1", None, None).unwrap(), vec![id]);
        let list = sessions(&conn, None).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].ops, list[0].undoable), (1, 1));
        drop(conn);
        // Opening again does not migrate twice.
        let conn = open(&path).unwrap();
        assert_eq!(history(&conn, 10, None).unwrap(), vec![id, 1]);
    }

    /// A database of schema 2, as airun wrote it before principals: one op, and two
    /// audit records chained the way airun chained them then (no principal).
    fn schema_2(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(SESSIONS).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute(
            "INSERT INTO ops (started, capability, params, state, targets) VALUES ('2026-01-01T00:00:00.000Z', 'io.fs.write_file', '{}', 'done', '[\"a.txt\"]')",
            [],
        )
        .unwrap();
        let mut prev = super::super::audit::GENESIS.to_string();
        for seq in 1..=2 {
            let mut r = Record {
                seq,
                time: format!("2026-01-01T00:00:0{seq}.000Z"),
                user: "ann".into(),
                workspace: "/w".into(),
                capability: "io.fs.write_file".into(),
                params: serde_json::json!({"path": "a.txt"}),
                decision: "approved_by_flag".into(),
                outcome: "ok".into(),
                duration_ms: 3,
                op: Some(1),
                prev_hash: prev.clone(),
                hash: String::new(),
                principal: "ignored: schema 2 has no principal".into(),
                principal_chained: false,
            };
            r.hash = super::super::audit::record_hash(&r);
            conn.execute(
                "INSERT INTO audit (seq, time, user, workspace, capability, params, decision, outcome, duration_ms, op, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                rusqlite::params_from_iter(r.columns()),
            )
            .unwrap();
            prev = r.hash;
        }
    }

    /// Schema 2 -> 3: the old op and audit records read as the operator's, the old chain
    /// still verifies, new records chain their principal, and a changed principal (of a
    /// new record, or given to an old one) is caught.
    #[test]
    fn a_schema_2_database_gets_principals_and_its_audit_chain_still_verifies() {
        use super::super::audit;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airun.db");
        schema_2(&path);
        let mut conn = open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(op_info(&conn, 1).unwrap().0.principal, "operator");
        assert_eq!(audit::verify(&conn).unwrap(), Ok(2));
        let old = audit_records(&conn, None, None).unwrap();
        assert!(
            old.iter()
                .all(|r| r.principal == "operator" && !r.principal_chained)
        );

        // New ops and records name their principal.
        let id = insert_op(
            &conn,
            &NewOp {
                started: "2026-01-02T00:00:00.000Z",
                capability: "io.fs.write_file",
                params: "{}",
                state: OpState::Done,
                targets: "[]",
                session: None,
                principal: "alice",
            },
        )
        .unwrap();
        let mut r = old[0].clone();
        r.principal = "alice".into();
        r.principal_chained = true;
        r.op = Some(id);
        let r = audit::append(&mut conn, r).unwrap();
        assert_eq!(r.seq, 3);
        assert_eq!(audit::verify(&conn).unwrap(), Ok(3));
        assert_eq!(history(&conn, 10, Some("alice")).unwrap(), vec![id]);
        assert_eq!(history(&conn, 10, Some("operator")).unwrap(), vec![1]);
        assert_eq!(history(&conn, 10, None).unwrap(), vec![id, 1]);
        let of = |p: &str| -> Vec<i64> {
            audit_records(&conn, None, Some(p))
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect()
        };
        assert_eq!(of("alice"), vec![3]);
        assert_eq!(of("operator"), vec![1, 2], "old records are the operator's");
        let page = |p: &str| {
            let q = AuditQuery {
                limit: 10,
                principal: Some(p.into()),
                ..AuditQuery::default()
            };
            audit_page(&conn, &q).unwrap().len()
        };
        assert_eq!((page("alice"), page("operator"), page("bob")), (1, 2, 0));
        let counts: Vec<(String, usize)> = principals(&conn)
            .unwrap()
            .into_iter()
            .map(|p| (p.principal, p.ops))
            .collect();
        assert_eq!(
            counts,
            [("alice".to_string(), 1), ("operator".to_string(), 1)]
        );

        // Any change of a principal breaks the chain.
        for (tamper, bad) in [
            ("UPDATE audit SET principal = 'bob' WHERE seq = 3", 3),
            ("UPDATE audit SET principal = NULL WHERE seq = 3", 3),
            ("UPDATE audit SET principal = 'operator' WHERE seq = 1", 1),
            ("UPDATE audit SET principal = 'alice' WHERE seq = 2", 2),
        ] {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(tamper).unwrap();
            let why = audit::verify(&tx).unwrap().unwrap_err();
            assert_eq!(
                why,
                format!("record {bad} was changed after it was written")
            );
            tx.rollback().unwrap();
        }
        assert_eq!(audit::verify(&conn).unwrap(), Ok(3));
        drop(conn);
        // Opening again does not migrate twice.
        let conn = open(&path).unwrap();
        assert_eq!(audit::verify(&conn).unwrap(), Ok(3));
    }

    /// A database whose columns are already there but whose version says 2 (as after a
    /// migration whose version bump was lost) opens all the same.
    #[test]
    fn the_principal_step_is_safe_to_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airun.db");
        drop(open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        drop(conn);
        let conn = open(&path).unwrap();
        assert!(has_column(&conn, "ops", "principal").unwrap());
        assert!(has_column(&conn, "audit", "principal").unwrap());
    }
}

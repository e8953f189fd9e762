//! The hash-chained audit log: one record per call, each carrying the hash of the one
//! before it, so a changed, removed or reordered record is found by `verify`.
//!
//! Every record names its principal (who made the call). Records written before airun
//! kept principals (state schema 2 and older) store none, read as the operator's, and keep
//! the hash they were written with; every later record's hash covers its principal.

use super::db;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Strings longer than this are stored as their hash and length.
const INLINE_MAX: usize = 1024;

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Position in the log, from 1.
    pub seq: i64,
    /// RFC 3339 time.
    pub time: String,
    /// The OS user.
    pub user: String,
    /// The workspace root.
    pub workspace: String,
    /// The capability id (or the unknown name as given).
    pub capability: String,
    /// Parameters: sensitive inputs redacted, large values as {blake3, length}.
    pub params: serde_json::Value,
    /// allowed, approved_by_*, denied_policy, denied_sandbox, declined, invalid.
    pub decision: String,
    /// ok or the error kind.
    pub outcome: String,
    /// Wall time of the call.
    pub duration_ms: i64,
    /// The journal operation, for mutating calls.
    pub op: Option<i64>,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
    /// Who made the call: a user name, `operator` for the operator (and for records
    /// written before airun kept principals).
    pub principal: String,
    /// True when the hash covers `principal`: every record written since airun keeps
    /// principals. Records written before store none and keep their older hash.
    #[serde(skip)]
    pub principal_chained: bool,
}

/// Which audit records one page holds: those after `after` (a record number, 0 for the
/// start) that match every filter given, at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Records with a higher number than this.
    pub after: i64,
    /// At most this many.
    pub limit: usize,
    /// Only this capability.
    pub capability: Option<String>,
    /// Only this decision (`allowed`, `denied_policy`, ...).
    pub decision: Option<String>,
    /// Only records at or after this time (`%Y-%m-%dT%H:%M:%S%.3fZ`, as stored).
    pub since: Option<String>,
    /// Only records before this time (same format).
    pub until: Option<String>,
    /// Only the records of this principal (`operator` includes the records written before
    /// airun kept principals).
    pub principal: Option<String>,
}

/// Replaces long strings by their hash and length.
pub fn shrink(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s.len() > INLINE_MAX => serde_json::json!({
            "blake3": blake3::hash(s.as_bytes()).to_hex().to_string(),
            "length": s.len(),
        }),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(shrink).collect())
        }
        serde_json::Value::Object(o) => {
            serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, shrink(v))).collect())
        }
        other => other,
    }
}

impl Record {
    /// The record's columns in the audit table's order, as SQL values. The hash chain
    /// covers every one but the last (the record's own hash).
    pub(super) fn columns(&self) -> [SqlValue; 12] {
        let text = |s: &str| SqlValue::Text(s.to_string());
        [
            SqlValue::Integer(self.seq),
            text(&self.time),
            text(&self.user),
            text(&self.workspace),
            text(&self.capability),
            SqlValue::Text(self.params.to_string()),
            text(&self.decision),
            text(&self.outcome),
            SqlValue::Integer(self.duration_ms),
            self.op.map_or(SqlValue::Null, SqlValue::Integer),
            text(&self.prev_hash),
            text(&self.hash),
        ]
    }

    /// The principal column as stored: NULL for a record whose hash does not cover it.
    pub(super) fn stored_principal(&self) -> SqlValue {
        if self.principal_chained {
            SqlValue::Text(self.principal.clone())
        } else {
            SqlValue::Null
        }
    }
}

/// The hash of a record: of its chained columns as one compact JSON array, its principal
/// last (for records that store one).
pub(super) fn record_hash(r: &Record) -> String {
    let columns = r.columns();
    let principal = r.principal_chained.then(|| r.stored_principal());
    let chained: Vec<serde_json::Value> = columns[..11]
        .iter()
        .chain(principal.as_ref())
        .map(|v| match v {
            SqlValue::Integer(i) => serde_json::Value::from(*i),
            SqlValue::Text(s) => serde_json::Value::from(s.as_str()),
            _ => serde_json::Value::Null,
        })
        .collect();
    blake3::hash(serde_json::Value::Array(chained).to_string().as_bytes())
        .to_hex()
        .to_string()
}

/// Appends a record (seq, prev_hash and hash are filled in).
pub fn append(conn: &mut Connection, mut r: Record) -> rusqlite::Result<Record> {
    append_all(conn, std::slice::from_mut(&mut r))?;
    Ok(r)
}

/// Appends records in order, in one transaction (seq, prev_hash and hash are filled in),
/// and publishes the head file.
pub fn append_all(conn: &mut Connection, records: &mut [Record]) -> rusqlite::Result<()> {
    append_records(conn, records)?;
    if let Err(e) = super::head::publish(conn) {
        tracing::warn!(error = %e, "cannot write the state's head file");
    }
    Ok(())
}

/// Appends records in order, in one transaction; returns the head that transaction
/// committed (none for no records), to publish once it is synced. The head may lag behind
/// the log (it is checked as a prefix of it), so a batch of read records can leave it to
/// the next durable batch.
pub fn append_records(
    conn: &mut Connection,
    records: &mut [Record],
) -> rusqlite::Result<Option<super::head::Head>> {
    let Some(last_index) = records.len().checked_sub(1) else {
        return Ok(None);
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut seq, mut prev) = db::last_audit(&tx)?
        .map(|(s, h)| (s + 1, h))
        .unwrap_or((1, GENESIS.to_string()));
    for r in records.iter_mut() {
        r.seq = seq;
        r.prev_hash = std::mem::take(&mut prev);
        r.hash = record_hash(r);
        seq += 1;
        prev = r.hash.clone();
    }
    db::insert_audit(&tx, records)?;
    let last = &records[last_index];
    db::set_meta(&tx, "audit_head", &format!("{}:{}", last.seq, last.hash))?;
    // Read in the transaction: what this commit holds, not what another process commits
    // (unsynced) right after it.
    let commits = db::meta(&tx, "commits")?;
    let head = super::head::Head {
        audit_records: last.seq,
        audit_hash: last.hash.clone(),
        commits: commits.and_then(|c| c.parse().ok()).unwrap_or(0),
    };
    tx.commit()?;
    Ok(Some(head))
}

/// Records, oldest first; `limit` keeps the newest ones.
pub fn list(conn: &Connection, limit: Option<usize>) -> rusqlite::Result<Vec<Record>> {
    db::audit_records(conn, limit, None)
}

/// Checks the chain; returns the number of records, or says which record is the first
/// bad one and why.
pub fn verify(conn: &Connection) -> rusqlite::Result<Result<usize, String>> {
    let records = list(conn, None)?;
    let mut prev = GENESIS.to_string();
    for (expected_seq, r) in (1..).zip(records.iter()) {
        if r.seq != expected_seq {
            return Ok(Err(format!(
                "record {expected_seq} is missing (the next record is {})",
                r.seq
            )));
        }
        if r.prev_hash != prev {
            return Ok(Err(format!(
                "record {} does not follow record {}: a record was removed or reordered",
                r.seq,
                r.seq - 1
            )));
        }
        if record_hash(r) != r.hash {
            return Ok(Err(format!(
                "record {} was changed after it was written",
                r.seq
            )));
        }
        prev = r.hash.clone();
    }
    let head = super::db::meta(conn, "audit_head")?;
    if let Some(head) = head {
        let (seq, hash) = head.split_once(':').unwrap_or(("0", ""));
        let seq: i64 = seq.parse().unwrap_or(0);
        if seq > records.len() as i64 {
            return Ok(Err(format!(
                "records after {} were removed (the log had {seq})",
                records.len()
            )));
        }
        if seq == records.len() as i64 && seq > 0 && hash != prev {
            return Ok(Err(format!(
                "record {seq} was changed after it was written"
            )));
        }
    }
    Ok(Ok(records.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's hash input is a fixed format (logs written by earlier versions must
    /// still verify): the chained fields as one compact JSON array.
    #[test]
    fn the_hash_covers_the_chained_fields_as_a_json_array() {
        let mut r = Record {
            seq: 7,
            time: "2026-01-02T03:04:05.678Z".into(),
            user: "ann".into(),
            workspace: "/w \"q\"".into(),
            capability: "io.fs.write_file".into(),
            params: serde_json::json!({"path": "a.txt", "n": 1}),
            decision: "approved_by_tty".into(),
            outcome: "ok".into(),
            duration_ms: 12,
            op: None,
            prev_hash: GENESIS.into(),
            hash: "ignored".into(),
            principal: "operator".into(),
            principal_chained: false,
        };
        for op in [None, Some(3)] {
            r.op = op;
            let expected = serde_json::json!([
                7,
                "2026-01-02T03:04:05.678Z",
                "ann",
                "/w \"q\"",
                "io.fs.write_file",
                r#"{"path":"a.txt","n":1}"#,
                "approved_by_tty",
                "ok",
                12,
                op,
                GENESIS
            ]);
            let want = blake3::hash(expected.to_string().as_bytes()).to_hex();
            assert_eq!(record_hash(&r), want.as_str());
            // Since airun keeps principals, the principal is the last chained field.
            let mut with = r.clone();
            with.principal = "alice".into();
            with.principal_chained = true;
            let mut expected = expected;
            expected.as_array_mut().unwrap().push("alice".into());
            let want = blake3::hash(expected.to_string().as_bytes()).to_hex();
            assert_eq!(record_hash(&with), want.as_str());
        }
    }
}

//! What one operation changed: each path its images differ on, before and after, with a
//! unified diff for text files (for the operator's console and `GET /operations/{op}`).

use super::db::{self, Phase};
use super::image::{Entry, Kind};
use super::{TimeMachine, state_err};
use crate::error::{CapError, ErrorKind};
use crate::hooks::{OpId, OpInfo};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

/// Text files up to this size get a diff.
pub const DIFF_MAX_BYTES: u64 = 1 << 20;

/// One side of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    /// What was at the path.
    pub kind: Kind,
    /// Its size in bytes (files).
    pub size: u64,
}

/// One path the operation changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Workspace-relative path.
    pub path: String,
    /// What was there before the operation.
    pub before: Side,
    /// What the operation left there; `None` when its after-image was not recorded (an
    /// interrupted or irreversible operation).
    pub after: Option<Side>,
    /// A unified diff, when both sides are text (or absent) of at most 1 MiB and their
    /// saved copies are still kept.
    pub diff: Option<String>,
}

/// An operation and what it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpChanges {
    /// The operation as history shows it.
    #[serde(flatten)]
    pub op: OpInfo,
    /// The paths it changed, in path order.
    pub changes: Vec<Change>,
}

fn side(e: Option<&Entry>) -> Side {
    match e {
        Some(e) => Side {
            kind: e.kind,
            size: if e.kind == Kind::File { e.size } else { 0 },
        },
        None => Side {
            kind: Kind::Absent,
            size: 0,
        },
    }
}

fn by_path(images: Vec<Vec<Entry>>) -> BTreeMap<String, Entry> {
    images
        .into_iter()
        .flatten()
        .map(|e| (e.path.clone(), e))
        .collect()
}

fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    let key = |e: Option<&Entry>| {
        e.filter(|e| e.kind != Kind::Absent)
            .map(|e| (e.kind, e.mode, e.blob.clone(), e.link.clone()))
    };
    key(a) == key(b)
}

impl TimeMachine {
    /// The content of a text file image (empty for an absent one); `None` when it is not
    /// a file, too large, not UTF-8, or its saved copy is gone.
    fn text_of(&self, e: Option<&Entry>) -> Option<String> {
        let Some(e) = e.filter(|e| e.kind != Kind::Absent) else {
            return Some(String::new());
        };
        if e.kind != Kind::File || e.size > DIFF_MAX_BYTES {
            return None;
        }
        let mut f = self.blobs.open_blob(e.blob.as_deref()?).ok()?;
        let mut bytes = Vec::new();
        f.by_ref()
            .take(DIFF_MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Who made operation `id` (`None` when there is no such operation): one row read.
    pub fn op_principal(&self, id: OpId) -> Result<Option<String>, CapError> {
        match db::op_info(&self.conn(), id) {
            Ok((op, _)) => Ok(Some(op.principal)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(state_err(e)),
        }
    }

    /// What operation `id` changed.
    pub fn op_changes(&self, id: OpId) -> Result<OpChanges, CapError> {
        let (op, before, after) = {
            let conn = self.conn();
            let op = match db::op_info(&conn, id) {
                Ok((op, _)) => op,
                Err(rusqlite::Error::QueryReturnedNoRows) => {
                    return Err(CapError::new(
                        ErrorKind::NotFound,
                        format!("there is no operation {id} in this workspace"),
                    )
                    .with_hint("the history lists the operations and their ids"));
                }
                Err(e) => return Err(state_err(e)),
            };
            let before = by_path(db::images(&conn, id, Phase::Before).map_err(state_err)?);
            let after = db::images(&conn, id, Phase::After).map_err(state_err)?;
            let after = (!after.is_empty()).then(|| by_path(after));
            (op, before, after)
        };
        let mut paths: Vec<&String> = before.keys().collect();
        if let Some(a) = &after {
            paths.extend(a.keys());
        }
        paths.sort();
        paths.dedup();
        let mut changes = Vec::new();
        for path in paths {
            let b = before.get(path);
            let a = after.as_ref().map(|m| m.get(path));
            if let Some(a) = a
                && same(b, a)
            {
                continue;
            }
            let diff = a.and_then(|a| {
                let (old, new) = (self.text_of(b)?, self.text_of(a)?);
                let d = similar::TextDiff::from_lines(&old, &new);
                Some(
                    d.unified_diff()
                        .context_radius(3)
                        .header(&format!("a/{path}"), &format!("b/{path}"))
                        .to_string(),
                )
            });
            changes.push(Change {
                path: path.clone(),
                before: side(b),
                after: a.map(side),
                diff,
            });
        }
        Ok(OpChanges { op, changes })
    }
}

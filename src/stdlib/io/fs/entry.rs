//! What the `io.fs.*` handlers that report directory entries share.

use crate::powers::{EntryInfo, EntryKind};
use crate::stdlib::generated;

/// A modification time as RFC 3339 text in UTC, whole seconds.
pub(super) fn rfc3339(t: Option<std::time::SystemTime>) -> Option<String> {
    t.and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// True for names starting with a dot.
pub(super) fn is_hidden(e: &EntryInfo) -> bool {
    e.path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The one mapping from what the filesystem powers report to the shared `EntryKind` of
/// the specs (`specs/types.yaml`).
impl From<EntryKind> for generated::EntryKind {
    fn from(k: EntryKind) -> Self {
        match k {
            EntryKind::File => generated::EntryKind::File,
            EntryKind::Dir => generated::EntryKind::Dir,
            EntryKind::Symlink => generated::EntryKind::Symlink,
            EntryKind::Other => generated::EntryKind::Other,
        }
    }
}

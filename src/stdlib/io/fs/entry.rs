//! Helpers shared by the `io.fs.*` handlers that report directory entries.

use crate::powers::{EntryInfo, EntryKind};
use crate::stdlib::generated::io::fs::ListDirEntriesItemKind;

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

/// The wire form of an entry kind.
pub(super) fn entry_kind(k: EntryKind) -> ListDirEntriesItemKind {
    match k {
        EntryKind::File => ListDirEntriesItemKind::File,
        EntryKind::Dir => ListDirEntriesItemKind::Dir,
        EntryKind::Symlink => ListDirEntriesItemKind::Symlink,
        EntryKind::Other => ListDirEntriesItemKind::Other,
    }
}

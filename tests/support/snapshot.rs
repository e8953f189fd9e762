//! Everything on disk under a folder — kind, permission bits, bytes, link targets, with
//! nothing excluded and no symlink followed — to prove that a refused call left the
//! files exactly as they were, or that undo and recovery restored them exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file: permission bits, content and, when asked for
    /// ([`Snapshot::with_link_counts`]), its hard-link count.
    File {
        mode: u32,
        content: Vec<u8>,
        nlink: Option<u64>,
    },
    /// A folder and its permission bits.
    Dir { mode: u32 },
    /// A symlink and its stored target.
    Link { target: PathBuf },
    /// Anything else (a socket, a fifo, a device) and its permission bits.
    Other { mode: u32 },
}

impl Node {
    /// One line for a difference report.
    fn describe(node: Option<&Node>) -> String {
        match node {
            None => "absent".into(),
            Some(Node::File {
                mode,
                content,
                nlink,
            }) => format!(
                "file {mode:o} {} B {:?}{}",
                content.len(),
                String::from_utf8_lossy(&content[..content.len().min(24)]),
                nlink.map(|n| format!(" ({n} links)")).unwrap_or_default()
            ),
            Some(Node::Dir { mode }) => format!("dir {mode:o}"),
            Some(Node::Link { target }) => format!("symlink -> {}", target.display()),
            Some(Node::Other { mode }) => format!("other {mode:o}"),
        }
    }
}

/// Every entry under a folder by folder-relative path; the folder itself is the empty
/// path. Two equal snapshots are the same files, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Node>);

/// The [`Snapshot`] of `root` (reads well in `assert_eq!(tree(&ws), before)`).
pub fn tree(root: &Path) -> Snapshot {
    Snapshot::of(root)
}

/// Fails with the paths where `actual` differs from `expected`.
#[track_caller]
pub fn assert_snap(actual: &Snapshot, expected: &Snapshot, what: &str) {
    if actual != expected {
        panic!(
            "{what}: the files on disk differ:\n{}",
            actual.diff(expected)
        );
    }
}

impl std::ops::Deref for Snapshot {
    type Target = BTreeMap<PathBuf, Node>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Snapshot {
    /// Walks `root`: kind, permission bits, bytes and link targets of every entry.
    pub fn of(root: &Path) -> Snapshot {
        Snapshot::walk(root, false)
    }

    /// [`Snapshot::of`] plus the hard-link count of every file (a call that made or broke
    /// a hard link changed the files too).
    pub fn with_link_counts(root: &Path) -> Snapshot {
        Snapshot::walk(root, true)
    }

    /// Fails with the differences when these files are not the same as `other`'s (the
    /// report shows `self` as "is" and `other` as "expected").
    #[track_caller]
    pub fn assert_same(&self, other: &Snapshot, what: &str) {
        assert_snap(self, other, what);
    }

    /// How many regular files there are.
    pub fn files(&self) -> usize {
        self.0
            .values()
            .filter(|n| matches!(n, Node::File { .. }))
            .count()
    }

    /// The paths where `self` and `expected` differ (at most 12), one per line.
    pub fn diff(&self, expected: &Snapshot) -> String {
        let keys: BTreeSet<&PathBuf> = self.0.keys().chain(expected.0.keys()).collect();
        let lines: Vec<String> = keys
            .into_iter()
            .filter(|k| self.0.get(*k) != expected.0.get(*k))
            .map(|k| {
                format!(
                    "  /{}: is {}, expected {}",
                    k.display(),
                    Node::describe(self.0.get(k)),
                    Node::describe(expected.0.get(k))
                )
            })
            .collect();
        let n = lines.len();
        let mut s = lines.into_iter().take(12).collect::<Vec<_>>().join("\n");
        if n > 12 {
            s.push_str(&format!("\n  ... and {} more", n - 12));
        }
        s
    }

    fn walk(root: &Path, link_counts: bool) -> Snapshot {
        let mut map = BTreeMap::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let abs = if rel.as_os_str().is_empty() {
                root.to_path_buf()
            } else {
                root.join(&rel)
            };
            let meta = std::fs::symlink_metadata(&abs)
                .unwrap_or_else(|e| panic!("lstat {}: {e}", abs.display()));
            let mode = meta.mode() & 0o7777;
            let ft = meta.file_type();
            let node = if ft.is_symlink() {
                Node::Link {
                    target: std::fs::read_link(&abs)
                        .unwrap_or_else(|e| panic!("readlink {}: {e}", abs.display())),
                }
            } else if ft.is_file() {
                Node::File {
                    mode,
                    content: std::fs::read(&abs)
                        .unwrap_or_else(|e| panic!("read {}: {e}", abs.display())),
                    nlink: link_counts.then(|| meta.nlink()),
                }
            } else if ft.is_dir() {
                for e in std::fs::read_dir(&abs)
                    .unwrap_or_else(|e| panic!("read_dir {}: {e}", abs.display()))
                {
                    stack.push(rel.join(e.expect("a folder entry").file_name()));
                }
                Node::Dir { mode }
            } else {
                Node::Other { mode }
            };
            map.insert(rel, node);
        }
        Snapshot(map)
    }
}

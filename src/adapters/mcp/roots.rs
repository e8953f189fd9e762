//! MCP roots: a client may name the folders it works in; they can narrow what its calls
//! reach inside the workspace, never widen it.
//!
//! The roots are asked for on the session's first tool call (and again after
//! `notifications/roots/list_changed`). A root inside the workspace narrows the session's
//! calls to it (and the other such roots); a root that is the workspace or holds it
//! leaves the whole workspace reachable; a root elsewhere adds nothing and is logged. When
//! no root touches the workspace, the workspace stays as the operator set it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a session knows of its client's roots.
#[derive(Debug, Clone, Default)]
pub enum Known {
    /// Not asked yet (or the list changed since).
    #[default]
    Unknown,
    /// The folders (relative to the workspace root) calls must stay in; `None` for the
    /// whole workspace.
    Within(Option<Arc<[PathBuf]>>),
}

/// The folders of the workspace `roots` (the first first) that `uris` narrow them to, or
/// `None` when they leave all of every root reachable. A folder in the first root is
/// given relative to it, a folder in another root absolutely. A client root holding a
/// configured root keeps that whole root reachable; one outside every root adds nothing.
pub fn narrow_roots(roots: &[PathBuf], uris: &[String]) -> Option<Arc<[PathBuf]>> {
    let [first, rest @ ..] = roots else {
        return None;
    };
    if rest.is_empty() {
        return narrow(first, uris);
    }
    let mut inside: Vec<PathBuf> = Vec::new();
    let mut whole = vec![false; roots.len()];
    for uri in uris {
        let Some(path) = file_path(uri) else {
            tracing::warn!(root = %uri, "ignoring a root that is not a file:// folder");
            continue;
        };
        let path = path.canonicalize().unwrap_or(path);
        let mut used = false;
        for (i, root) in roots.iter().enumerate() {
            if root.starts_with(&path) {
                whole[i] = true;
                used = true;
            } else if let Ok(rel) = path.strip_prefix(root) {
                inside.push(if i == 0 {
                    rel.to_path_buf()
                } else {
                    path.clone()
                });
                used = true;
            }
        }
        if !used {
            tracing::warn!(root = %path.display(), "ignoring a root outside every workspace root: roots never widen it");
        }
    }
    if whole.iter().all(|w| *w) || (inside.is_empty() && !whole.iter().any(|w| *w)) {
        return None;
    }
    for (i, root) in roots.iter().enumerate() {
        if whole[i] {
            inside.push(if i == 0 { PathBuf::new() } else { root.clone() });
        }
    }
    Some(inside.into())
}

/// The folders of `workspace` that `uris` narrow it to, or `None` when they leave all of
/// it reachable.
pub fn narrow(workspace: &Path, uris: &[String]) -> Option<Arc<[PathBuf]>> {
    let mut inside = Vec::new();
    for uri in uris {
        let Some(path) = file_path(uri) else {
            tracing::warn!(root = %uri, "ignoring a root that is not a file:// folder");
            continue;
        };
        // A root that exists is compared by its real path (symlinks resolved).
        let path = path.canonicalize().unwrap_or(path);
        if workspace.starts_with(&path) {
            return None;
        }
        match path.strip_prefix(workspace) {
            Ok(rel) => inside.push(rel.to_path_buf()),
            Err(_) => {
                tracing::warn!(root = %path.display(), workspace = %workspace.display(), "ignoring a root outside the workspace: roots never widen it");
            }
        }
    }
    if inside.is_empty() {
        None
    } else {
        Some(inside.into())
    }
}

/// The local path of a `file://` URI.
fn file_path(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    url.to_file_path().ok()
}

#[cfg(test)]
mod tests {
    use super::{narrow, narrow_roots};

    #[test]
    fn roots_narrow_every_configured_root() {
        let roots = [PathBuf::from("/no/such/a"), PathBuf::from("/no/such/b")];
        let uris = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(narrow_roots(&roots, &uris(&["file:///no/such"])).is_none());
        assert!(narrow_roots(&roots, &uris(&["file:///elsewhere"])).is_none());
        let n = narrow_roots(
            &roots,
            &uris(&["file:///no/such/a/x", "file:///no/such/b/y"]),
        )
        .unwrap();
        assert_eq!(&*n, [PathBuf::from("x"), PathBuf::from("/no/such/b/y")]);
        // A client root holding only the first keeps the first whole and leaves the second out.
        let n = narrow_roots(&roots, &uris(&["file:///no/such/a"])).unwrap();
        assert_eq!(&*n, [PathBuf::from("")]);
        let n = narrow_roots(&roots, &uris(&["file:///no/such/b", "file:///etc"])).unwrap();
        assert_eq!(&*n, [PathBuf::from("/no/such/b")]);
    }
    use std::path::{Path, PathBuf};

    #[test]
    fn roots_narrow_and_never_widen() {
        let ws = Path::new("/no/such/ws");
        let uris = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(narrow(ws, &uris(&["file:///no/such/ws"])).is_none());
        assert!(narrow(ws, &uris(&["file:///no/such"])).is_none());
        assert!(narrow(ws, &uris(&["file:///elsewhere", "https://x"])).is_none());
        let n = narrow(
            ws,
            &uris(&[
                "file:///no/such/ws/app",
                "file:///etc",
                "file:///no/such/ws/lib%20x",
            ]),
        )
        .unwrap();
        assert_eq!(&*n, [PathBuf::from("app"), PathBuf::from("lib x")]);
    }
}

//! The workspace sandbox.
//!
//! A path is relative to the workspace root, or absolute and inside it (the root's prefix
//! is taken off by names, then the rest is resolved like a relative path). Every path is
//! resolved one component at a time against an open handle on the workspace
//! root (a cap-std [`Dir`]), never by comparing strings: `..` may not climb above the root,
//! a symlink is followed only when its target stays inside, and the operation itself then
//! runs through the same handle, which the kernel also confines (openat2 `RESOLVE_BENEATH`
//! where Linux has it), so a path swapped between the check and the use still cannot
//! escape. Protected paths (`.git` itself, `.git/hooks/`, `.git/config`, and the other
//! files that redirect git's config or hooks: `.git/config.worktree`, `.git/commondir`,
//! `.git/modules/`, `.git/worktrees/`; airun's own state) are refused for writes and
//! deletes; airun's state is refused for every access.

mod contain;
mod protect;
mod resolve;

pub use contain::{Climb, stays_beneath};
pub use protect::Protected;

use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::types::WsPath;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open workspace: the root handle, its absolute path, and what is protected in it.
#[derive(Debug)]
pub struct Workspace {
    dir: Dir,
    root: PathBuf,
    /// The root as the operator spelled it (absolute, symlinks kept), when that differs.
    spelled: Option<PathBuf>,
    protected: Protected,
    /// Set for a root other than the first: results name its paths absolutely, so a
    /// caller can pass them back (a relative path always means the first root).
    shown_base: Option<Arc<Path>>,
}

/// A path that passed the sandbox: workspace-relative, with every symlink on the way
/// resolved (a final symlink is kept as is for [`Access::Inspect`] and [`Access::Delete`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    rel: PathBuf,
    /// The absolute root its display starts from (only for roots other than the first).
    base: Option<Arc<Path>>,
}

impl Resolved {
    /// The path relative to the root; `.` for the root itself.
    pub fn rel(&self) -> &Path {
        if self.rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.rel
        }
    }

    /// True for the workspace root.
    pub fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }

    /// How many folders below the root it lies (0 for the root itself).
    pub fn depth(&self) -> usize {
        self.rel.components().count()
    }

    /// The path as shown in results: workspace-relative (`/` separators) in the first
    /// root, absolute in any other root (so the caller can pass it back).
    pub fn display(&self) -> String {
        match &self.base {
            Some(base) if self.is_root() => base.to_string_lossy().into_owned(),
            Some(base) => base.join(&self.rel).to_string_lossy().into_owned(),
            None => self.rel().to_string_lossy().into_owned(),
        }
    }

    /// Another path of the same root, `rel` below it.
    pub fn with_rel(&self, rel: PathBuf) -> Resolved {
        Resolved {
            rel,
            base: self.base.clone(),
        }
    }

    /// The final component, if any.
    pub fn file_name(&self) -> Option<&std::ffi::OsStr> {
        self.rel.file_name()
    }

    /// The parent folder (the root for top-level entries).
    pub fn parent(&self) -> Resolved {
        Resolved {
            rel: self.rel.parent().map(Path::to_path_buf).unwrap_or_default(),
            base: self.base.clone(),
        }
    }
}

impl Workspace {
    /// Opens the workspace at `root`, creating the folder when `create` is set.
    /// `state_dir` is airun's own state folder; if it lies inside the workspace it is
    /// refused to every capability.
    pub fn open(
        root: &Path,
        create: bool,
        state_dir: Option<&Path>,
    ) -> Result<Workspace, CapError> {
        if create {
            std::fs::create_dir_all(root).map_err(|e| {
                CapError::execution(format!(
                    "cannot create the workspace {}: {e}",
                    root.display()
                ))
            })?;
        }
        let canonical = root.canonicalize().map_err(|e| {
            CapError::execution(format!("cannot open the workspace {}: {e}", root.display()))
                .with_hint("pass an existing folder with --workspace DIR")
        })?;
        let dir = Dir::open_ambient_dir(&canonical, ambient_authority()).map_err(|e| {
            CapError::execution(format!(
                "cannot open the workspace {}: {e}",
                canonical.display()
            ))
        })?;
        // Compared as canonical paths, so `ws/sub/../.airun`, a symlinked or a relative
        // spelling, or a folder that does not exist yet are all recognised.
        let state_rel = state_dir
            .map(canonical_lenient)
            .and_then(|s| s.strip_prefix(&canonical).ok().map(Path::to_path_buf));
        let spelled = if root.is_absolute() {
            Some(root.to_path_buf())
        } else {
            std::env::current_dir().ok().map(|d| d.join(root))
        }
        .filter(|s| *s != canonical);
        Ok(Workspace {
            dir,
            root: canonical,
            spelled,
            protected: Protected::new(state_rel),
            shown_base: None,
        })
    }

    /// Marks this workspace as a root other than the first: its paths are shown in
    /// results as absolute paths.
    pub fn shown_absolute(mut self) -> Workspace {
        self.shown_base = Some(Arc::from(self.root.as_path()));
        self
    }

    /// The root's path when results show this root's paths as absolute paths (a root
    /// other than the first).
    pub fn shown_base(&self) -> Option<&Path> {
        self.shown_base.as_deref()
    }

    /// The part of an absolute `path` below this root (judged by names, component by
    /// component, against the root's real path and the spelling it was opened with), or
    /// `None` when it does not start with the root.
    pub fn below_root<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        if !path.is_absolute() {
            return None;
        }
        path.strip_prefix(&self.root).ok().or_else(|| {
            self.spelled
                .as_deref()
                .and_then(|s| path.strip_prefix(s).ok())
        })
    }

    /// A second handle on the same workspace (the same root folder, not re-resolved).
    pub fn try_clone(&self) -> Result<Workspace, CapError> {
        let dir = self.dir.try_clone().map_err(|e| {
            CapError::execution(format!(
                "cannot open the workspace {} again: {e}",
                self.root.display()
            ))
        })?;
        Ok(Workspace {
            dir,
            root: self.root.clone(),
            spelled: self.spelled.clone(),
            protected: self.protected.clone(),
            shown_base: self.shown_base.clone(),
        })
    }

    /// The absolute, canonical path of the root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The open root handle. Only the powers module uses it.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    /// What is protected in this workspace.
    pub fn protected(&self) -> &Protected {
        &self.protected
    }

    /// Resolves a path input for the given access, or says why it is refused. A path
    /// is relative to the root, or absolute and inside the root.
    pub fn resolve(&self, path: &WsPath, access: Access) -> Result<Resolved, CapError> {
        let raw = path.as_str();
        let below = self.below_root(Path::new(raw));
        let rel = match below {
            Some(below) => resolve::resolve_below(&self.dir, &self.root, raw, below, access)?,
            None => resolve::resolve(&self.dir, &self.root, raw, access)?,
        };
        let resolved = Resolved {
            rel,
            base: self.shown_base.clone(),
        };
        self.protected.check(&resolved, access)?;
        Ok(resolved)
    }

    /// Checks an already resolved path for an access (used for entries found while walking).
    pub fn recheck(&self, resolved: &Resolved, access: Access) -> Result<(), CapError> {
        self.protected.check(resolved, access)
    }
}

/// The canonical absolute form of `path`, which need not exist: relative paths are taken
/// from the current folder, the longest existing prefix is resolved by the system
/// (symlinks followed), and the missing rest is added with `.` dropped and `..` removing
/// the component before it.
pub fn canonical_lenient(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    if let Ok(c) = absolute.canonicalize() {
        return c;
    }
    let mut out = PathBuf::from("/");
    let mut missing = false;
    for comp in absolute.components() {
        match comp {
            std::path::Component::RootDir | std::path::Component::Prefix(_) => {}
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                // The existing part of `out` is canonical, so its parent is the real `..`;
                // a missing component is simply taken back.
                out.pop();
                missing = out.symlink_metadata().is_err();
            }
            std::path::Component::Normal(name) => {
                let next = out.join(name);
                if missing {
                    out = next;
                    continue;
                }
                match next.canonicalize() {
                    Ok(c) => out = c,
                    Err(_) => {
                        missing = true;
                        out = next;
                    }
                }
            }
        }
    }
    // What is left may exist again after a `..` (`missing/../real`): resolve once more.
    out.canonicalize().unwrap_or(out)
}

/// A sandbox refusal.
pub(crate) fn denied(message: impl Into<String>, hint: &str) -> CapError {
    CapError::new(ErrorKind::DeniedSandbox, message).with_hint(hint)
}

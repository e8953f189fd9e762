//! Paths inside the workspace that capabilities may not change (or, for airun's own
//! state, not touch at all).

use super::{Resolved, denied};
use crate::catalog::Access;
use crate::error::CapError;
use std::path::{Path, PathBuf};

/// The protected paths of one workspace.
#[derive(Debug, Clone)]
pub struct Protected {
    state: Option<PathBuf>,
}

/// Entries of a `.git` folder (at any depth: nested repositories too) whose change would
/// run code or redirect the repository: hooks and config, per-worktree config,
/// `commondir` (which makes git take config and hooks from another folder), the git
/// folders of submodules and linked worktrees, and the to-do lists of an interrupted
/// rebase or cherry-pick (their `exec` lines run on `--continue`).
const GIT_READ_ONLY: [&str; 9] = [
    "hooks",
    "config",
    "config.worktree",
    "commondir",
    "modules",
    "worktrees",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
];

/// Why a write or delete of `rel` would touch a protected git path, if it would.
fn git_protected(rel: &Path, access: Access) -> bool {
    let comps: Vec<&std::ffi::OsStr> = rel.iter().collect();
    for (i, c) in comps.iter().enumerate() {
        if !c.eq_ignore_ascii_case(".git") {
            continue;
        }
        // `.git` itself: a `gitdir: ...` file there points the repository anywhere.
        let Some(next) = comps.get(i + 1) else {
            return true;
        };
        if GIT_READ_ONLY.iter().any(|p| next.eq_ignore_ascii_case(p)) {
            return true;
        }
    }
    // Deleting a folder that holds the root repository's protected entries.
    access == Access::Delete
        && !rel.as_os_str().is_empty()
        && rel != Path::new(".")
        && GIT_READ_ONLY
            .iter()
            .any(|p| Path::new(".git").join(p).starts_with(rel))
}

impl Protected {
    /// Protection with airun's state folder at `state` (workspace-relative), if inside.
    pub fn new(state: Option<PathBuf>) -> Self {
        Protected { state }
    }

    /// The state folder, when it lies inside the workspace.
    pub fn state(&self) -> Option<&Path> {
        self.state.as_deref()
    }

    /// True when a listing should leave this entry out.
    pub fn is_hidden(&self, rel: &Path) -> bool {
        self.state.as_deref().is_some_and(|s| rel == s)
    }

    /// Refuses an access to a protected path.
    pub fn check(&self, path: &Resolved, access: Access) -> Result<(), CapError> {
        let rel = path.rel();
        if let Some(state) = &self.state {
            let inside = rel.starts_with(state);
            let contains = state.starts_with(rel) && !path.is_root();
            if inside || (contains && matches!(access, Access::Write | Access::Delete)) {
                return Err(denied(
                    format!(
                        "`{}` is airun's own state folder, which capabilities cannot touch",
                        rel.display()
                    ),
                    "choose another path",
                ));
            }
        }
        if matches!(access, Access::Write | Access::Delete) && git_protected(rel, access) {
            return Err(denied(
                format!(
                    "`{}` is protected: changes to a `.git` folder itself, its hooks, config, `commondir`, `modules/`, `worktrees/` or rebase to-do lists could run code or redirect the repository",
                    rel.display()
                ),
                "these paths can be read but not changed",
            ));
        }
        Ok(())
    }

    /// Refuses replacing or moving away a folder that holds protected paths.
    pub fn check_tree_move(&self, path: &Resolved) -> Result<(), CapError> {
        self.check(path, Access::Delete)
    }
}

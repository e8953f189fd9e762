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

/// Git files whose change would run code or redirect the repository.
const GIT_READ_ONLY: [&str; 2] = [".git/hooks", ".git/config"];

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
                    format!("`{}` is airun's own state folder, which capabilities cannot touch", rel.display()),
                    "choose another path",
                ));
            }
        }
        if matches!(access, Access::Write | Access::Delete) {
            for p in GIT_READ_ONLY {
                let p = Path::new(p);
                let hit = rel.starts_with(p) || (access == Access::Delete && p.starts_with(rel) && !path.is_root());
                if hit {
                    return Err(denied(
                        format!(
                            "`{}` is protected: changes under `.git/hooks/` or to `.git/config` could run code or redirect the repository",
                            rel.display()
                        ),
                        "these paths can be read but not changed",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses replacing or moving away a folder that holds protected paths.
    pub fn check_tree_move(&self, path: &Resolved) -> Result<(), CapError> {
        self.check(path, Access::Delete)
    }
}

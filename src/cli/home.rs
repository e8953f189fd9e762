//! Where airun keeps things: `$AIRUN_HOME` and the default workspace.

use std::path::PathBuf;

pub use crate::settings::airun_home;

/// `~/.ai-first/workspaces/$USER/default` (under `$AIRUN_HOME` when set).
pub fn default_workspace() -> PathBuf {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && !u.contains('/'))
        .unwrap_or_else(|| "user".to_string());
    airun_home().join("workspaces").join(user).join("default")
}

//! Where airun keeps things: `$AIRUN_HOME` and the default workspace.

use std::path::PathBuf;

/// `$AIRUN_HOME`, default `~/.ai-first`.
pub fn airun_home() -> PathBuf {
    if let Some(h) = std::env::var_os("AIRUN_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    home_dir().join(".ai-first")
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `~/.ai-first/workspaces/$USER/default` (under `$AIRUN_HOME` when set).
pub fn default_workspace() -> PathBuf {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && !u.contains('/'))
        .unwrap_or_else(|| "user".to_string());
    airun_home().join("workspaces").join(user).join("default")
}

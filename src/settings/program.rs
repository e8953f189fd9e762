//! Where an `exec.allow` entry of the policy runs from: checked when the policy is read,
//! looked up again when a program runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Checks one `exec.allow` entry of a policy: a bare name found on PATH or an absolute
/// path to an executable file.
pub(crate) fn check_allow_entry(entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err("an empty program name".into());
    }
    if entry.contains('/') && !Path::new(entry).is_absolute() {
        return Err(format!(
            "`{entry}` is a relative path; give a program name looked up on PATH (e.g. `ls`) or an absolute path"
        ));
    }
    if lookup(entry).is_none() {
        return Err(if entry.contains('/') {
            format!("`{entry}` is not an executable file")
        } else {
            format!(
                "`{entry}` is not found on PATH ({})",
                std::env::var("PATH").unwrap_or_default()
            )
        });
    }
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where an allowlist entry runs from: an absolute entry as is, a name from the first
/// absolute folder on airun's own PATH that has it (relative PATH folders are skipped).
pub(crate) fn lookup(entry: &str) -> Option<PathBuf> {
    if entry.contains('/') {
        let p = PathBuf::from(entry);
        return (p.is_absolute() && is_executable(&p)).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(entry))
        .find(|p| is_executable(p))
}

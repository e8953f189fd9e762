//! Temporary folders of `sys.exec.run` left in the system temp folder by a process that
//! was killed: `airun-exec-<pid>-<random>`, removed by `airun gc` once no process with
//! that id is alive.

use crate::fsutil::temp_name;
use std::path::Path;

/// Removes the leftover program temp folders under `tmp` whose creating process is gone;
/// returns how many were removed. A folder of a live process (or of another user's, which
/// cannot be told apart from a reused id) is left alone.
pub fn sweep_exec_temps(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let me = rustix::process::getuid().as_raw();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(temp_name::exec_dir_owner)
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let alive = !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        );
        if !alive && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

//! The names of airun's temporary files: `.<name>.airun-tmp-<pid>-<n>` beside a file a
//! write or copy replaces, `.<name>.airun-restore-<pid>-<n>` beside a file a restore
//! puts back, and `airun-exec-<pid>-<random>` for the private folder of a program run.
//! Made here and recognised here only, so a killed call's leftovers can be found and
//! removed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// What a temporary file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    /// A write or a copy made by a capability.
    Write,
    /// A file the time machine puts back.
    Restore,
}

impl TempKind {
    const ALL: [TempKind; 2] = [TempKind::Write, TempKind::Restore];

    fn marker(self) -> &'static str {
        match self {
            TempKind::Write => "airun-tmp",
            TempKind::Restore => "airun-restore",
        }
    }
}

/// The prefix every temporary sibling of a file named `name` starts with.
fn prefix(name: &str, kind: TempKind) -> String {
    format!(".{name}.{}-", kind.marker())
}

/// A fresh temporary name beside `target` (same folder, relative as `target` is),
/// unique within this process and across processes.
pub fn beside(target: &Path, kind: TempKind) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = format!("{}{}-{n}", prefix(&name, kind), std::process::id());
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(temp),
        _ => PathBuf::from(temp),
    }
}

/// True when `name` is a temporary sibling of a file named `target_name`.
pub fn is_temp_of(name: &str, target_name: &str) -> bool {
    TempKind::ALL
        .iter()
        .any(|k| name.starts_with(prefix(target_name, *k).as_str()))
}

/// True when `name` is the name of one of airun's temporary files, whatever its target.
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    TempKind::ALL.iter().any(|k| {
        let marker = format!(".{}-", k.marker());
        rest.rfind(marker.as_str()).is_some_and(|at| {
            let tail = &rest[at + marker.len()..];
            let mut parts = tail.split('-');
            let numeric = |p: Option<&str>| {
                p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            };
            numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
        })
    })
}

const EXEC_PREFIX: &str = "airun-exec-";

/// The name of a program run's private temporary folder: the process id, then `random`
/// as hex digits.
pub fn exec_dir(random: &[u8]) -> String {
    let hex = hex::encode(random);
    format!("{EXEC_PREFIX}{}-{hex}", std::process::id())
}

/// The id of the process that made the program temp folder `name`, when it is one.
pub fn exec_dir_owner(name: &str) -> Option<i32> {
    name.strip_prefix(EXEC_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_beside_the_target_and_recognised() {
        let a = beside(Path::new("dir/notes.txt"), TempKind::Write);
        let b = beside(Path::new("notes.txt"), TempKind::Restore);
        assert_eq!(a.parent(), Some(Path::new("dir")));
        assert_eq!(b.parent(), Some(Path::new("")));
        let (a, b) = (
            a.file_name().unwrap().to_str().unwrap(),
            b.file_name().unwrap().to_str().unwrap(),
        );
        assert!(a.starts_with(".notes.txt.airun-tmp-"), "{a}");
        assert!(b.starts_with(".notes.txt.airun-restore-"), "{b}");
        for n in [a, b] {
            assert!(is_temp_name(n), "{n}");
            assert!(is_temp_of(n, "notes.txt"), "{n}");
            assert!(!is_temp_of(n, "notes"), "{n}");
        }
        assert_ne!(
            a,
            beside(Path::new("dir/notes.txt"), TempKind::Write)
                .to_str()
                .unwrap()
        );
    }

    #[test]
    fn program_folders_name_their_process() {
        let name = exec_dir(&[0, 255]);
        assert_eq!(name, format!("airun-exec-{}-00ff", std::process::id()));
        assert_eq!(exec_dir_owner(&name), Some(std::process::id() as i32));
        assert_eq!(exec_dir_owner("airun-exec-x-00"), None);
        assert_eq!(exec_dir_owner("other-12-00"), None);
    }

    #[test]
    fn ordinary_names_are_not_temps() {
        for n in [
            "notes.txt",
            ".notes.txt",
            ".x.airun-tmp-",
            ".x.airun-tmp-12",
            ".x.airun-tmp-12-a",
            "x.airun-tmp-1-2",
            ".x.airun-other-1-2",
        ] {
            assert!(!is_temp_name(n), "{n}");
        }
    }
}

//! Walking a tree beneath the workspace root in parallel (read power), for searches.
//!
//! The walk uses ripgrep's `ignore` crate. It runs on the workspace's absolute root path,
//! which is safe because of two rules:
//!
//! - the walker never follows a symbolic link (`follow_links(false)`): a link is reported
//!   as a link and never descended into, so a link pointing out of the workspace (or back
//!   at its own folder) leads nowhere;
//! - a file's content is only ever read through [`WalkEntry::open`], which opens the
//!   workspace-relative path through the root [`Dir`] handle (beneath the root, openat2
//!   `RESOLVE_BENEATH` where Linux has it) without following a final symlink. If a folder
//!   on the way is swapped for a link after it was listed, the open fails instead of
//!   leaving the workspace.
//!
//! Each worker thread holds at most one folder and one file open at a time, so the number
//! of open files stays bounded whatever the size of the tree. airun's own state folder and,
//! unless asked, `.git` folders are never entered. Ignore files are read only inside the
//! workspace: those of the folders between the workspace root and the walk's start are
//! added explicitly, never those above the root, and never the user's global git excludes.

use super::{Ctx, EntryKind, ReadHandle, Yes, io_err, ws};
use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::types::WsPath;
use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// What [`Ctx::walk`] visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkOptions {
    /// Visit entries whose names start with a dot.
    pub include_hidden: bool,
    /// Leave out what `.gitignore`, `.ignore` and `.git/info/exclude` files exclude (also
    /// outside a git repository).
    pub respect_gitignore: bool,
    /// Also enter `.git` folders (only with `include_hidden`).
    pub include_git_dir: bool,
    /// Worker threads; 0 picks the number of cores.
    pub threads: usize,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            include_hidden: false,
            respect_gitignore: true,
            include_git_dir: false,
            threads: 0,
        }
    }
}

/// Whether the walk goes on after an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkFlow {
    /// Go on (into the folder, when the entry is one).
    Continue,
    /// Go on, but do not enter this folder.
    Skip,
    /// Stop the whole walk.
    Stop,
}

/// What a finished walk tells besides what its visitors saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Entries visited.
    pub entries: u64,
    /// Entries or folders that could not be read (permission denied, vanished while
    /// walking); they are left out silently.
    pub unreadable: u64,
}

/// One entry found by [`Ctx::walk`]. A symbolic link is reported as a link, never followed.
#[derive(Debug)]
pub struct WalkEntry<'a> {
    dir: &'a Dir,
    rel: PathBuf,
    kind: EntryKind,
    depth: usize,
}

impl WalkEntry<'_> {
    /// The path relative to the workspace root.
    pub fn path(&self) -> &Path {
        &self.rel
    }

    /// The workspace-relative path as text (`/` separators), as shown in results.
    pub fn display(&self) -> String {
        self.rel.to_string_lossy().into_owned()
    }

    /// What the entry is (a symlink is not followed).
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// Depth below the walk's start (0 for the start itself).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The final component of the path.
    pub fn file_name(&self) -> Option<&std::ffi::OsStr> {
        self.rel.file_name()
    }

    /// Size in bytes (of the link itself for a symbolic link), looked up through the
    /// workspace's root handle; 0 when the entry vanished since it was listed.
    pub fn size(&self) -> u64 {
        self.dir
            .symlink_metadata(&self.rel)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Opens a regular file for reading, through the workspace's root handle and without
    /// following a final symlink.
    pub fn open(&self) -> Result<ReadHandle, CapError> {
        if self.kind != EntryKind::File {
            return Err(CapError::execution(format!(
                "`{}` is not a regular file",
                self.display()
            )));
        }
        let mut opts = OpenOptions::new();
        opts.read(true).follow(FollowSymlinks::No);
        let file = self
            .dir
            .open_with(&self.rel, &opts)
            .map_err(|e| io_err(e, &self.rel, "reading"))?;
        let meta = file
            .metadata()
            .map_err(|e| io_err(e, &self.rel, "reading"))?;
        if !meta.is_file() {
            return Err(CapError::execution(format!(
                "`{}` is not a regular file",
                self.display()
            )));
        }
        Ok(ReadHandle {
            file,
            len: meta.len(),
        })
    }
}

/// Filesystem read power: walking.
impl<W, D, NR, NW, X, S, M> Ctx<'_, Yes, W, D, NR, NW, X, S, M> {
    /// Walks the tree at `start` (a folder, or a single file) in parallel. `make_visitor`
    /// is called once per worker thread; each visitor sees the entries its thread finds, in
    /// no particular order, and decides whether the walk goes on. The start itself is not
    /// reported when it is a folder. The walk stops at the call's time limit or when it is
    /// cancelled, with that error.
    pub fn walk<'v, F, V>(
        &self,
        start: &WsPath,
        options: WalkOptions,
        mut make_visitor: F,
    ) -> Result<WalkStats, CapError>
    where
        F: FnMut() -> V,
        V: FnMut(&WalkEntry<'_>) -> WalkFlow + Send + 'v,
    {
        let w = ws(self);
        let resolved = w.resolve(start, Access::Read)?;
        let root = w.root().to_path_buf();
        let abs_start = if resolved.is_root() {
            root.clone()
        } else {
            root.join(resolved.rel())
        };
        let dir = w.dir();
        match dir.metadata(resolved.rel()) {
            Ok(_) => {}
            Err(e) => return Err(io_err(e, resolved.rel(), "searching")),
        }

        let mut builder = ignore::WalkBuilder::new(&abs_start);
        builder
            .follow_links(false)
            .same_file_system(false)
            .hidden(!options.include_hidden)
            .parents(false)
            .ignore(options.respect_gitignore)
            .git_ignore(options.respect_gitignore)
            .git_exclude(options.respect_gitignore)
            .git_global(false)
            .require_git(false)
            .threads(if options.threads == 0 {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            } else {
                options.threads
            });
        if options.respect_gitignore {
            // The ignore files of the folders above the start, up to the workspace root.
            let mut cur = resolved.parent();
            let mut above = Vec::new();
            if !resolved.is_root() {
                loop {
                    above.push(if cur.is_root() {
                        root.clone()
                    } else {
                        root.join(cur.rel())
                    });
                    if cur.is_root() {
                        break;
                    }
                    cur = cur.parent();
                }
            }
            for folder in above.iter().rev() {
                for name in [".gitignore", ".ignore"] {
                    let f = folder.join(name);
                    if f.is_file() && !f.is_symlink() {
                        let _ = builder.add_ignore(f);
                    }
                }
            }
        }
        let state = w.protected().state().map(|s| root.join(s));
        let include_git = options.include_git_dir && options.include_hidden;
        builder.filter_entry(move |e| {
            if state.as_deref().is_some_and(|s| e.path() == s) {
                return false;
            }
            include_git
                || e.depth() == 0
                || e.file_name() != ".git"
                || !e.file_type().is_some_and(|t| t.is_dir())
        });

        let deadline: Instant = self.env.deadline;
        let cancel: &AtomicBool = self.env.cancel;
        let out_of_time = AtomicBool::new(false);
        let entries = AtomicU64::new(0);
        let unreadable = AtomicU64::new(0);
        let start_is_dir = dir
            .metadata(resolved.rel())
            .map(|m| m.is_dir())
            .unwrap_or(false);
        builder.build_parallel().run(|| {
            let mut visit = make_visitor();
            let (root, out_of_time, entries, unreadable) =
                (&root, &out_of_time, &entries, &unreadable);
            Box::new(move |result| {
                if cancel.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    out_of_time.store(true, Ordering::Relaxed);
                    return ignore::WalkState::Quit;
                }
                let entry = match result {
                    Ok(e) => e,
                    Err(_) => {
                        unreadable.fetch_add(1, Ordering::Relaxed);
                        return ignore::WalkState::Continue;
                    }
                };
                if entry.depth() == 0 && start_is_dir {
                    return ignore::WalkState::Continue;
                }
                let Ok(rel) = entry.path().strip_prefix(root) else {
                    return ignore::WalkState::Skip;
                };
                let kind = match entry.file_type() {
                    Some(t) if t.is_symlink() => EntryKind::Symlink,
                    Some(t) if t.is_dir() => EntryKind::Dir,
                    Some(t) if t.is_file() => EntryKind::File,
                    _ => EntryKind::Other,
                };
                entries.fetch_add(1, Ordering::Relaxed);
                let we = WalkEntry {
                    dir,
                    rel: rel.to_path_buf(),
                    kind,
                    depth: entry.depth(),
                };
                match visit(&we) {
                    WalkFlow::Continue => ignore::WalkState::Continue,
                    WalkFlow::Skip => ignore::WalkState::Skip,
                    WalkFlow::Stop => ignore::WalkState::Quit,
                }
            })
        });
        if out_of_time.load(Ordering::Relaxed) {
            self.checkpoint()?;
            return Err(
                CapError::new(ErrorKind::Timeout, "the call ran past its time limit")
                    .with_hint("narrow the search (a sub-folder, a name_glob) and try again"),
            );
        }
        Ok(WalkStats {
            entries: entries.into_inner(),
            unreadable: unreadable.into_inner(),
        })
    }
}

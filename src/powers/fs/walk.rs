//! Walking a tree beneath the workspace root in parallel (read power), for searches.
//!
//! The walk is handle-relative: every folder is opened through the workspace's root
//! handle (beneath the root, openat2 `RESOLVE_BENEATH` where Linux has it) without
//! following a final symlink, its entries are listed through that folder handle, and a
//! file's content is opened through the same folder handle, again without following a
//! symlink. No absolute path is ever opened, so a folder swapped for a symlink to
//! somewhere outside while the walk runs is not entered (the open fails) and nothing of
//! the outside tree is reported. Symbolic links are reported as links, never followed.
//!
//! Each worker thread holds at most one folder and one file open at a time, so the number
//! of open files stays bounded whatever the size of the tree. airun's own state folder and,
//! unless asked, `.git` folders are never entered. Ignore files (`.gitignore`, `.ignore`,
//! `.git/info/exclude`) are read through the same handles, only inside the workspace:
//! those of the folders between the workspace root and the walk's start apply too, never
//! those above the root, and never the user's global git excludes. A deeper ignore file
//! wins over a shallower one, `.ignore` over `.gitignore` in the same folder, and `!`
//! lines re-include what a shallower rule left out.

use super::{Ctx, EntryKind, FsRead, ReadHandle, io_err, open_regular, refuse_read_hard_links, ws};
use crate::catalog::Access;
use crate::error::{CapError, ErrorKind};
use crate::settings::HardLinks;
use crate::types::WsPath;
use cap_fs_ext::DirExt;
use cap_std::fs::Dir;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// The folder handle the entry was listed through.
    parent: &'a Dir,
    /// The entry's name in `parent` (for a single-file walk, its path from the root).
    name: OsString,
    rel: PathBuf,
    /// The root's absolute path, when results name this root's paths absolutely.
    base: Option<&'a Path>,
    kind: EntryKind,
    depth: usize,
    hardlinks: HardLinks,
    deadline: Instant,
}

impl WalkEntry<'_> {
    /// The path relative to the workspace root.
    pub fn path(&self) -> &Path {
        &self.rel
    }

    /// The path as text, as shown in results: workspace-relative (`/` separators), or
    /// absolute in a root other than the first.
    pub fn display(&self) -> String {
        match self.base {
            Some(base) => base.join(&self.rel).to_string_lossy().into_owned(),
            None => self.rel.to_string_lossy().into_owned(),
        }
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
    /// handle of the folder it was listed in; 0 when the entry vanished since it was
    /// listed.
    pub fn size(&self) -> u64 {
        self.parent
            .symlink_metadata(Path::new(&self.name))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Opens a regular file for reading, through the handle of the folder it was listed
    /// in and without following a symlink; a FIFO or device swapped in meanwhile is
    /// refused without blocking. Reads stop at the call's time limit.
    pub fn open(&self) -> Result<ReadHandle, CapError> {
        if self.kind != EntryKind::File {
            return Err(CapError::execution(format!(
                "`{}` is not a regular file",
                self.display()
            )));
        }
        let (file, meta) = open_regular(self.parent, Path::new(&self.name), false)
            .map_err(|e| io_err(e, &self.rel, "reading"))?;
        refuse_read_hard_links(self.hardlinks, &meta, &self.rel)?;
        Ok(ReadHandle {
            file,
            len: meta.len(),
            deadline: Some(self.deadline),
        })
    }
}

/// Largest ignore file read; a bigger one is left out.
const MAX_IGNORE_FILE: u64 = 1 << 20;

/// The ignore rules in force in one folder: its own files (highest precedence first),
/// then those of the folders above.
struct Rules {
    own: Vec<Gitignore>,
    parent: Option<Arc<Rules>>,
}

impl Rules {
    /// Whether the entry at `virt` is ignored: the deepest rule that matches decides.
    fn ignores(&self, virt: &Path, is_dir: bool) -> bool {
        let mut level = Some(self);
        while let Some(r) = level {
            for g in &r.own {
                let m = g.matched(virt, is_dir);
                if m.is_ignore() {
                    return true;
                }
                if m.is_whitelist() {
                    return false;
                }
            }
            level = r.parent.as_deref();
        }
        false
    }
}

/// The virtual absolute path ignore matchers see for a workspace-relative path.
fn virtual_path(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

/// Reads one ignore file through a folder handle (never following a symlink, never a
/// FIFO) into a matcher rooted at the folder.
fn read_ignore(dir: &Dir, name: &Path, folder_rel: &Path) -> Option<Gitignore> {
    let (file, meta) = open_regular(dir, name, false).ok()?;
    if meta.len() > MAX_IGNORE_FILE {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_IGNORE_FILE).read_to_string(&mut text).ok()?;
    let mut b = GitignoreBuilder::new(virtual_path(folder_rel));
    for line in text.lines() {
        let _ = b.add_line(None, line);
    }
    b.build().ok().filter(|g| !g.is_empty())
}

/// The rules a folder adds: `.ignore`, `.gitignore`, and `.git/info/exclude` when the
/// folder holds a repository.
fn folder_rules(dir: &Dir, folder_rel: &Path, parent: Option<Arc<Rules>>) -> Arc<Rules> {
    let mut own = Vec::new();
    for name in [".ignore", ".gitignore", ".git/info/exclude"] {
        if let Some(g) = read_ignore(dir, Path::new(name), folder_rel) {
            own.push(g);
        }
    }
    if own.is_empty()
        && let Some(p) = parent
    {
        return p;
    }
    Arc::new(Rules { own, parent })
}

/// One folder waiting to be listed.
struct Job {
    rel: PathBuf,
    depth: usize,
    rules: Option<Arc<Rules>>,
}

/// The shared queue of folders of a parallel walk.
struct Queue {
    state: Mutex<(VecDeque<Job>, usize)>,
    ready: Condvar,
    quit: AtomicBool,
}

impl Queue {
    fn push(&self, job: Job) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0.push_back(job);
        self.ready.notify_one();
    }

    /// The next folder, or `None` when the walk is over (nothing queued, nobody busy).
    fn next(&self) -> Option<Job> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.quit.load(Ordering::Relaxed) {
                self.ready.notify_all();
                return None;
            }
            if let Some(j) = s.0.pop_front() {
                s.1 += 1;
                return Some(j);
            }
            if s.1 == 0 {
                self.ready.notify_all();
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.1 -= 1;
        if s.1 == 0 && s.0.is_empty() {
            self.ready.notify_all();
        }
    }

    fn stop(&self) {
        self.quit.store(true, Ordering::Relaxed);
        let _s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.ready.notify_all();
    }
}

/// What every worker of one walk shares.
struct Shared<'w> {
    root: &'w Dir,
    base: Option<&'w Path>,
    options: WalkOptions,
    respect: bool,
    state: Option<PathBuf>,
    hardlinks: HardLinks,
    deadline: Instant,
    cancel: &'w AtomicBool,
    out_of_time: AtomicBool,
    entries: AtomicU64,
    unreadable: AtomicU64,
    queue: Queue,
}

impl Shared<'_> {
    fn over(&self) -> bool {
        if self.cancel.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
            self.out_of_time.store(true, Ordering::Relaxed);
            self.queue.stop();
            return true;
        }
        false
    }

    /// Lists one folder through its own handle and visits its entries.
    fn list(&self, job: Job, visit: &mut dyn FnMut(&WalkEntry<'_>) -> WalkFlow) {
        let opened = if job.rel.as_os_str().is_empty() {
            self.root.try_clone()
        } else {
            self.root.open_dir_nofollow(&job.rel)
        };
        let Ok(dir) = opened else {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let rules = if self.respect {
            Some(folder_rules(&dir, &job.rel, job.rules))
        } else {
            None
        };
        let Ok(listing) = dir.entries() else {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let include_git = self.options.include_git_dir && self.options.include_hidden;
        for item in listing {
            if self.over() {
                return;
            }
            let Ok(item) = item else {
                self.unreadable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let name = item.file_name();
            let Ok(ft) = item.file_type() else {
                self.unreadable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let kind = EntryKind::of_type(ft);
            let rel = job.rel.join(&name);
            if self.state.as_deref() == Some(rel.as_path()) {
                continue;
            }
            let hidden = name.as_encoded_bytes().first() == Some(&b'.');
            if hidden && !self.options.include_hidden {
                continue;
            }
            if kind == EntryKind::Dir && name == OsStr::new(".git") && !include_git {
                continue;
            }
            if let Some(r) = &rules
                && r.ignores(&virtual_path(&rel), kind == EntryKind::Dir)
            {
                continue;
            }
            self.entries.fetch_add(1, Ordering::Relaxed);
            let entry = WalkEntry {
                parent: &dir,
                name,
                rel,
                base: self.base,
                kind,
                depth: job.depth + 1,
                hardlinks: self.hardlinks,
                deadline: self.deadline,
            };
            match visit(&entry) {
                WalkFlow::Continue if kind == EntryKind::Dir => self.queue.push(Job {
                    rel: entry.rel,
                    depth: entry.depth,
                    rules: rules.clone(),
                }),
                WalkFlow::Continue | WalkFlow::Skip => {}
                WalkFlow::Stop => {
                    self.queue.stop();
                    return;
                }
            }
        }
    }
}

/// Filesystem read power: walking.
impl<P> Ctx<'_, P> {
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
        P: FsRead,
    {
        let w = ws(self);
        let resolved = w.resolve(start, Access::Read)?;
        let dir = w.dir();
        let meta = dir
            .symlink_metadata(resolved.rel())
            .map_err(|e| io_err(e, resolved.rel(), "searching"))?;
        let hardlinks = self.env.settings.fs.hardlinks;
        if !meta.is_dir() {
            // A single file: reported alone, opened through the root handle.
            let kind = if meta.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            let entry = WalkEntry {
                parent: dir,
                name: resolved.rel().as_os_str().to_os_string(),
                rel: resolved.rel().to_path_buf(),
                base: w.shown_base(),
                kind,
                depth: 0,
                hardlinks,
                deadline: self.env.deadline,
            };
            let mut visit = make_visitor();
            visit(&entry);
            self.checkpoint()?;
            return Ok(WalkStats {
                entries: 1,
                unreadable: 0,
            });
        }
        // The ignore rules of the folders from the workspace root down to the start's
        // parent, each read through its own handle.
        let mut rules: Option<Arc<Rules>> = None;
        if options.respect_gitignore && !resolved.is_root() {
            let mut chain = vec![PathBuf::new()];
            let mut acc = PathBuf::new();
            if let Some(parent) = resolved.rel().parent() {
                for c in parent.components() {
                    acc.push(c);
                    chain.push(acc.clone());
                }
            }
            for folder in chain {
                let handle = if folder.as_os_str().is_empty() {
                    dir.try_clone()
                } else {
                    dir.open_dir_nofollow(&folder)
                };
                if let Ok(h) = handle {
                    rules = Some(folder_rules(&h, &folder, rules.take()));
                }
            }
        }
        let threads = if options.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            options.threads
        };
        let shared = Shared {
            root: dir,
            base: w.shown_base(),
            options,
            respect: options.respect_gitignore,
            state: w.protected().state().map(Path::to_path_buf),
            hardlinks,
            deadline: self.env.deadline,
            cancel: self.env.cancel,
            out_of_time: AtomicBool::new(false),
            entries: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            queue: Queue {
                state: Mutex::new((VecDeque::new(), 0)),
                ready: Condvar::new(),
                quit: AtomicBool::new(false),
            },
        };
        shared.queue.push(Job {
            rel: if resolved.is_root() {
                PathBuf::new()
            } else {
                resolved.rel().to_path_buf()
            },
            depth: 0,
            rules,
        });
        let visitors: Vec<V> = (0..threads).map(|_| make_visitor()).collect();
        std::thread::scope(|scope| {
            for mut visit in visitors {
                let shared = &shared;
                scope.spawn(move || {
                    while let Some(job) = shared.queue.next() {
                        shared.list(job, &mut visit);
                        shared.queue.done();
                    }
                });
            }
        });
        if shared.out_of_time.load(Ordering::Relaxed) {
            self.checkpoint()?;
            return Err(
                CapError::new(ErrorKind::Timeout, "the call ran past its time limit")
                    .with_hint("narrow the search (a sub-folder, a name_glob) and try again"),
            );
        }
        Ok(WalkStats {
            entries: shared.entries.into_inner(),
            unreadable: shared.unreadable.into_inner(),
        })
    }
}

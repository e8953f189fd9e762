//! Helpers shared by the integration tests: a workspace in a temporary folder (with room
//! for "outside" files next to it), a pipeline over the standard capabilities, and
//! snapshots of everything on disk to prove a refused call changed nothing.

#![allow(dead_code)]

use airun::pipeline::{CallOptions, Confirmer, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::{CapError, ErrorKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Content of the sentinel file kept outside the workspace.
pub const SECRET: &str = "TOP SECRET: outside the workspace\n";

/// A workspace `<tmp>/ws` with a pipeline, and `<tmp>/outside/secret.txt` next to it.
pub struct Fixture {
    /// The temporary parent folder (removed on drop).
    pub tmp: tempfile::TempDir,
    /// Canonical path of the parent folder.
    pub base: PathBuf,
    /// Canonical path of the workspace root.
    pub root: PathBuf,
    /// The pipeline, bound to the workspace.
    pub pipeline: Pipeline<Capabilities<Stdlib>>,
}

impl Fixture {
    /// Default settings, no state folder.
    pub fn new() -> Self {
        Self::with(Settings::default(), None)
    }

    /// Given settings and, optionally, a state folder relative to the workspace root.
    pub fn with(settings: Settings, state: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let base = tmp.path().canonicalize().expect("canonical temp dir");
        let root = base.join("ws");
        let state_abs = state.map(|s| root.join(s));
        if let Some(s) = &state_abs {
            std::fs::create_dir_all(s).expect("state dir");
        }
        let ws = Workspace::open(&root, true, state_abs.as_deref()).expect("workspace opens");
        assert_eq!(ws.root(), root.as_path());
        let pipeline = Pipeline::new(airun::stdlib::capabilities(), ws, settings);
        std::fs::create_dir_all(base.join("outside")).expect("outside dir");
        std::fs::write(base.join("outside/secret.txt"), SECRET).expect("sentinel");
        Fixture {
            tmp,
            base,
            root,
            pipeline,
        }
    }

    /// Absolute path of a workspace entry.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Absolute path of an entry of the parent folder (outside the workspace).
    pub fn outside(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    /// Writes a workspace file, creating its folders.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, content).expect("write fixture file");
        p
    }

    /// Creates a workspace folder with its parents.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).expect("create dir");
        p
    }

    /// Creates a symlink at workspace path `rel` storing `target` verbatim.
    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::os::unix::fs::symlink(target.as_ref(), &p).expect("create symlink");
        p
    }

    /// Reads a workspace file as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// True when something (even a dangling symlink) is at the workspace path.
    pub fn present(&self, rel: &str) -> bool {
        self.path(rel).symlink_metadata().is_ok()
    }

    /// Unix permission bits of a workspace entry (not following symlinks).
    pub fn mode(&self, rel: &str) -> u32 {
        self.path(rel)
            .symlink_metadata()
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    /// Sets Unix permission bits of a workspace entry.
    pub fn set_mode(&self, rel: &str, mode: u32) {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }

    /// Names in a workspace folder (hidden ones too), sorted.
    pub fn names(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(rel))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Runs a call, approving any confirmation as `--yes` would.
    pub fn call(&self, id: &str, args: Value) -> Result<Value, CapError> {
        self.call_with(id, args, &FlagConfirmer)
    }

    /// Runs a call with the given confirmer.
    pub fn call_with(
        &self,
        id: &str,
        args: Value,
        confirmer: &dyn Confirmer,
    ) -> Result<Value, CapError> {
        self.pipeline
            .execute(id, args, confirmer, CallOptions::default())
    }

    /// Runs a call that must succeed.
    pub fn ok(&self, id: &str, args: Value) -> Value {
        let shown = args.to_string();
        self.call(id, args)
            .unwrap_or_else(|e| panic!("{id} {shown} failed: {e:?}"))
    }

    /// Runs a call that must fail.
    pub fn err(&self, id: &str, args: Value) -> CapError {
        let shown = args.to_string();
        match self.call(id, args) {
            Ok(v) => panic!("{id} {shown} should have failed but returned {v}"),
            Err(e) => e,
        }
    }

    /// Runs a call that must fail with `kind`.
    pub fn err_kind(&self, id: &str, args: Value, kind: ErrorKind) -> CapError {
        let shown = args.to_string();
        let e = self.err(id, args);
        assert_eq!(e.kind, kind, "{id} {shown}: unexpected error {e:?}");
        e
    }

    /// Everything on disk under the parent folder (the workspace and outside it).
    pub fn snapshot_all(&self) -> Snapshot {
        Snapshot::of(&self.base)
    }

    /// Runs a call that the sandbox must refuse, and checks that nothing anywhere on disk
    /// changed and that the secret did not leak into the error.
    pub fn denied(&self, id: &str, args: Value) -> CapError {
        let before = self.snapshot_all();
        let shown = args.to_string();
        let e = self.err(id, args);
        assert_eq!(
            e.kind,
            ErrorKind::DeniedSandbox,
            "{id} {shown}: expected a sandbox refusal, got {e:?}"
        );
        assert!(
            !e.message.contains("TOP SECRET"),
            "{id} {shown}: the error leaks the secret: {e:?}"
        );
        let after = self.snapshot_all();
        before.assert_same(&after, &format!("{id} {shown}"));
        assert_eq!(
            std::fs::read_to_string(self.outside("outside/secret.txt")).expect("sentinel"),
            SECRET
        );
        e
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// One entry of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file: content, permission bits and link count.
    File {
        content: Vec<u8>,
        mode: u32,
        nlink: u64,
    },
    /// A folder and its permission bits.
    Dir { mode: u32 },
    /// A symlink and its stored target.
    Link { target: PathBuf },
    /// Anything else.
    Other,
}

/// Every entry under a folder, without following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Node>);

impl Snapshot {
    /// Walks `root` (not following symlinks).
    pub fn of(root: &Path) -> Snapshot {
        let mut map = BTreeMap::new();
        walk(root, Path::new(""), &mut map);
        Snapshot(map)
    }

    /// Panics with the differences when `other` is not the same.
    pub fn assert_same(&self, other: &Snapshot, what: &str) {
        if self == other {
            return;
        }
        let mut diffs = Vec::new();
        for (k, v) in &self.0 {
            match other.0.get(k) {
                None => diffs.push(format!("removed: {}", k.display())),
                Some(w) if w != v => {
                    diffs.push(format!("changed: {} ({v:?} -> {w:?})", k.display()))
                }
                _ => {}
            }
        }
        for k in other.0.keys() {
            if !self.0.contains_key(k) {
                diffs.push(format!("appeared: {}", k.display()));
            }
        }
        panic!(
            "{what}: the files on disk changed:\n  {}",
            diffs.join("\n  ")
        );
    }
}

fn walk(abs: &Path, rel: &Path, map: &mut BTreeMap<PathBuf, Node>) {
    let mut entries: Vec<_> = std::fs::read_dir(abs)
        .expect("read_dir")
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let r = rel.join(e.file_name());
        let meta = path.symlink_metadata().expect("lstat");
        let ft = meta.file_type();
        let node = if ft.is_symlink() {
            Node::Link {
                target: std::fs::read_link(&path).expect("readlink"),
            }
        } else if ft.is_dir() {
            walk(&path, &r, map);
            Node::Dir {
                mode: meta.mode() & 0o7777,
            }
        } else if ft.is_file() {
            Node::File {
                content: std::fs::read(&path).expect("read"),
                mode: meta.mode() & 0o7777,
                nlink: meta.nlink(),
            }
        } else {
            Node::Other
        };
        map.insert(r, node);
    }
}

/// Runs `f` on another thread and fails if it does not finish within `secs` seconds
/// (for calls that must not hang).
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what} did not finish within {secs} s (hang?)"))
}

/// Kind, mode and content (or link target) of every entry under a folder, by
/// folder-relative path: two equal trees are byte-identical.
pub type Tree = BTreeMap<String, (String, u32, Vec<u8>)>;

/// The [`Tree`] under `root`.
pub fn tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    tree_walk(root, root, &mut out);
    out
}

fn tree_walk(root: &Path, dir: &Path, out: &mut Tree) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            let t = std::fs::read_link(&p).unwrap();
            out.insert(
                rel,
                ("link".into(), 0, t.to_string_lossy().as_bytes().to_vec()),
            );
        } else if m.is_dir() {
            out.insert(rel, ("dir".into(), mode, Vec::new()));
            tree_walk(root, &p, out);
        } else {
            out.insert(rel, ("file".into(), mode, std::fs::read(&p).unwrap()));
        }
    }
}

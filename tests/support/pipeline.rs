//! A workspace in a temporary folder (with room for "outside" files next to it), a
//! pipeline over the standard capabilities, and checks that a refused call changed nothing
//! on disk.

use super::snapshot::Snapshot;
use airun::pipeline::{CallOptions, Confirmer, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::{CapError, ErrorKind};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
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

    /// Everything on disk under the parent folder (the workspace and outside it), with
    /// hard-link counts.
    pub fn snapshot_all(&self) -> Snapshot {
        Snapshot::with_link_counts(&self.base)
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
        self.snapshot_all()
            .assert_same(&before, &format!("{id} {shown}"));
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

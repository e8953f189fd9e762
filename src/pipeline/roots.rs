//! Several workspace roots: which root a call works in, the refusal of calls that could
//! change a read-only root, and the check of a client's (MCP) roots across them.

use super::{Journal, Pipeline};
use crate::catalog::{Access, CallInfo, PathInput, SideEffect};
use crate::error::{CapError, ErrorKind};
use crate::powers::CapabilitySet;
use crate::sandbox::{Resolved, Workspace};
use std::path::{Path, PathBuf};

/// A workspace root beyond the first, with its own undo journal.
pub(super) struct ExtraRoot {
    pub(super) workspace: Workspace,
    pub(super) read_only: bool,
    pub(super) journal: Box<dyn Journal>,
}

/// One workspace root as callers see it: its folder and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RootInfo {
    /// The root's absolute, canonical path.
    pub path: PathBuf,
    /// True when nothing in it may be changed.
    pub read_only: bool,
}

impl<S: CapabilitySet> Pipeline<S> {
    /// Makes the first root read-only (or writable again): every call that could change
    /// something in it is refused before anything runs.
    pub fn with_first_root_read_only(mut self, read_only: bool) -> Self {
        self.read_only_first = read_only;
        self
    }

    /// Adds a workspace root after the first, read-only or with its own undo journal.
    /// Its paths are reached by their absolute path, and results name them absolutely.
    /// Roots must not overlap (see [`overlapping_roots`]).
    pub fn with_root(
        mut self,
        workspace: Workspace,
        read_only: bool,
        journal: Box<dyn Journal>,
    ) -> Self {
        self.extra.push(ExtraRoot {
            workspace: workspace.shown_absolute(),
            read_only,
            journal,
        });
        self
    }

    /// Every workspace root, the first first.
    pub fn roots(&self) -> Vec<RootInfo> {
        std::iter::once(RootInfo {
            path: self.workspace.root().to_path_buf(),
            read_only: self.read_only_first,
        })
        .chain(self.extra.iter().map(|r| RootInfo {
            path: r.workspace.root().to_path_buf(),
            read_only: r.read_only,
        }))
        .collect()
    }

    /// The workspace, read-only flag and journal of root `i` (0 is the first).
    pub(super) fn root_at(&self, i: usize) -> (&Workspace, bool, &dyn Journal) {
        match i.checked_sub(1).and_then(|j| self.extra.get(j)) {
            Some(r) => (&r.workspace, r.read_only, r.journal.as_ref()),
            None => (&self.workspace, self.read_only_first, self.journal.as_ref()),
        }
    }

    /// The root a call's `paths` lie in: a relative path is in the first root, an
    /// absolute one in the root that holds it. A call works in one root.
    pub(super) fn choose_root(&self, paths: &[PathInput<'_>]) -> Result<usize, CapError> {
        let mut chosen: Option<(usize, &str, &str)> = None;
        for input in paths {
            let raw = input.path.as_str();
            let path = Path::new(raw);
            let i = if path.is_absolute() {
                (0..=self.extra.len())
                    .find(|i| self.root_at(*i).0.below_root(path).is_some())
                    .ok_or_else(|| {
                        CapError::new(
                            ErrorKind::DeniedSandbox,
                            format!(
                                "`{raw}` is an absolute path outside every workspace root ({})",
                                self.roots_shown()
                            ),
                        )
                        .with_hint("use a path relative to the first root, or an absolute path inside one of the roots")
                        .with_field(input.field)
                    })?
            } else {
                0
            };
            match chosen {
                None => chosen = Some((i, raw, input.field)),
                Some((j, other, _)) if j != i => {
                    return Err(CapError::new(
                        ErrorKind::DeniedSandbox,
                        format!(
                            "`{other}` is in the root {} and `{raw}` in the root {}; one call works in one root",
                            self.root_at(j).0.root().display(),
                            self.root_at(i).0.root().display()
                        ),
                    )
                    .with_hint("use two calls: read from one root, then write into the other")
                    .with_field(input.field));
                }
                Some(_) => {}
            }
        }
        Ok(chosen.map_or(0, |(i, _, _)| i))
    }

    /// The roots as one line of text, read-only ones marked.
    fn roots_shown(&self) -> String {
        self.roots()
            .iter()
            .map(|r| {
                let ro = if r.read_only { " (read-only)" } else { "" };
                format!("{}{ro}", r.path.display())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Refuses a call (with its `paths`) that could change root `root` when that root is
    /// read-only.
    pub(super) fn refuse_read_only(
        &self,
        root: usize,
        call: &S::Call,
        paths: &[PathInput<'_>],
    ) -> Result<(), CapError> {
        let (workspace, read_only, _) = self.root_at(root);
        if !read_only {
            return Ok(());
        }
        let cap = call.capability();
        // What could change files of the root: a path written or deleted, a program run
        // in it, an undo or redo of its history.
        let changes = cap.side_effects.iter().any(|e| {
            matches!(
                e,
                SideEffect::FilesystemWrite
                    | SideEffect::FilesystemDelete
                    | SideEffect::SystemExec
                    | SideEffect::StateMutation
            )
        }) || paths
            .iter()
            .any(|p| matches!(p.access, Access::Write | Access::Delete));
        if changes && !call.params().changes_nothing() {
            let what = paths
                .iter()
                .find(|p| matches!(p.access, Access::Write | Access::Delete))
                .map(|p| format!("`{}`", p.path.as_str()))
                .unwrap_or_else(|| "files".into());
            return Err(CapError::new(
                ErrorKind::DeniedPolicy,
                format!(
                    "`{}` would change {what} in the read-only root {}",
                    cap.id,
                    workspace.root().display()
                ),
            )
            .with_hint(format!(
                "the operator gave this root as read-only (`DIR:ro`); it can be read, not changed. Roots: {}",
                self.roots_shown()
            )));
        }
        Ok(())
    }
}

/// Two of `roots` that overlap (one is the other or lies inside it), if any: a path in
/// both would be writable through one and read-only through the other, and journaled
/// twice.
pub fn overlapping_roots(roots: &[&Path]) -> Option<(PathBuf, PathBuf)> {
    for (i, a) in roots.iter().enumerate() {
        for b in &roots[i + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                return Some((a.to_path_buf(), b.to_path_buf()));
            }
        }
    }
    None
}

/// Refuses a path outside every one of the client's roots. `first` is the first
/// workspace root (relative client roots are in it), `root` the root `resolved` is in.
pub(super) fn outside_roots(
    first: &Path,
    root: &Path,
    resolved: &Resolved,
    roots: &[PathBuf],
) -> Result<(), CapError> {
    let rel = resolved.rel();
    let absolute = if resolved.is_root() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    if roots.iter().any(|r| absolute.starts_with(first.join(r))) {
        return Ok(());
    }
    let rel = PathBuf::from(resolved.display());
    let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(CapError::new(
        ErrorKind::DeniedSandbox,
        format!(
            "`{}` is outside the folders this client gave as its roots ({})",
            rel.display(),
            shown.join(", ")
        ),
    )
    .with_hint(
        "use a path inside one of the client's roots (paths stay relative to the workspace root)",
    ))
}

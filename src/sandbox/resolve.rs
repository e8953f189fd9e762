//! Component-by-component path resolution beneath the workspace root.

use super::denied;
use super::{Climb, stays_beneath};
use crate::catalog::Access;
use crate::error::CapError;
use cap_std::fs::Dir;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::ErrorKind as IoKind;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed in one resolution before giving up (as Linux's ELOOP limit).
const MAX_LINK_HOPS: usize = 40;

const HINT_INSIDE: &str = "use a path inside the workspace, relative to its root";

/// Resolves `raw` beneath `dir` (whose absolute path is `root`). Returns the canonical
/// workspace-relative path: no `.` or `..`, no symlinks except a final one that the access
/// does not follow.
pub fn resolve(dir: &Dir, root: &Path, raw: &str, access: Access) -> Result<PathBuf, CapError> {
    let given = Path::new(raw);
    if given.is_absolute() {
        return Err(denied(
            format!("`{raw}` is an absolute path outside the workspace"),
            HINT_INSIDE,
        ));
    }
    resolve_below(dir, root, raw, given, access)
}

/// Resolves `given` (relative: `raw` itself, or what of an absolute `raw` lies below
/// the root) beneath `dir`, as [`resolve`] does.
pub fn resolve_below(
    dir: &Dir,
    root: &Path,
    raw: &str,
    given: &Path,
    access: Access,
) -> Result<PathBuf, CapError> {
    let follow_final = matches!(access, Access::Read | Access::Write);
    let mut queue: VecDeque<OsString> = VecDeque::new();
    push_components(&mut queue, given, raw)?;
    let mut stack: Vec<OsString> = Vec::new();
    let mut hops = 0;
    // Once a component does not exist, the rest cannot be symlinks: resolve it lexically.
    let mut missing = false;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            if stack.pop().is_none() {
                return Err(denied(
                    format!("`{raw}` goes above the workspace root with `..`"),
                    HINT_INSIDE,
                ));
            }
            // What is left may exist again (`missing/../link/x`): look at it, so a symlink
            // after the `..` is checked like any other.
            missing = false;
            continue;
        }
        if missing {
            stack.push(c);
            continue;
        }
        let candidate: PathBuf = stack.iter().chain(std::iter::once(&c)).collect();
        let meta = match dir.symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == IoKind::NotFound => {
                missing = true;
                stack.push(c);
                continue;
            }
            Err(_) => {
                // Not a folder on the way, or unreadable: the operation will say so.
                missing = true;
                stack.push(c);
                continue;
            }
        };
        if !meta.file_type().is_symlink() {
            stack.push(c);
            continue;
        }
        let target = dir.read_link_contents(&candidate).map_err(|e| {
            crate::error::CapError::execution(format!(
                "cannot read the symbolic link `{}`: {e}",
                candidate.display()
            ))
        })?;
        let last = queue.is_empty();
        // A link that leads out is refused even when it is not followed (inspecting it
        // would still tell where it points); deleting the link itself is allowed.
        let stays = target_stays_inside(&stack, &target, root);
        let deleting_the_link = last && access == Access::Delete;
        if !(stays || deleting_the_link) {
            return Err(denied(
                format!(
                    "`{}` is a symbolic link to `{}`, which is outside the workspace",
                    candidate.display(),
                    target.display()
                ),
                "symlinks may point only inside the workspace",
            ));
        }
        if last && !follow_final {
            stack.push(c);
            continue;
        }
        hops += 1;
        if hops > MAX_LINK_HOPS {
            return Err(denied(
                format!("`{raw}` goes through too many symbolic links (a loop?)"),
                "fix the symlink loop",
            ));
        }
        let mut expanded: VecDeque<OsString> = VecDeque::new();
        if target.is_absolute() {
            // Only reached when the absolute target lies inside the root: restart from it.
            let inside = target.strip_prefix(root).unwrap_or(Path::new(""));
            stack.clear();
            push_components(&mut expanded, inside, raw)?;
        } else {
            push_components(&mut expanded, &target, raw)?;
        }
        while let Some(x) = expanded.pop_back() {
            queue.push_front(x);
        }
    }
    Ok(stack.iter().collect())
}

/// Splits a relative path into components, keeping `..` and dropping `.`.
fn push_components(queue: &mut VecDeque<OsString>, path: &Path, raw: &str) -> Result<(), CapError> {
    for comp in path.components() {
        match comp {
            Component::Normal(s) => queue.push_back(s.to_os_string()),
            Component::ParentDir => queue.push_back(OsString::from("..")),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(denied(
                    format!("`{raw}` is an absolute path; paths must be relative to the workspace"),
                    HINT_INSIDE,
                ));
            }
        }
    }
    Ok(())
}

/// Lexically checks where a link target lands: a relative target from the link's folder
/// (`stack`), an absolute one against the root's own absolute path, component by
/// component (so `/ws-evil` is not inside `/ws`).
fn target_stays_inside(stack: &[OsString], target: &Path, root: &Path) -> bool {
    if target.is_absolute() {
        return target
            .strip_prefix(root)
            .is_ok_and(|inside| stays_beneath(0, inside, Climb::Anywhere));
    }
    stays_beneath(stack.len(), target, Climb::Anywhere)
}

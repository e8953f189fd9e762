//! The one containment check for symbolic links: whether a link's target, judged by its
//! names alone, stays beneath a folder. Path resolution, link creation and moves in the
//! workspace, and links in an archive being extracted all ask it.

use std::path::{Component, Path};

/// Where a `..` may appear in a link target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Climb {
    /// Anywhere: every folder on the way is a real folder (resolution checks each one).
    Anywhere,
    /// Only before the first name: after a name (`x/y/..`) it would climb from wherever
    /// `x/y` leads, which another link can make anywhere.
    LeadingOnly,
}

/// True when `target`, read from a folder `depth` levels below the top, never climbs
/// above the top. An absolute target is never beneath (its caller decides what an
/// absolute target means).
pub fn stays_beneath(depth: usize, target: &Path, climb: Climb) -> bool {
    let mut depth = depth;
    let mut named = false;
    for comp in target.components() {
        match comp {
            Component::ParentDir if named && climb == Climb::LeadingOnly => return false,
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::Normal(_) => {
                named = true;
                depth += 1;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_that_climb_too_far_or_start_at_the_root_are_refused() {
        let ok = |d, t: &str, c| stays_beneath(d, Path::new(t), c);
        assert!(ok(0, "a/b", Climb::Anywhere));
        assert!(ok(1, "../a", Climb::Anywhere));
        assert!(!ok(0, "../a", Climb::Anywhere));
        assert!(!ok(1, "../../a", Climb::LeadingOnly));
        assert!(ok(0, "a/../b", Climb::Anywhere));
        assert!(!ok(0, "a/../b", Climb::LeadingOnly));
        assert!(ok(2, "./../x/./y", Climb::LeadingOnly));
        assert!(!ok(5, "/etc/passwd", Climb::Anywhere));
    }
}

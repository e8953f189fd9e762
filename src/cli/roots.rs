//! The workspace roots the command line names: `--workspace DIR` given several times, or
//! `AIRUN_WORKSPACE` listing several folders `:`-separated (as PATH does); a `:ro` after
//! a folder makes it read-only (`:rw`, the default, says writable).

use crate::error::{CapError, ErrorKind};
use std::path::PathBuf;

/// One root as given: its folder and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSpec {
    /// The folder, as given.
    pub path: PathBuf,
    /// True for `DIR:ro`.
    pub read_only: bool,
}

/// The roots `values` (the `--workspace` values, or the one `AIRUN_WORKSPACE` value) name,
/// in order. Each value is split at `:`; a part `ro` or `rw` marks the folder before it.
pub fn parse(values: &[PathBuf]) -> Result<Vec<RootSpec>, CapError> {
    let mut roots: Vec<RootSpec> = Vec::new();
    for value in values {
        let text = value.to_str().ok_or_else(|| {
            CapError::new(
                ErrorKind::InvalidInput,
                format!("--workspace {} is not valid UTF-8", value.to_string_lossy()),
            )
            .with_hint("name the folder in UTF-8 (or pass it through a symlink that is)")
        })?;
        let mut marked = false;
        for (i, part) in text.split(':').enumerate() {
            match part {
                "ro" | "rw" if i > 0 && !marked => {
                    if let Some(last) = roots.last_mut() {
                        last.read_only = part == "ro";
                    }
                    marked = true;
                }
                "ro" | "rw" => {
                    return Err(bad(
                        text,
                        &format!("`:{part}` may follow a folder only once"),
                    ));
                }
                "" => return Err(bad(text, "it has an empty folder name")),
                folder => {
                    marked = false;
                    roots.push(RootSpec {
                        path: PathBuf::from(folder),
                        read_only: false,
                    });
                }
            }
        }
    }
    Ok(roots)
}

fn bad(text: &str, why: &str) -> CapError {
    CapError::new(
        ErrorKind::InvalidInput,
        format!("--workspace `{text}` cannot be read: {why}"),
    )
    .with_hint("give each root as DIR or DIR:ro, e.g. --workspace ~/app --workspace ~/docs:ro (AIRUN_WORKSPACE=~/app:~/docs:ro)")
}

#[cfg(test)]
mod tests {
    use super::{RootSpec, parse};
    use std::path::PathBuf;

    fn spec(p: &str, ro: bool) -> RootSpec {
        RootSpec {
            path: PathBuf::from(p),
            read_only: ro,
        }
    }

    #[test]
    fn roots_split_at_colons_and_take_their_mark() {
        let v = |s: &[&str]| s.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(parse(&v(&["/a"])).unwrap(), [spec("/a", false)]);
        assert_eq!(
            parse(&v(&["/a", "/b:ro", "/c:rw"])).unwrap(),
            [spec("/a", false), spec("/b", true), spec("/c", false)]
        );
        assert_eq!(
            parse(&v(&["/a:ro:/b:/c:ro"])).unwrap(),
            [spec("/a", true), spec("/b", false), spec("/c", true)]
        );
        assert_eq!(parse(&v(&["./ro"])).unwrap(), [spec("./ro", false)]);
        assert_eq!(parse(&v(&["robin:ro"])).unwrap(), [spec("robin", true)]);
        for bad in ["ro", "ro:/a", "/a:ro:ro", "/a::/b", "/a:"] {
            let e = parse(&v(&[bad])).unwrap_err();
            assert!(e.hint.is_some(), "{bad}: {e:?}");
        }
    }
}

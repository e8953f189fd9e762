//! The operator's policy: a TOML file (default `$AIRUN_HOME/policy.toml`) read once at
//! startup into the pipeline's [`Settings`], which describe, check and write the keys
//! themselves; this module finds the file and reports its mistakes.
//!
//! The file lives outside the workspace (the sandbox refuses every access under
//! `$AIRUN_HOME`, and a policy file inside the workspace is refused at startup), so no
//! capability can change it. Every key is optional; a key left out keeps its default.
//! Unknown keys, wrong types and bad values are startup errors of the form
//! `policy.toml:LINE:COL: key: what is wrong`, with exit code 2.

use crate::error::{CapError, ErrorKind};
use crate::settings::Settings;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Where the policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read from this file.
    File(PathBuf),
    /// The default file does not exist: built-in defaults.
    Defaults(PathBuf),
}

impl Source {
    /// The file path (read, or looked for).
    pub fn path(&self) -> &Path {
        match self {
            Source::File(p) | Source::Defaults(p) => p,
        }
    }
}

/// A loaded policy: the settings and where they came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings the pipeline enforces.
    pub settings: Settings,
    /// The file read, or the default path that was missing.
    pub source: Source,
}

/// The default policy file: `<home>/policy.toml`.
pub fn default_path(home: &Path) -> PathBuf {
    home.join("policy.toml")
}

/// Loads the policy: `explicit` (from `--policy`) must exist; the default file may be
/// missing, which means the built-in defaults.
pub fn load(explicit: Option<&Path>, home: &Path) -> Result<Loaded, CapError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (default_path(home), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Loaded {
            settings: parse(&text, &path)?,
            source: Source::File(path),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Loaded {
            settings: Settings::default(),
            source: Source::Defaults(path),
        }),
        Err(e) => Err(CapError::new(
            ErrorKind::InvalidInput,
            format!("cannot read the policy file {}: {e}", path.display()),
        )
        .with_hint("pass an existing TOML file with --policy FILE, or leave --policy out to use $AIRUN_HOME/policy.toml")),
    }
}

/// A policy error at a byte range of the file.
struct At {
    span: Option<Range<usize>>,
    key: String,
    message: String,
}

/// Parses policy text (`path` is only used in error messages) into settings. Every
/// mistake is reported at once, first first: after each one, the entry at fault is set
/// aside and the rest read again (a syntax error, which leaves nothing to read, stops
/// at the first).
pub fn parse(text: &str, path: &Path) -> Result<Settings, CapError> {
    let mut table = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => return Err(report_all(text, path, vec![at(None, &e)])),
    };
    let mut errors: Vec<At> = Vec::new();
    // Each round either succeeds or sets one entry aside, so it ends.
    loop {
        match Settings::deserialize(toml::de::Deserializer::from(table.clone())) {
            Ok(settings) if errors.is_empty() => return Ok(settings),
            Ok(_) => break,
            Err(e) => {
                let entry = e.span().and_then(|s| entry_at(table.get_ref(), s.start));
                errors.push(at(entry.as_deref(), &e));
                match entry {
                    Some(keys) => set_aside(table.get_mut(), &keys),
                    None => break,
                }
            }
        }
    }
    errors.sort_by_key(|a| a.span.as_ref().map_or(0, |s| s.start));
    Err(report_all(text, path, errors))
}

/// A toml error as a policy error, naming the entry (dotted keys) it is about.
fn at(entry: Option<&[String]>, e: &toml::de::Error) -> At {
    At {
        span: e.span(),
        key: entry.map(|k| k.join(".")).unwrap_or_default(),
        message: e.message().trim().to_string(),
    }
}

/// The keys (outermost first) of the entry, at any depth, whose key or value holds byte
/// `pos`.
fn entry_at(table: &DeTable<'_>, pos: usize) -> Option<Vec<String>> {
    table.iter().find_map(|(key, value)| {
        if let DeValue::Table(inner) = value.get_ref()
            && let Some(mut keys) = entry_at(inner, pos)
        {
            keys.insert(0, key.get_ref().to_string());
            return Some(keys);
        }
        (key.span().contains(&pos) || value.span().contains(&pos))
            .then(|| vec![key.get_ref().to_string()])
    })
}

/// Removes the entry at `keys` (outermost first).
fn set_aside(table: &mut DeTable<'_>, keys: &[String]) {
    let Some((last, outer)) = keys.split_last() else {
        return;
    };
    let mut table = table;
    for k in outer {
        match table.get_mut(k.as_str()).map(|v| v.get_mut()) {
            Some(DeValue::Table(inner)) => table = inner,
            _ => return,
        }
    }
    table.remove(last.as_str());
}

/// One error, or all of them, one a line, first first.
fn report_all(text: &str, path: &Path, errors: Vec<At>) -> CapError {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|a| {
            let (line, col) = a
                .span
                .as_ref()
                .map(|s| line_col(text, s.start))
                .unwrap_or((1, 1));
            let key = if a.key.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", a.key)
            };
            format!("{}:{line}:{col}: {key}{}", path.display(), a.message)
        })
        .collect();
    CapError::new(ErrorKind::InvalidInput, lines.join("\n"))
    .with_hint("fix the policy file (the README's \"Operator policy\" section lists every key and its default), or pass another with --policy FILE")
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("policy.toml")).unwrap_err().message
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let s = parse("", Path::new("p.toml")).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn effective_policy_round_trips_through_toml() {
        let s = parse(
            "read_only = true\nauto_approve = [\"io.fs.*\"]\n[exec]\ntimeout_max = 5\n[undo]\nmax_ops = 3\n",
            Path::new("p.toml"),
        )
        .unwrap();
        let shown = s.to_toml();
        let again = parse(&shown, Path::new("p.toml")).unwrap();
        assert_eq!(again, s);
        assert!(shown.contains("timeout_max = 5"), "{shown}");
    }

    #[test]
    fn errors_name_the_file_line_column_and_key() {
        assert_eq!(
            err("read_only = false\n[exec]\ntimeout_max = \"soon\"\n"),
            "policy.toml:3:15: `exec.timeout_max`: invalid type: string \"soon\", expected u64"
        );
        let unknown = err("[exec]\nallow = []\nshell = true\n");
        assert!(
            unknown.starts_with("policy.toml:3:1: `exec.shell`: unknown field `shell`"),
            "{unknown}"
        );
        let effect = err("allowed_side_effects = [\"filesystem_read\", \"fly\"]\n");
        assert!(
            effect
                .starts_with("policy.toml:1:44: `allowed_side_effects`: unknown side effect `fly`"),
            "{effect}"
        );
        let zero = err("\n[undo]\nmax_ops = 0\n");
        assert_eq!(
            zero,
            "policy.toml:3:11: `undo.max_ops`: must be at least 1 operation"
        );
        let syntax = err("read_only = \n");
        assert!(syntax.starts_with("policy.toml:1:"), "{syntax}");
    }
}

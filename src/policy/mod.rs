//! The operator's policy: a TOML file (default `$AIRUN_HOME/policy.toml`) read once at
//! startup into the pipeline's [`Settings`].
//!
//! The file lives outside the workspace (the sandbox refuses every access under
//! `$AIRUN_HOME`, and a policy file inside the workspace is refused at startup), so no
//! capability can change it. Every key is optional; a key left out keeps its default.
//! Unknown keys, wrong types and bad values are startup errors of the form
//! `policy.toml:LINE:COL: key: what is wrong`, with exit code 2.

use crate::catalog::SideEffect;
use crate::error::{CapError, ErrorKind};
use crate::settings::{ExecFallback, ExecPolicy, NetPolicy, Retention, Settings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The policy file as written: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    allowed_side_effects: Option<Vec<Spanned<String>>>,
    read_only: Option<bool>,
    auto_approve: Option<Vec<Spanned<String>>>,
    tools: Option<Vec<Spanned<String>>>,
    exec: Option<ExecFile>,
    net: Option<NetFile>,
    env: Option<EnvFile>,
    undo: Option<UndoFile>,
    mcp: Option<McpFile>,
    fs: Option<FsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct McpFile {
    max_message_bytes: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FsFile {
    hardlinks: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecFile {
    allow: Option<Vec<Spanned<String>>>,
    env_allow: Option<Vec<Spanned<String>>>,
    timeout_max: Option<Spanned<u64>>,
    output_max: Option<Spanned<u64>>,
    network: Option<bool>,
    read_paths: Option<Vec<Spanned<String>>>,
    fallback: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetFile {
    allow_hosts: Option<Vec<Spanned<String>>>,
    deny_hosts: Option<Vec<Spanned<String>>>,
    allow_private: Option<bool>,
    max_body: Option<Spanned<u64>>,
    cross_origin_headers: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvFile {
    allow: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UndoFile {
    max_ops: Option<Spanned<u64>>,
    max_bytes: Option<Spanned<u64>>,
}

/// The effective policy, every key with its value: what `airun policy show` prints, and
/// a file that, read back, gives the same settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectivePolicy {
    /// Side-effect classes capabilities may have.
    pub allowed_side_effects: Vec<String>,
    /// Refuse (and hide) every capability that changes state.
    pub read_only: bool,
    /// Capability ids or `*` globs approved without asking.
    pub auto_approve: Vec<String>,
    /// Capability ids or `*` globs turned on (`!` turns off), the last match deciding.
    pub tools: Vec<String>,
    /// `sys.exec.run`.
    pub exec: EffectiveExec,
    /// `net.http.*`.
    pub net: EffectiveNet,
    /// `sys.info.get_env_var`.
    pub env: EffectiveEnv,
    /// Undo retention.
    pub undo: EffectiveUndo,
    /// The MCP server.
    pub mcp: EffectiveMcp,
    /// File capabilities.
    pub fs: EffectiveFs,
}

/// The `[mcp]` table of [`EffectivePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveMcp {
    /// Longest message (one line) read over stdio, in bytes.
    pub max_message_bytes: u64,
}

/// The `[fs]` table of [`EffectivePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveFs {
    /// `refuse_writes` or `refuse_all`: files with other hard links.
    pub hardlinks: String,
}

/// The `[exec]` table of [`EffectivePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveExec {
    /// Executables that may run.
    pub allow: Vec<String>,
    /// Environment variables passed to the child.
    pub env_allow: Vec<String>,
    /// Longest time limit, in seconds.
    pub timeout_max: u64,
    /// Most bytes kept of stdout and of stderr each.
    pub output_max: u64,
    /// Programs may use TCP.
    pub network: bool,
    /// Paths programs may read besides the workspace and the system folders.
    pub read_paths: Vec<String>,
    /// Where bubblewrap cannot run: `refuse` or `landlock_only`.
    pub fallback: String,
}

/// The `[net]` table of [`EffectivePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveNet {
    /// Hosts that may be reached (empty: any public host).
    pub allow_hosts: Vec<String>,
    /// Hosts never reached.
    pub deny_hosts: Vec<String>,
    /// Allow private, loopback and metadata addresses.
    pub allow_private: bool,
    /// Most bytes of a response body read.
    pub max_body: u64,
    /// Caller headers still sent after a redirect to another origin.
    pub cross_origin_headers: Vec<String>,
}

/// The `[env]` table of [`EffectivePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveEnv {
    /// Variables `sys.info.get_env_var` may read.
    pub allow: Vec<String>,
}

/// The `[undo]` table of [`EffectivePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveUndo {
    /// Most operations kept undoable.
    pub max_ops: u64,
    /// Most bytes of file images kept.
    pub max_bytes: u64,
}

impl EffectivePolicy {
    /// The policy the settings amount to.
    pub fn of(s: &Settings) -> Self {
        EffectivePolicy {
            allowed_side_effects: SideEffect::ALL
                .into_iter()
                .filter(|e| s.allowed_effects.contains(e))
                .map(|e| e.as_str().to_string())
                .collect(),
            read_only: s.read_only,
            auto_approve: s.auto_approve.clone(),
            tools: s.tools.clone(),
            exec: EffectiveExec {
                allow: s.exec.allow.clone(),
                env_allow: s.exec.env_allow.clone(),
                timeout_max: s.exec.timeout_max,
                output_max: s.exec.output_max,
                network: s.exec.network,
                read_paths: s
                    .exec
                    .read_paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                fallback: s.exec.fallback.as_str().to_string(),
            },
            net: EffectiveNet {
                allow_hosts: s.net.allow_hosts.clone(),
                deny_hosts: s.net.deny_hosts.clone(),
                allow_private: s.net.allow_private,
                max_body: s.net.max_body,
                cross_origin_headers: s.net.cross_origin_headers.clone(),
            },
            env: EffectiveEnv {
                allow: s.env_allow.clone(),
            },
            undo: EffectiveUndo {
                max_ops: s.retention.max_ops as u64,
                max_bytes: s.retention.max_bytes,
            },
            mcp: EffectiveMcp {
                max_message_bytes: s.mcp_max_message,
            },
            fs: EffectiveFs {
                hardlinks: s.hardlinks.as_str().to_string(),
            },
        }
    }

    /// As TOML, the format of the policy file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

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

fn at<T>(s: &Spanned<T>, key: &str, message: impl Into<String>) -> At {
    At {
        span: Some(s.span()),
        key: key.to_string(),
        message: message.into(),
    }
}

/// Parses policy text (`path` is only used in error messages) into settings. Every
/// mistake is reported at once, first first: after each one, the entry at fault is set
/// aside and the rest read again (a syntax error, which leaves nothing to read, stops
/// at the first).
pub fn parse(text: &str, path: &Path) -> Result<Settings, CapError> {
    let mut table = match toml::de::DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => return Err(report_all(text, path, vec![toml_error(text, &e)])),
    };
    let mut errors: Vec<At> = Vec::new();
    // Each round either succeeds or sets one entry aside, so it ends.
    loop {
        let read = PolicyFile::deserialize(toml::de::Deserializer::from(table.clone()))
            .map_err(|e| toml_error(text, &e))
            .and_then(apply);
        match read {
            Ok(settings) if errors.is_empty() => return Ok(settings),
            Ok(_) => break,
            Err(a) => {
                let removed = a
                    .span
                    .as_ref()
                    .is_some_and(|s| set_aside(table.get_mut(), s.start));
                errors.push(a);
                if !removed {
                    break;
                }
            }
        }
    }
    errors.sort_by_key(|a| a.span.as_ref().map_or(0, |s| s.start));
    Err(report_all(text, path, errors))
}

/// A toml error as a policy error, naming the key on its line.
fn toml_error(text: &str, e: &toml::de::Error) -> At {
    let span = e.span();
    let key = span
        .as_ref()
        .and_then(|s| key_at(text, s.start))
        .unwrap_or_default();
    At {
        span,
        key,
        message: e.message().trim().to_string(),
    }
}

/// Removes the entry (at any depth) whose key or value holds byte `pos`; false when no
/// entry does.
fn set_aside(table: &mut toml::de::DeTable<'_>, pos: usize) -> bool {
    let mut hit = None;
    for (key, value) in table.iter_mut() {
        if let toml::de::DeValue::Table(inner) = value.get_mut()
            && set_aside(inner, pos)
        {
            return true;
        }
        if key.span().contains(&pos) || value.span().contains(&pos) {
            hit = Some(key.clone());
            break;
        }
    }
    match hit {
        Some(key) => {
            table.remove(&key);
            true
        }
        None => false,
    }
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

/// The dotted key (`exec.timeout_max`) whose line holds `offset`, for messages toml does
/// not name the key in (wrong types, bad values).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let mut table = String::new();
    let mut key: Option<String> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        pos += line.len();
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            table = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            key = None;
            if offset < pos {
                return Some(table);
            }
            continue;
        }
        if let Some((k, _)) = t.split_once('=')
            && !t.starts_with('#')
            && !k.contains('"')
        {
            key = Some(k.trim().to_string());
        }
        if offset < pos || (offset == pos && offset == text.len()) {
            let k = key?;
            return Some(if table.is_empty() {
                k
            } else {
                format!("{table}.{k}")
            });
        }
    }
    None
}

fn strings(v: Vec<Spanned<String>>) -> Vec<String> {
    v.into_iter().map(Spanned::into_inner).collect()
}

fn env_names(v: Vec<Spanned<String>>, key: &str) -> Result<Vec<String>, At> {
    for s in &v {
        let name = s.get_ref();
        let ok = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(at(
                s,
                key,
                format!(
                    "`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"
                ),
            ));
        }
    }
    Ok(strings(v))
}

fn at_least(v: Spanned<u64>, min: u64, key: &str, unit: &str) -> Result<u64, At> {
    if *v.get_ref() < min {
        return Err(at(&v, key, format!("must be at least {min} {unit}")));
    }
    Ok(v.into_inner())
}

fn apply(file: PolicyFile) -> Result<Settings, At> {
    let mut s = Settings::default();
    if let Some(effects) = file.allowed_side_effects {
        let mut set = BTreeSet::new();
        for e in &effects {
            let Some(effect) = SideEffect::parse(e.get_ref()) else {
                let known: Vec<&str> = SideEffect::ALL.iter().map(|e| e.as_str()).collect();
                return Err(at(
                    e,
                    "allowed_side_effects",
                    format!(
                        "unknown side effect `{}`; known: {}",
                        e.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            set.insert(effect);
        }
        s.allowed_effects = set;
    }
    if let Some(ro) = file.read_only {
        s.read_only = ro;
    }
    if let Some(globs) = file.auto_approve {
        for g in &globs {
            let ok = !g.get_ref().is_empty()
                && g.get_ref().chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*')
                });
            if !ok {
                return Err(at(
                    g,
                    "auto_approve",
                    format!(
                        "`{}` is not a capability id or glob (lowercase letters, digits, `_`, `.` and `*`, e.g. `io.fs.*`)",
                        g.get_ref()
                    ),
                ));
            }
        }
        s.auto_approve = strings(globs);
    }
    if let Some(tools) = file.tools {
        for t in &tools {
            let glob = t.get_ref().strip_prefix('!').unwrap_or(t.get_ref());
            let ok = !glob.is_empty()
                && glob.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*')
                });
            if !ok {
                return Err(at(
                    t,
                    "tools",
                    format!(
                        "`{}` is not a capability id or glob, optionally after `!` (lowercase letters, digits, `_`, `.` and `*`, e.g. `io.fs.*` or `!sys.exec.run`)",
                        t.get_ref()
                    ),
                ));
            }
        }
        s.tools = strings(tools);
    }
    if let Some(exec) = file.exec {
        let mut e = ExecPolicy::default();
        if let Some(allow) = exec.allow {
            for a in &allow {
                crate::powers::exec::check_allow_entry(a.get_ref())
                    .map_err(|m| at(a, "exec.allow", m))?;
            }
            e.allow = strings(allow);
        }
        if let Some(env) = exec.env_allow {
            e.env_allow = env_names(env, "exec.env_allow")?;
        }
        if let Some(t) = exec.timeout_max {
            e.timeout_max = at_least(t, 1, "exec.timeout_max", "second")?;
        }
        if let Some(o) = exec.output_max {
            e.output_max = at_least(o, 1, "exec.output_max", "byte")?;
        }
        if let Some(n) = exec.network {
            e.network = n;
        }
        if let Some(paths) = exec.read_paths {
            for p in &paths {
                let path = Path::new(p.get_ref());
                if !path.is_absolute() {
                    return Err(at(
                        p,
                        "exec.read_paths",
                        format!(
                            "`{}` is not an absolute path; give folders or files like `/opt/sdk`",
                            p.get_ref()
                        ),
                    ));
                }
                if ["/proc", "/dev", "/sys"]
                    .iter()
                    .any(|k| path.starts_with(k))
                {
                    return Err(at(
                        p,
                        "exec.read_paths",
                        format!(
                            "`{}` is in /proc, /dev or /sys, which programs get only as their own sandboxed copies",
                            p.get_ref()
                        ),
                    ));
                }
            }
            e.read_paths = strings(paths).into_iter().map(PathBuf::from).collect();
        }
        if let Some(f) = exec.fallback {
            e.fallback = match f.get_ref().as_str() {
                "refuse" => ExecFallback::Refuse,
                "landlock_only" => ExecFallback::LandlockOnly,
                other => {
                    return Err(at(
                        &f,
                        "exec.fallback",
                        format!(
                            "`{other}` is not a fallback; use `refuse` (the default) or `landlock_only`"
                        ),
                    ));
                }
            };
        }
        s.exec = e;
    }
    if let Some(net) = file.net {
        let mut n = NetPolicy::default();
        if let Some(h) = net.allow_hosts {
            n.allow_hosts = hosts(h, "net.allow_hosts")?;
        }
        if let Some(h) = net.deny_hosts {
            n.deny_hosts = hosts(h, "net.deny_hosts")?;
        }
        if let Some(p) = net.allow_private {
            n.allow_private = p;
        }
        if let Some(m) = net.max_body {
            n.max_body = at_least(m, 1, "net.max_body", "byte")?;
        }
        if let Some(h) = net.cross_origin_headers {
            for name in &h {
                if reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
                    return Err(at(
                        name,
                        "net.cross_origin_headers",
                        format!(
                            "`{}` is not a header name (e.g. `X-Trace-Id`)",
                            name.get_ref()
                        ),
                    ));
                }
            }
            n.cross_origin_headers = strings(h)
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect();
        }
        s.net = n;
    }
    if let Some(env) = file.env
        && let Some(allow) = env.allow
    {
        s.env_allow = env_names(allow, "env.allow")?;
    }
    if let Some(fs) = file.fs
        && let Some(h) = fs.hardlinks
    {
        s.hardlinks = crate::settings::HardLinks::parse(h.get_ref()).ok_or_else(|| {
            at(
                &h,
                "fs.hardlinks",
                format!(
                    "`{}` is not a choice; use `refuse_writes` (the default) or `refuse_all`",
                    h.get_ref()
                ),
            )
        })?;
    }
    if let Some(undo) = file.undo {
        let mut r = Retention::default();
        if let Some(m) = undo.max_ops {
            r.max_ops =
                usize::try_from(at_least(m, 1, "undo.max_ops", "operation")?).unwrap_or(usize::MAX);
        }
        if let Some(b) = undo.max_bytes {
            r.max_bytes = at_least(b, 1, "undo.max_bytes", "byte")?;
        }
        s.retention = r;
    }
    if let Some(m) = file.mcp.and_then(|m| m.max_message_bytes) {
        s.mcp_max_message = at_least(m, 1024, "mcp.max_message_bytes", "byte")?;
    }
    Ok(s)
}

fn hosts(v: Vec<Spanned<String>>, key: &str) -> Result<Vec<String>, At> {
    for h in &v {
        let name = h.get_ref();
        let ok = !name.is_empty()
            && name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':' | '[' | ']' | '_')
            });
        if !ok {
            return Err(at(
                h,
                key,
                format!(
                    "`{name}` is not a host name, address or glob (e.g. `example.com`, `*.example.com`, `10.0.0.1`)"
                ),
            ));
        }
    }
    Ok(v.into_iter()
        .map(|h| h.into_inner().to_ascii_lowercase())
        .collect())
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
        assert_eq!(
            EffectivePolicy::of(&s),
            EffectivePolicy::of(&Settings::default())
        );
    }

    #[test]
    fn effective_policy_round_trips_through_toml() {
        let s = parse(
            "read_only = true\nauto_approve = [\"io.fs.*\"]\n[exec]\ntimeout_max = 5\n[undo]\nmax_ops = 3\n",
            Path::new("p.toml"),
        )
        .unwrap();
        let shown = EffectivePolicy::of(&s).to_toml();
        let again = parse(&shown, Path::new("p.toml")).unwrap();
        assert_eq!(EffectivePolicy::of(&again), EffectivePolicy::of(&s));
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

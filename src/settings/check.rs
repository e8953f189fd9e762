//! The checks policy values pass as they are read. Each runs in a visitor, inside the
//! value's own deserializer, so a refusal carries the value's place in the file, down to
//! the item of a list (the policy module turns it into
//! `policy.toml:LINE:COL: key: what is wrong`).

use super::{ExecFallback, HardLinks, program};
use crate::catalog::SideEffect;
use serde::de::{Deserialize, Deserializer, Error, Unexpected, Visitor};
use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A rule one string of a policy list follows: the string kept, or what is wrong with it.
pub(super) trait Rule {
    /// Checks (and may normalize) one string.
    fn check(s: String) -> Result<String, String>;
}

/// Takes one string and checks it.
struct StrVisitor<F>(F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for StrVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

/// One string, checked by `check`.
fn checked_str<'de, D: Deserializer<'de>, T>(
    d: D,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_str(StrVisitor(check))
}

/// One string that passed rule `R`.
struct Checked<R>(String, PhantomData<R>);

impl<'de, R: Rule> Deserialize<'de> for Checked<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, |s| {
            R::check(s.to_string()).map(|s| Checked(s, PhantomData))
        })
    }
}

/// A list of strings, each checked by `R`.
pub(super) fn each<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Checked<R>>::deserialize(d)?
        .into_iter()
        .map(|c| c.0)
        .collect())
}

/// True when `s` is a capability id or `*` glob: lowercase letters, digits, `_`, `.`, `*`.
fn is_cap_glob(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*'))
}

/// `auto_approve`: capability ids or globs.
pub(super) struct CapGlob;

impl Rule for CapGlob {
    fn check(s: String) -> Result<String, String> {
        if is_cap_glob(&s) {
            return Ok(s);
        }
        Err(format!(
            "`{s}` is not a capability id or glob (lowercase letters, digits, `_`, `.` and `*`, e.g. `io.fs.*`)"
        ))
    }
}

/// `tools`: capability ids or globs, each optionally after `!`.
pub(super) struct ToolEntry;

impl Rule for ToolEntry {
    fn check(s: String) -> Result<String, String> {
        if is_cap_glob(s.strip_prefix('!').unwrap_or(&s)) {
            return Ok(s);
        }
        Err(format!(
            "`{s}` is not a capability id or glob, optionally after `!` (lowercase letters, digits, `_`, `.` and `*`, e.g. `io.fs.*` or `!sys.exec.run`)"
        ))
    }
}

/// `env.allow`, `exec.env_allow`: environment variable names.
pub(super) struct EnvName;

impl Rule for EnvName {
    fn check(s: String) -> Result<String, String> {
        let ok = !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            return Ok(s);
        }
        Err(format!(
            "`{s}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

/// `exec.allow`: a program name found on PATH, or an absolute path to an executable.
pub(super) struct Program;

impl Rule for Program {
    fn check(s: String) -> Result<String, String> {
        program::check_allow_entry(&s).map(|()| s)
    }
}

/// `net.allow_hosts`, `net.deny_hosts`: host names, addresses or globs, kept lowercase.
pub(super) struct Host;

impl Rule for Host {
    fn check(s: String) -> Result<String, String> {
        let ok = !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':' | '[' | ']' | '_')
            });
        if ok {
            return Ok(s.to_ascii_lowercase());
        }
        Err(format!(
            "`{s}` is not a host name, address or glob (e.g. `example.com`, `*.example.com`, `10.0.0.1`)"
        ))
    }
}

/// `net.cross_origin_headers`: HTTP header names, kept lowercase.
pub(super) struct Header;

impl Rule for Header {
    fn check(s: String) -> Result<String, String> {
        if reqwest::header::HeaderName::from_bytes(s.as_bytes()).is_ok() {
            return Ok(s.to_ascii_lowercase());
        }
        Err(format!("`{s}` is not a header name (e.g. `X-Trace-Id`)"))
    }
}

/// `exec.read_paths`: absolute paths outside /proc, /dev and /sys.
struct ReadPath;

impl Rule for ReadPath {
    fn check(s: String) -> Result<String, String> {
        let path = Path::new(&s);
        if !path.is_absolute() {
            return Err(format!(
                "`{s}` is not an absolute path; give folders or files like `/opt/sdk`"
            ));
        }
        if ["/proc", "/dev", "/sys"]
            .iter()
            .any(|k| path.starts_with(k))
        {
            return Err(format!(
                "`{s}` is in /proc, /dev or /sys, which programs get only as their own sandboxed copies"
            ));
        }
        Ok(s)
    }
}

/// `exec.read_paths`.
pub(super) fn read_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    Ok(each::<ReadPath, D>(d)?
        .into_iter()
        .map(PathBuf::from)
        .collect())
}

/// A side-effect class name.
struct EffectName;

impl Rule for EffectName {
    fn check(s: String) -> Result<String, String> {
        if SideEffect::parse(&s).is_some() {
            return Ok(s);
        }
        let known: Vec<&str> = SideEffect::ALL.iter().map(|e| e.as_str()).collect();
        Err(format!(
            "unknown side effect `{s}`; known: {}",
            known.join(", ")
        ))
    }
}

/// `allowed_side_effects`.
pub(super) fn side_effects<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeSet<SideEffect>, D::Error> {
    Ok(each::<EffectName, D>(d)?
        .iter()
        .filter_map(|s| SideEffect::parse(s))
        .collect())
}

/// `exec.fallback`: `refuse` or `landlock_only`.
pub(super) fn fallback<'de, D: Deserializer<'de>>(d: D) -> Result<ExecFallback, D::Error> {
    checked_str(d, |s| {
        ExecFallback::parse(s).ok_or_else(|| {
            format!("`{s}` is not a fallback; use `refuse` (the default) or `landlock_only`")
        })
    })
}

/// `fs.hardlinks`: `refuse_writes` or `refuse_all`.
pub(super) fn hardlinks<'de, D: Deserializer<'de>>(d: D) -> Result<HardLinks, D::Error> {
    checked_str(d, |s| {
        HardLinks::parse(s).ok_or_else(|| {
            format!("`{s}` is not a choice; use `refuse_writes` (the default) or `refuse_all`")
        })
    })
}

/// Takes a whole number of at least `min` (`unit`s).
struct AtLeast<'u> {
    min: u64,
    unit: &'u str,
}

impl Visitor<'_> for AtLeast<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("u64")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
        if v < self.min {
            return Err(E::custom(format!(
                "must be at least {} {}",
                self.min, self.unit
            )));
        }
        Ok(v)
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
}

/// A whole number of at least `min` (`unit`s).
fn at_least<'de, D: Deserializer<'de>>(d: D, min: u64, unit: &str) -> Result<u64, D::Error> {
    d.deserialize_u64(AtLeast { min, unit })
}

/// One way to ask a person for a yes: `elicitation` or `console`.
pub(super) struct ConfirmWay;

impl Rule for ConfirmWay {
    fn check(s: String) -> Result<String, String> {
        match s.as_str() {
            "elicitation" | "console" => Ok(s),
            _ => Err(format!(
                "`{s}` is not a way to ask; use `elicitation` (the MCP client asks) or `console` (the call waits in the operations console)"
            )),
        }
    }
}

/// A time limit: at least 1 second.
pub(super) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    at_least(d, 1, "second")
}

/// A size: at least 1 byte.
pub(super) fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    at_least(d, 1, "byte")
}

/// A count of operations: at least 1.
pub(super) fn operations<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    at_least(d, 1, "operation").map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// `limits.calls_per_second`: at least 1 call a second.
pub(super) fn per_second<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    at_least(d, 1, "call a second")
}

/// `limits.burst`, `limits.concurrent_calls`: at least 1 call.
pub(super) fn calls<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    at_least(d, 1, "call")
}

/// The longest MCP message: at least 1024 bytes.
pub(super) fn message_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    at_least(d, 1024, "byte")
}

/// `oauth.algorithms`: JWT signature algorithms with a public key. `none` and the HMAC
/// algorithms (`HS*`, whose "key" would be a shared secret, the root of the HS/RS
/// confusion attack) are refused.
pub(super) struct JwtAlgorithm;

impl Rule for JwtAlgorithm {
    fn check(s: String) -> Result<String, String> {
        const OK: [&str; 9] = [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ];
        if OK.contains(&s.as_str()) {
            return Ok(s);
        }
        Err(format!(
            "`{s}` is not an accepted token algorithm; use public-key ones: {}",
            OK.join(", ")
        ))
    }
}

const ROLES: [&str; 3] = ["viewer", "agent", "admin"];

fn role_name(s: &str, empty_ok: bool) -> Result<String, String> {
    if ROLES.contains(&s) || (empty_ok && s.is_empty()) {
        return Ok(s.to_string());
    }
    Err(format!("`{s}` is not a role; use viewer, agent or admin"))
}

/// A role: `viewer`, `agent` or `admin`.
pub(super) fn role<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked_str(d, |s| role_name(s, false))
}

/// A role, or empty for none.
pub(super) fn role_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked_str(d, |s| role_name(s, true))
}

/// An `http(s)://` URL, or empty for none.
pub(super) fn url_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked_str(d, |s| {
        if s.is_empty() {
            return Ok(String::new());
        }
        match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(s.to_string())
            }
            _ => Err(format!(
                "`{s}` is not an http(s) URL (e.g. `https://idp.example.com/`)"
            )),
        }
    })
}

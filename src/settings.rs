//! Operator settings the permission stage enforces. The model cannot change them.

mod check;
mod narrow;
pub(crate) mod program;

use crate::catalog::{Capability, SideEffect};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Environment variables `sys.info.get_env_var` may read unless the operator says otherwise.
pub const DEFAULT_ENV_ALLOW: [&str; 10] = [
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "SHELL", "TERM", "PWD", "EDITOR", "TZ",
];

/// What the operator allows: the policy file (`policy.toml`), one section a table.
///
/// This one struct is the policy: it reads itself from the file (every key optional, a key
/// left out keeps its default, unknown keys refused, each value checked as it is read by
/// the rules in `settings/check.rs`) and writes itself back (`airun policy show`) in the
/// same shape. A new key is one field here, with its doc comment, its default and its
/// check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Side-effect classes capabilities may have.
    #[serde(
        rename = "allowed_side_effects",
        deserialize_with = "check::side_effects"
    )]
    pub allowed_effects: BTreeSet<SideEffect>,
    /// Refuse (and hide) every capability that changes state.
    pub read_only: bool,
    /// Capability ids, or globs with `*`, approved without asking.
    #[serde(deserialize_with = "check::each::<check::CapGlob, _>")]
    pub auto_approve: Vec<String>,
    /// Which capabilities are turned on: ids or `*` globs, read in order, the last match
    /// deciding; an entry starting with `!` turns off what it matches.
    #[serde(deserialize_with = "check::each::<check::ToolEntry, _>")]
    pub tools: Vec<String>,
    /// Limits for `sys.exec.run`.
    pub exec: ExecPolicy,
    /// Limits for `net.http.*`.
    pub net: NetPolicy,
    /// `sys.info.get_env_var`.
    pub env: EnvPolicy,
    /// Undo points kept.
    #[serde(rename = "undo")]
    pub retention: Retention,
    /// The MCP server.
    pub mcp: McpPolicy,
    /// File capabilities.
    pub fs: FsPolicy,
    /// How a call that needs a person's yes is asked.
    pub confirm: ConfirmPolicy,
    /// Access tokens from an external identity provider (OAuth 2.1, as the MCP
    /// authorization spec describes): off until `issuer` is set.
    pub oauth: OAuthPolicy,
    /// How many calls each principal (the operator, each user) may make over HTTP.
    pub limits: LimitsPolicy,
}

/// The `[limits]` table: the load one principal may put on `airun serve --port`, so that
/// one agent's flood cannot starve the others. Each principal (the operator, each user)
/// has its own allowance; a user's policy may only lower it. Counted on the call paths
/// (`POST /api/v1/capabilities/{id}/calls`, `POST /mcp`); a call beyond it is answered 429
/// with `Retry-After` and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsPolicy {
    /// Calls a second one principal may make, on average.
    #[serde(deserialize_with = "check::per_second")]
    pub calls_per_second: u64,
    /// Calls one principal may make at once after being idle, beyond the average.
    #[serde(deserialize_with = "check::calls")]
    pub burst: u64,
    /// Calls of one principal running at the same time.
    #[serde(deserialize_with = "check::calls")]
    pub concurrent_calls: u64,
}

impl Default for LimitsPolicy {
    fn default() -> Self {
        LimitsPolicy {
            calls_per_second: 10_000,
            burst: 10_000,
            concurrent_calls: 256,
        }
    }
}

impl LimitsPolicy {
    /// Each limit the smaller of these (the operator's) and `user`'s.
    pub fn narrowed_by(&self, user: &LimitsPolicy) -> LimitsPolicy {
        LimitsPolicy {
            calls_per_second: self.calls_per_second.min(user.calls_per_second),
            burst: self.burst.min(user.burst),
            concurrent_calls: self.concurrent_calls.min(user.concurrent_calls),
        }
    }
}

/// The `[oauth]` table: airun as an OAuth resource server that accepts JWT access tokens
/// an identity provider issued, and maps their claims to a user and a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthPolicy {
    /// The identity provider's issuer (the tokens' `iss`); empty turns OAuth off.
    #[serde(deserialize_with = "check::url_or_empty")]
    pub issuer: String,
    /// This server's resource URL: tokens must name it in `aud` (RFC 8707), e.g.
    /// `https://airun.example.com/mcp`.
    #[serde(deserialize_with = "check::url_or_empty")]
    pub audience: String,
    /// Where the provider publishes its signing keys (a JWKS document).
    #[serde(deserialize_with = "check::url_or_empty")]
    pub jwks_url: String,
    /// Signature algorithms accepted; only public-key ones (RS*, PS*, ES256, ES384, EdDSA).
    #[serde(deserialize_with = "check::each::<check::JwtAlgorithm, _>")]
    pub algorithms: Vec<String>,
    /// The claim that names the airun user (`sub`, `email`, `preferred_username`, ...).
    pub name_claim: String,
    /// The role of an identity no rule in `roles` matches: `viewer`, `agent`, `admin`, or
    /// empty to refuse such identities.
    #[serde(deserialize_with = "check::role_or_empty")]
    pub default_role: String,
    /// Rules from claims to roles; an identity gets the highest role of every rule it
    /// matches.
    pub roles: Vec<RoleRule>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// The shortest time between two fetches of the keys when a token names a key not
    /// yet known (a rotation), so unknown keys cannot make airun hammer the provider.
    #[serde(deserialize_with = "check::seconds")]
    pub jwks_refetch_seconds: u64,
}

/// One `[[oauth.roles]]` rule: identities whose `claim` is `value` (or, for a list claim
/// such as `groups`, contains it) get `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The claim looked at (`groups`, `email`, `sub`, ...).
    pub claim: String,
    /// The value it must have or contain.
    pub value: String,
    /// `viewer`, `agent` or `admin`.
    #[serde(deserialize_with = "check::role")]
    pub role: String,
}

impl OAuthPolicy {
    /// True when tokens from an identity provider are accepted.
    pub fn enabled(&self) -> bool {
        !self.issuer.is_empty()
    }
}

impl Default for OAuthPolicy {
    fn default() -> Self {
        OAuthPolicy {
            issuer: String::new(),
            audience: String::new(),
            jwks_url: String::new(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            name_claim: "sub".into(),
            default_role: String::new(),
            roles: Vec::new(),
            leeway_seconds: 30,
            jwks_refetch_seconds: 30,
        }
    }
}

/// The `[confirm]` table: how a call that needs a person's yes is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfirmPolicy {
    /// The ways a person may be asked, in order of preference: `elicitation` (the MCP
    /// client asks its user) and `console` (the call waits in the operations console).
    #[serde(deserialize_with = "check::each::<check::ConfirmWay, _>")]
    pub via: Vec<String>,
    /// How long a call waits in the console for a decision before it is declined.
    #[serde(deserialize_with = "check::seconds")]
    pub timeout_seconds: u64,
}

impl ConfirmPolicy {
    /// True when `way` (`elicitation` or `console`) is one of the allowed ways.
    pub fn allows(&self, way: &str) -> bool {
        self.via.iter().any(|v| v == way)
    }
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        ConfirmPolicy {
            via: vec!["elicitation".into(), "console".into()],
            timeout_seconds: 120,
        }
    }
}

/// The `[env]` table: what `sys.info.get_env_var` may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvPolicy {
    /// Environment variables `sys.info.get_env_var` may read.
    #[serde(deserialize_with = "check::each::<check::EnvName, _>")]
    pub allow: Vec<String>,
}

impl Default for EnvPolicy {
    fn default() -> Self {
        EnvPolicy {
            allow: DEFAULT_ENV_ALLOW.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The `[mcp]` table: the MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpPolicy {
    /// Longest message (one line) the MCP stdio server reads, in bytes.
    #[serde(deserialize_with = "check::message_bytes")]
    pub max_message_bytes: u64,
}

impl Default for McpPolicy {
    fn default() -> Self {
        McpPolicy {
            max_message_bytes: 16 << 20,
        }
    }
}

/// The `[fs]` table: file capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FsPolicy {
    /// What the file capabilities do with a file that has other hard links.
    #[serde(deserialize_with = "check::hardlinks")]
    pub hardlinks: HardLinks,
}

/// `fs.hardlinks`: a file with more than one hard link may be the same file as one outside
/// the workspace. Writing it is always refused; reading it is the operator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HardLinks {
    /// Refuse writes (the default): reads of hard-linked files are allowed.
    #[default]
    RefuseWrites,
    /// Refuse reads too (read, search, copy, zip, stat with a hash).
    RefuseAll,
}

impl HardLinks {
    /// The policy file's spelling: `refuse_writes` or `refuse_all`.
    pub fn as_str(self) -> &'static str {
        match self {
            HardLinks::RefuseWrites => "refuse_writes",
            HardLinks::RefuseAll => "refuse_all",
        }
    }

    /// Parses the policy file's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "refuse_writes" => Some(HardLinks::RefuseWrites),
            "refuse_all" => Some(HardLinks::RefuseAll),
            _ => None,
        }
    }
}

/// The `[exec]` table: what `sys.exec.run` may run, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecPolicy {
    /// Executables (names looked up on the system PATH, or absolute paths) that may run.
    #[serde(deserialize_with = "check::each::<check::Program, _>")]
    pub allow: Vec<String>,
    /// Environment variables passed through to the child; all others are cleared.
    #[serde(deserialize_with = "check::each::<check::EnvName, _>")]
    pub env_allow: Vec<String>,
    /// Longest time limit a call may ask for, in seconds.
    #[serde(deserialize_with = "check::seconds")]
    pub timeout_max: u64,
    /// Most bytes kept of stdout and of stderr each.
    #[serde(deserialize_with = "check::bytes")]
    pub output_max: u64,
    /// Let programs open TCP connections and listen on TCP ports; otherwise Landlock
    /// (ABI 4 and later) refuses both.
    pub network: bool,
    /// Absolute paths programs may read besides the workspace and the system folders.
    #[serde(deserialize_with = "check::read_paths")]
    pub read_paths: Vec<PathBuf>,
    /// What happens where bubblewrap cannot run.
    #[serde(deserialize_with = "check::fallback")]
    pub fallback: ExecFallback,
}

/// What `sys.exec.run` does where bubblewrap cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecFallback {
    /// Refuse to run programs (the default).
    #[default]
    Refuse,
    /// Run them confined by Landlock alone, which leaves metadata, `.git`, hard links,
    /// other processes and non-TCP networking unconfined.
    LandlockOnly,
}

impl ExecFallback {
    /// The policy file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecFallback::Refuse => "refuse",
            ExecFallback::LandlockOnly => "landlock_only",
        }
    }

    /// Parses the policy file's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "refuse" => Some(ExecFallback::Refuse),
            "landlock_only" => Some(ExecFallback::LandlockOnly),
            _ => None,
        }
    }
}

impl Default for ExecPolicy {
    fn default() -> Self {
        ExecPolicy {
            allow: Vec::new(),
            env_allow: vec!["PATH".into(), "LANG".into(), "LC_ALL".into(), "TZ".into()],
            timeout_max: 600,
            output_max: 1 << 20,
            network: false,
            read_paths: Vec::new(),
            fallback: ExecFallback::Refuse,
        }
    }
}

/// The `[net]` table: where `net.http.*` may connect, and how much it may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetPolicy {
    /// Host names or globs (`*.example.com`) that may be reached; empty means any public host.
    #[serde(deserialize_with = "check::each::<check::Host, _>")]
    pub allow_hosts: Vec<String>,
    /// Host names or globs that are never reached.
    #[serde(deserialize_with = "check::each::<check::Host, _>")]
    pub deny_hosts: Vec<String>,
    /// Allow loopback, private, link-local, CGNAT and metadata addresses.
    pub allow_private: bool,
    /// Most bytes of a response body read.
    #[serde(deserialize_with = "check::bytes")]
    pub max_body: u64,
    /// Caller-given request headers still sent after a redirect to another origin (all
    /// others are dropped; `Authorization`, `Cookie` and `Proxy-Authorization` always are).
    #[serde(deserialize_with = "check::each::<check::Header, _>")]
    pub cross_origin_headers: Vec<String>,
}

impl Default for NetPolicy {
    fn default() -> Self {
        NetPolicy {
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            allow_private: false,
            max_body: 10 << 20,
            cross_origin_headers: Vec::new(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_effects: SideEffect::ALL.into_iter().collect(),
            read_only: false,
            auto_approve: Vec::new(),
            tools: vec!["*".to_string()],
            exec: ExecPolicy::default(),
            net: NetPolicy::default(),
            env: EnvPolicy::default(),
            retention: Retention::default(),
            mcp: McpPolicy::default(),
            fs: FsPolicy::default(),
            confirm: ConfirmPolicy::default(),
            oauth: OAuthPolicy::default(),
            limits: LimitsPolicy::default(),
        }
    }
}

impl Settings {
    /// As TOML, the format of the policy file: every key with its value, a file that,
    /// read back, gives the same settings.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Why the operator's settings refuse this capability, if they do.
    pub fn refusal(&self, cap: &Capability) -> Option<String> {
        if !self.turned_on(cap) {
            return Some(format!(
                "`{}` is turned off by the operator's `tools` list",
                cap.id
            ));
        }
        if self.read_only && cap.is_mutating() {
            return Some(format!(
                "airun is in read-only mode, and `{}` changes state",
                cap.id
            ));
        }
        cap.side_effects
            .iter()
            .find(|e| !self.allowed_effects.contains(e))
            .map(|e| {
                format!(
                    "`{}` has the side effect `{}`, which the operator's settings do not allow",
                    cap.id,
                    e.as_str()
                )
            })
    }

    /// True when the capability is visible (allowed) under these settings.
    pub fn allows(&self, cap: &Capability) -> bool {
        self.refusal(cap).is_none()
    }

    /// True when the operator's `tools` list turns this capability on: the last entry
    /// that matches its id or tool name decides (`!` entries turn off).
    pub fn turned_on(&self, cap: &Capability) -> bool {
        let mut on = false;
        for entry in &self.tools {
            let (negated, glob) = match entry.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, entry.as_str()),
            };
            if glob_matches(glob, cap.id) || glob_matches(glob, cap.tool_name) {
                on = !negated;
            }
        }
        on
    }

    /// True when the operator pre-approved this capability.
    pub fn auto_approves(&self, cap: &Capability) -> bool {
        self.auto_approve
            .iter()
            .any(|g| glob_matches(g, cap.id) || glob_matches(g, cap.tool_name))
    }
}

/// `$AIRUN_HOME`, default `~/.ai-first`.
pub fn airun_home() -> PathBuf {
    if let Some(h) = std::env::var_os("AIRUN_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    home_dir().join(".ai-first")
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Matches `*` (any run of characters) globs, without building a regular expression
/// (it runs on every call, for the `tools` and `auto_approve` lists).
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let mut parts = glob.split('*');
    let Some(mut rest) = name.strip_prefix(parts.next().unwrap_or("")) else {
        return false;
    };
    let mut parts = parts.peekable();
    if parts.peek().is_none() {
        // No `*`: the whole name.
        return rest.is_empty();
    }
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            // The last part ends the name.
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The `[undo]` table: how many undo points and bytes are kept; the oldest expire first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Most operations kept undoable.
    #[serde(deserialize_with = "check::operations")]
    pub max_ops: usize,
    /// Most bytes of file images kept.
    #[serde(deserialize_with = "check::bytes")]
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_ops: 1000,
            max_bytes: 1 << 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("io.fs.*", "io.fs.write_file"));
        assert!(glob_matches("io.fs.write_file", "io.fs.write_file"));
        assert!(!glob_matches("io.fs.*", "sys.exec.run"));
        assert!(!glob_matches("io.fs", "io.fs.write_file"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*.fs.*_file", "io.fs.write_file"));
        assert!(glob_matches("io*file", "io.fs.read_file"));
        assert!(!glob_matches("io*file", "io.fs.read_files"));
        assert!(glob_matches("a*a", "aa"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("**", "x"));
        assert!(!glob_matches("x*y*z", "xzy"));
    }
}

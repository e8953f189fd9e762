//! A user's own policy under the operator's: the settings a team server's user runs
//! with. Each key can only narrow what the operator allows, never widen it.

use super::{ExecFallback, HardLinks, Settings, glob_matches};
use crate::catalog::Capability;
use std::collections::BTreeSet;

/// The items of `a` that are also in `b`, in `a`'s order.
fn both(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|x| b.contains(x)).cloned().collect()
}

/// Host entries of `user` that `operator`'s allow list admits (an empty list admits
/// every public host).
fn hosts(operator: &[String], user: &[String]) -> Vec<String> {
    match (operator.is_empty(), user.is_empty()) {
        (true, _) => user.to_vec(),
        (false, true) => operator.to_vec(),
        (false, false) => user
            .iter()
            .filter(|h| operator.iter().any(|o| glob_matches(o, h)))
            .cloned()
            .collect(),
    }
}

impl Settings {
    /// These (the operator's) settings narrowed by a user's: a capability is allowed,
    /// turned on or approved in advance only when both allow it; every limit is the
    /// smaller, every refusal the union. `catalog` is every capability the server has
    /// (the `tools` and `auto_approve` results list exact ids).
    pub fn narrowed_by(&self, user: &Settings, catalog: &[&'static Capability]) -> Settings {
        let ids = |keep: &dyn Fn(&Capability) -> bool| -> Vec<String> {
            catalog
                .iter()
                .filter(|c| keep(c))
                .map(|c| c.id.to_string())
                .collect()
        };
        let mut s = self.clone();
        s.allowed_effects = self
            .allowed_effects
            .intersection(&user.allowed_effects)
            .copied()
            .collect::<BTreeSet<_>>();
        s.read_only = self.read_only || user.read_only;
        s.tools = ids(&|c| self.turned_on(c) && user.turned_on(c));
        s.auto_approve = ids(&|c| self.auto_approves(c) && user.auto_approves(c));
        s.exec.allow = both(&user.exec.allow, &self.exec.allow);
        s.exec.env_allow = both(&user.exec.env_allow, &self.exec.env_allow);
        s.exec.timeout_max = self.exec.timeout_max.min(user.exec.timeout_max);
        s.exec.output_max = self.exec.output_max.min(user.exec.output_max);
        s.exec.network = self.exec.network && user.exec.network;
        s.exec.read_paths = user
            .exec
            .read_paths
            .iter()
            .filter(|p| self.exec.read_paths.iter().any(|o| p.starts_with(o)))
            .cloned()
            .collect();
        if self.exec.fallback == ExecFallback::Refuse || user.exec.fallback == ExecFallback::Refuse
        {
            s.exec.fallback = ExecFallback::Refuse;
        }
        s.net.allow_hosts = hosts(&self.net.allow_hosts, &user.net.allow_hosts);
        s.net.deny_hosts = self.net.deny_hosts.clone();
        for h in &user.net.deny_hosts {
            if !s.net.deny_hosts.contains(h) {
                s.net.deny_hosts.push(h.clone());
            }
        }
        s.net.allow_private = self.net.allow_private && user.net.allow_private;
        s.net.max_body = self.net.max_body.min(user.net.max_body);
        s.net.cross_origin_headers = both(
            &user.net.cross_origin_headers,
            &self.net.cross_origin_headers,
        );
        s.env.allow = both(&user.env.allow, &self.env.allow);
        s.retention.max_ops = self.retention.max_ops.min(user.retention.max_ops);
        s.retention.max_bytes = self.retention.max_bytes.min(user.retention.max_bytes);
        s.mcp.max_message_bytes = self.mcp.max_message_bytes.min(user.mcp.max_message_bytes);
        if self.fs.hardlinks == HardLinks::RefuseAll || user.fs.hardlinks == HardLinks::RefuseAll {
            s.fs.hardlinks = HardLinks::RefuseAll;
        }
        s.confirm.via = both(&user.confirm.via, &self.confirm.via);
        s.confirm.timeout_seconds = self
            .confirm
            .timeout_seconds
            .min(user.confirm.timeout_seconds);
        s.limits = self.limits.narrowed_by(&user.limits);
        // Who may sign in is the server's, not a user's.
        s.oauth = self.oauth.clone();
        s
    }
}

//! A user's policy narrows the operator's and never widens it: each key of a user policy
//! that tries to allow more than the operator keeps the operator's limit, and each that
//! allows less takes effect.

use airun::catalog::SideEffect;
use airun::policy::parse;
use airun::powers::CapabilitySet;
use std::path::Path;

fn settings(text: &str) -> airun::settings::Settings {
    parse(text, Path::new("policy.toml")).unwrap()
}

#[test]
fn a_user_policy_only_narrows_the_operators() {
    let catalog = airun::stdlib::capabilities().catalog();
    let find = |id: &str| *catalog.iter().find(|c| c.id == id).unwrap();
    let operator = settings(
        r#"
allowed_side_effects = ["read_only", "filesystem_read", "filesystem_write", "network_read"]
auto_approve = ["io.fs.write_file"]
tools = ["*", "!io.fs.delete"]
[exec]
allow = ["ls"]
timeout_max = 60
[net]
allow_hosts = ["*.example.com"]
deny_hosts = ["evil.example.com"]
max_body = 1000
"#,
    );
    // Tries to widen everything, and narrows a few things.
    let user = settings(
        r#"
allowed_side_effects = ["read_only", "filesystem_read", "filesystem_write", "filesystem_delete", "system_exec", "network_read"]
auto_approve = ["*"]
tools = ["*"]
read_only = false
[exec]
allow = ["ls", "cat"]
timeout_max = 600
network = true
[net]
allow_hosts = ["api.example.com", "other.org"]
allow_private = true
deny_hosts = ["old.example.com"]
max_body = 500
[confirm]
timeout_seconds = 30
[limits]
calls_per_second = 5
concurrent_calls = 100000
"#,
    );
    let n = operator.narrowed_by(&user, catalog);
    assert!(!n.allowed_effects.contains(&SideEffect::FilesystemDelete));
    assert!(!n.allowed_effects.contains(&SideEffect::SystemExec));
    assert!(n.allowed_effects.contains(&SideEffect::FilesystemWrite));
    assert!(
        !n.turned_on(find("io.fs.delete")),
        "the operator turned it off"
    );
    assert!(n.turned_on(find("io.fs.read_file")));
    assert!(n.auto_approves(find("io.fs.write_file")));
    assert!(
        !n.auto_approves(find("io.fs.move")),
        "only what both approve"
    );
    assert_eq!(n.exec.allow, ["ls"]);
    assert_eq!(n.exec.timeout_max, 60);
    assert!(!n.exec.network);
    assert_eq!(n.net.allow_hosts, ["api.example.com"]);
    assert!(!n.net.allow_private);
    assert_eq!(n.net.deny_hosts, ["evil.example.com", "old.example.com"]);
    assert_eq!(n.net.max_body, 500);
    assert_eq!(n.confirm.timeout_seconds, 30);
    assert_eq!(n.limits.calls_per_second, 5, "a user may lower a limit");
    assert_eq!(
        n.limits.concurrent_calls, operator.limits.concurrent_calls,
        "and never raise one"
    );
    assert_eq!(n.limits.burst, operator.limits.burst);

    // Read-only from either side holds.
    let ro = settings("read_only = true\n");
    assert!(ro.narrowed_by(&user, catalog).read_only);
    assert!(operator.narrowed_by(&ro, catalog).read_only);
    // A user with the defaults keeps the operator's settings where it matters.
    let plain = operator.narrowed_by(&settings(""), catalog);
    assert_eq!(plain.allowed_effects, operator.allowed_effects);
    assert!(!plain.turned_on(find("io.fs.delete")));
    assert_eq!(plain.net.allow_hosts, operator.net.allow_hosts);
    assert!(
        !plain.auto_approves(find("io.fs.write_file")),
        "a user's empty list approves nothing in advance"
    );
}

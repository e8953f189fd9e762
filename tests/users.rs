//! `airun user add|list|remove|token rotate` against a real `$AIRUN_HOME/users.db`: the
//! token is shown once and stored only as a hash, and every mistake is a clear error
//! that changes nothing.

mod support;

use serde_json::Value;
use std::process::Output;
use support::mcp::Dirs;

fn run(dirs: &Dirs, args: &[&str]) -> Output {
    std::process::Command::new(support::mcp::AIRUN)
        .args(args)
        .env("AIRUN_HOME", &dirs.home)
        .env_remove("AIRUN_WORKSPACE")
        .env_remove("AIRUN_TOKEN")
        .output()
        .expect("run airun")
}

fn ok_json(dirs: &Dirs, args: &[&str]) -> Value {
    let out = run(dirs, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn fails(dirs: &Dirs, args: &[&str], says: &str) {
    let out = run(dirs, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn users_are_added_listed_rotated_and_removed() {
    let dirs = Dirs::new();
    let added = ok_json(
        &dirs,
        &["user", "add", "alice", "--role", "agent", "--json"],
    );
    let token = added["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("airun_") && token.len() == 70, "{token}");
    assert_eq!(added["user"]["role"], "agent");
    let own = dirs.home.join("users/alice/workspace");
    assert!(own.is_dir());
    assert_eq!(added["user"]["workspace"], own.to_str().unwrap());

    // A shared workspace and a policy of their own.
    let shared = dirs.ws.canonicalize().unwrap();
    let policy = dirs.home.join("viewer.toml");
    std::fs::write(&policy, "read_only = true\n").unwrap();
    let bob = ok_json(
        &dirs,
        &[
            "--workspace",
            shared.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "user",
            "add",
            "bob",
            "--role",
            "viewer",
            "--json",
        ],
    );
    assert_eq!(bob["user"]["workspace"], shared.to_str().unwrap());
    assert_eq!(
        bob["user"]["policy"],
        policy.canonicalize().unwrap().to_str().unwrap()
    );

    // The list never shows a token or its hash; the text table names both users.
    let list = run(&dirs, &["user", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("alice") && text.contains("bob") && text.contains("viewer"),
        "{text}"
    );
    assert!(!text.contains(&token));
    let json = ok_json(&dirs, &["user", "list", "--json"]);
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(!json.to_string().contains("token_hash") && !json.to_string().contains(&token));

    // Only the hash is stored.
    let db = std::fs::read(dirs.home.join("users.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));

    // Rotation gives a new token.
    let rotated = ok_json(&dirs, &["user", "token", "rotate", "alice", "--json"]);
    let new = rotated["token"].as_str().unwrap();
    assert_ne!(new, token);

    let removed = run(&dirs, &["user", "remove", "bob"]);
    assert!(removed.status.success());
    assert!(String::from_utf8_lossy(&removed.stdout).contains("stay on disk"));
    let json = ok_json(&dirs, &["user", "list", "--json"]);
    assert_eq!(json.as_array().unwrap().len(), 1);
}

#[test]
fn mistakes_are_clear_errors_that_change_nothing() {
    let dirs = Dirs::new();
    ok_json(
        &dirs,
        &["user", "add", "alice", "--role", "agent", "--json"],
    );
    fails(
        &dirs,
        &["user", "add", "Alice", "--role", "agent"],
        "not a valid user name",
    );
    fails(
        &dirs,
        &["user", "add", "operator", "--role", "admin"],
        "operator",
    );
    fails(
        &dirs,
        &["user", "add", "carol", "--role", "root"],
        "`root` is not a role",
    );
    fails(
        &dirs,
        &["user", "add", "alice", "--role", "admin"],
        "already exists",
    );
    fails(
        &dirs,
        &[
            "--workspace",
            "/no/such/dir",
            "user",
            "add",
            "dave",
            "--role",
            "agent",
        ],
        "is not an existing folder",
    );
    let bad = dirs.home.join("bad.toml");
    std::fs::write(&bad, "read_only = \"sometimes\"\n").unwrap();
    fails(
        &dirs,
        &[
            "--policy",
            bad.to_str().unwrap(),
            "user",
            "add",
            "erin",
            "--role",
            "agent",
        ],
        "read_only",
    );
    fails(&dirs, &["user", "remove", "zed"], "there is no user `zed`");
    fails(
        &dirs,
        &["user", "token", "rotate", "zed"],
        "there is no user `zed`",
    );
    let json = ok_json(&dirs, &["user", "list", "--json"]);
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["name"], "alice");
}

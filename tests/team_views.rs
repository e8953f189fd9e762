//! What each user of a team server sees live and may decide, and the load limits each
//! one has, over real HTTP on 127.0.0.1 against the real `airun serve --port`, with users
//! made by `airun user add`: agents alice and bob, viewer vic, admin ada, and the
//! operator.
//!
//! - `GET /api/v1/events`: every event names its principal; alice gets only the events
//!   of her own calls, live and in the replay after an id; an admin gets everyone's.
//! - `/confirmations`: a waiting call names its principal; only its user and admins list
//!   it; another agent deciding it gets 404, a viewer 403; the audit names the decider.
//! - `[limits]`: one user's calls beyond their burst are refused with 429 on REST and MCP
//!   while another user's pass; a user's own policy lowers their limits.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::console::Viewer;
use support::http::mcp_initialize;
use support::mcp::Dirs;
use support::team::Team;

const OPERATOR: &str = "views-operator-token-0123456789";

/// Four users and a server under `policy` (no `--yes`: calls that need a yes wait in the
/// console); `alice_policy` is alice's own, when given.
fn team(policy: &str, alice_policy: Option<&str>) -> Team {
    let dirs = Dirs::new();
    let own = dirs.home.join("alice-policy.toml");
    let mut alice_args = Vec::new();
    if let Some(text) = alice_policy {
        std::fs::write(&own, text).expect("alice's policy");
        alice_args = vec!["--policy", own.to_str().expect("UTF-8")];
    }
    let file = dirs.home.join("policy.toml");
    std::fs::write(&file, policy).expect("the operator's policy");
    let file = file.to_str().expect("UTF-8").to_string();
    Team::start(dirs, OPERATOR, &alice_args, &["--policy", &file])
}

/// `GET /api/v1/events` as `token` (after `after`, when given).
async fn events(t: &Team, token: &str, after: Option<u64>) -> Viewer {
    let path = match after {
        Some(id) => format!("/api/v1/events?after={id}"),
        None => "/api/v1/events".to_string(),
    };
    let resp = t
        .http
        .get(t.url(&path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the events stream");
    assert_eq!(resp.status().as_u16(), 200);
    Viewer::new(resp)
}

/// Waits until `token`'s `GET /confirmations` lists `n` calls.
async fn pending(t: &Team, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..500 {
        let list = t.get_ok(token, "/api/v1/confirmations").await;
        let list = list.as_array().cloned().unwrap_or_default();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} calls never waited");
}

/// `token` approves (or denies) the waiting call `p`: status and body.
async fn decide(t: &Team, token: &str, p: &Value, approve: bool) -> (u16, Value) {
    let path = format!("/api/v1/confirmations/{}", p["id"]);
    let body = json!({"approve": approve, "args_hash": p["args_hash"]});
    t.send(token, "POST", &path, body).await
}

/// Every event until the `finished` one of a call writing `path` (inclusive).
async fn until_written(stream: &mut Viewer, path: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    while let Some(m) = stream.next_within(Duration::from_secs(20)).await {
        let done = m.data["kind"] == "finished" && m.data["params"]["path"] == path;
        seen.push(m.data);
        if done {
            return seen;
        }
    }
    panic!("no finished event for {path}; saw {seen:?}");
}

fn principals(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["principal"].as_str().unwrap_or("?"))
        .collect()
}

const APPROVES_WRITES: &str = "auto_approve = [\"io.fs.write_file\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_sees_only_their_own_events() {
    let t = team(APPROVES_WRITES, None);
    let (alice, bob, ada) = (&t.alice.token, &t.bob.token, &t.ada.token);
    let mut a = events(&t, alice, None).await;
    let mut admin = events(&t, ada, None).await;
    let mut op = events(&t, OPERATOR, None).await;
    for (token, path) in [
        (bob, "bob-1.txt"),
        (alice, "alice-1.txt"),
        (bob, "bob-2.txt"),
    ] {
        t.write(token, path, "x\n").await;
    }
    // A last call of alice's marks the end: everything she got before it is hers.
    t.write(alice, "alice-2.txt", "x\n").await;
    let mut hers = until_written(&mut a, "alice-1.txt").await;
    hers.extend(until_written(&mut a, "alice-2.txt").await);
    assert!(
        principals(&hers).iter().all(|p| *p == "alice"),
        "alice got another's events: {:?}",
        principals(&hers)
    );
    assert!(hers.iter().any(|e| e["kind"] == "requested"));
    // The admin and the operator see everyone's, each naming its principal.
    for stream in [&mut admin, &mut op] {
        let all = until_written(stream, "alice-2.txt").await;
        let finished: Vec<(&str, &str)> = all
            .iter()
            .filter(|e| e["kind"] == "finished")
            .map(|e| {
                (
                    e["principal"].as_str().unwrap(),
                    e["params"]["path"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            finished,
            [
                ("bob", "bob-1.txt"),
                ("alice", "alice-1.txt"),
                ("bob", "bob-2.txt"),
                ("alice", "alice-2.txt")
            ]
        );
    }
    // The replay after an id is narrowed the same way.
    let mut replay = events(&t, alice, Some(0)).await;
    let again = until_written(&mut replay, "alice-2.txt").await;
    assert!(principals(&again).iter().all(|p| *p == "alice"));
    assert_eq!(again.iter().filter(|e| e["kind"] == "finished").count(), 2);
    // A viewer made no call: the replay of everything has nothing for them.
    let mut viewer = events(&t, &t.vic.token, Some(0)).await;
    assert!(
        viewer
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "the viewer saw another's event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_call_is_its_users_and_the_admins_to_decide() {
    let policy = format!("{APPROVES_WRITES}[confirm]\nvia = [\"console\"]\ntimeout_seconds = 60\n");
    let t = std::sync::Arc::new(team(&policy, None));
    std::fs::write(t.alice.workspace.join("old.txt"), "old\n").unwrap();
    std::fs::write(t.bob.workspace.join("old.txt"), "old\n").unwrap();
    let delete = |token: String| {
        let t = t.clone();
        tokio::spawn(async move {
            t.call(&token, "io.fs.delete", json!({"path": "old.txt"}))
                .await
        })
    };
    let hers = delete(t.alice.token.clone());
    let p = pending(&t, &t.alice.token, 1).await.remove(0);
    assert_eq!(p["principal"], "alice", "{p}");
    // Bob sees none of it and cannot decide it: to him it does not exist.
    assert_eq!(
        t.get_ok(&t.bob.token, "/api/v1/confirmations").await,
        json!([])
    );
    let (s, v) = decide(&t, &t.bob.token, &p, true).await;
    assert_eq!(s, 404, "{v}");
    assert!(!v.to_string().contains("alice"), "{v}");
    // The viewer cannot decide.
    let (s, v) = decide(&t, &t.vic.token, &p, true).await;
    assert_eq!(
        (s, v["error"]["kind"].as_str()),
        (403, Some("denied_role")),
        "{v}"
    );
    assert!(
        t.alice.workspace.join("old.txt").exists(),
        "decided by a refusal"
    );
    // The admin and the operator see it, naming alice.
    for token in [&t.ada.token, OPERATOR] {
        let all = t.get_ok(token, "/api/v1/confirmations").await;
        assert_eq!(all[0]["principal"], "alice", "{all}");
    }
    // Alice approves her own call; the audit names her.
    let (s, v) = decide(&t, &t.alice.token, &p, true).await;
    assert_eq!((s, v["by"].as_str()), (200, Some("alice")), "{v}");
    let (s, v) = hers.await.unwrap();
    assert_eq!(s, 200, "{v}");
    assert!(!t.alice.workspace.join("old.txt").exists());
    let audit = t
        .get_ok(&t.alice.token, "/api/v1/audit?capability=io.fs.delete")
        .await;
    assert_eq!(
        audit["records"][0]["decision"], "approved_by_console:alice",
        "{audit}"
    );
    // The admin decides another user's call.
    let his = delete(t.bob.token.clone());
    let p = pending(&t, &t.ada.token, 1).await.remove(0);
    assert_eq!(p["principal"], "bob");
    let (s, v) = decide(&t, &t.ada.token, &p, false).await;
    assert_eq!((s, v["by"].as_str()), (200, Some("ada")), "{v}");
    let (s, v) = his.await.unwrap();
    assert_eq!(s, 422, "a denied call: {v}");
    assert!(v.to_string().contains("by ada"), "{v}");
    assert!(t.bob.workspace.join("old.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_flood_leaves_another_their_allowance() {
    let policy = format!("{APPROVES_WRITES}[limits]\ncalls_per_second = 1\nburst = 3\n");
    // Alice's own policy lowers her burst to 2.
    let alice_policy = format!("{APPROVES_WRITES}[limits]\nburst = 2\n");
    let t = team(&policy, Some(&alice_policy));
    for i in 0..2 {
        t.write(&t.alice.token, &format!("{i}.txt"), "x\n").await;
    }
    let (s, v) = t
        .call(
            &t.alice.token,
            "io.fs.write_file",
            json!({"path": "2.txt", "content": "x\n"}),
        )
        .await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["limit"], "calls_per_second");
    assert!(v["error"]["message"].as_str().unwrap().contains("`alice`"));
    assert!(!t.alice.workspace.join("2.txt").exists());
    // Her MCP requests count against the same allowance.
    let init = mcp_initialize("flood");
    let (s, v) = t.send(&t.alice.token, "POST", "/mcp", init.clone()).await;
    assert_eq!(s, 429, "{v}");
    // Bob has the operator's allowance, untouched by hers.
    for i in 0..3 {
        t.write(&t.bob.token, &format!("{i}.txt"), "x\n").await;
    }
    let (s, _) = t
        .call(
            &t.bob.token,
            "io.fs.write_file",
            json!({"path": "3.txt", "content": "x\n"}),
        )
        .await;
    assert_eq!(s, 429, "bob's own burst ends too");
    let (s, v) = t.send(&t.ada.token, "POST", "/mcp", init).await;
    assert_eq!(s, 200, "{v}");
}

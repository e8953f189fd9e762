//! A team server over real HTTP on 127.0.0.1: two agents (alice and bob, each in their own
//! workspace), a viewer (vic) and an admin (ada), added with `airun user add`, and the
//! operator. Alice cannot read, write, list, search, unzip into or undo anything of bob's
//! through REST or MCP, nor see his history, audit or sessions; the viewer cannot call or
//! undo; the admin can do all with `?user=`. A matrix covers every endpoint of the
//! OpenAPI document (plus `/metrics` and `/mcp`) for every kind of caller.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use support::browser::Browser;
use support::http::{error_kind as kind, mcp_initialize};
use support::mcp::{AIRUN, Dirs};
use support::serve::add_user;
use support::snapshot::Snapshot;
use support::team::Team;

const OPERATOR: &str = "team-operator-token-0123456789";

fn team() -> Team {
    let dirs = Dirs::new();
    std::fs::write(dirs.ws.join("server.txt"), "the server's\n").unwrap();
    let t = Team::start(dirs, OPERATOR, &[], &["--yes"]);
    std::fs::write(t.bob.workspace.join("secret.txt"), "bob's secret\n").unwrap();
    t
}

/// `token` zips their `mine.txt` into `mine.zip`, which succeeds.
async fn zip_mine(t: &Team, token: &str) {
    let params = json!({"sources": ["mine.txt"], "output": "mine.zip"});
    let (s, v) = t.call(token, "sys.archive.zip", params).await;
    assert_eq!(s, 200, "{v}");
}

/// The ways alice might reach into bob's workspace, as `(capability, params)`.
fn reaches_into(bob: &std::path::Path) -> Vec<(&'static str, Value)> {
    let abs = bob.join("secret.txt");
    let abs = abs.to_str().unwrap();
    let dir = bob.to_str().unwrap();
    let up = "../../bob/workspace/secret.txt";
    vec![
        ("io.fs.read_file", json!({"path": abs})),
        ("io.fs.read_file", json!({"path": up})),
        ("io.fs.read_file", json!({"path": "to-bob/secret.txt"})),
        ("io.fs.write_file", json!({"path": abs, "content": "mine"})),
        ("io.fs.write_file", json!({"path": up, "content": "mine"})),
        (
            "io.fs.write_file",
            json!({"path": "to-bob/new.txt", "content": "mine"}),
        ),
        ("io.fs.list_dir", json!({"path": dir})),
        ("io.fs.list_dir", json!({"path": "../../bob/workspace"})),
        ("io.fs.list_dir", json!({"path": "to-bob"})),
        ("io.fs.search", json!({"path": dir, "content": "secret"})),
        (
            "io.fs.search",
            json!({"path": "to-bob", "content": "secret"}),
        ),
        ("io.fs.delete", json!({"path": abs})),
        (
            "sys.archive.unzip",
            json!({"archive": "mine.zip", "destination": dir}),
        ),
        (
            "sys.archive.unzip",
            json!({"archive": "mine.zip", "destination": "to-bob"}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_agent_stays_in_their_lane() {
    let t = team();
    let (alice, bob) = (&t.alice.token, &t.bob.token);

    // Each agent's call lands in their own workspace.
    t.write(bob, "plan.txt", "bob's plan\n").await;
    t.write(alice, "mine.txt", "alice\n").await;
    assert!(t.alice.workspace.join("mine.txt").is_file());
    assert!(!t.bob.workspace.join("mine.txt").exists());
    assert!(!t.dirs.ws.join("mine.txt").exists());
    zip_mine(&t, alice).await;
    let v = t
        .ok(
            alice,
            "POST",
            "/api/v1/capabilities/io.fs.list_dir/calls",
            json!({"path": "."}),
        )
        .await;
    let listed = v.to_string();
    assert!(
        listed.contains("mine.txt")
            && !listed.contains("secret.txt")
            && !listed.contains("server.txt"),
        "{listed}"
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(&t.bob.workspace, t.alice.workspace.join("to-bob")).unwrap();

    // Nothing of bob's can be reached, and a refusal changes nothing.
    let before = Snapshot::of(&t.bob.workspace);
    for (cap, params) in reaches_into(&t.bob.workspace) {
        let (s, v) = t.call(alice, cap, params.clone()).await;
        assert!(
            (400..500).contains(&s) && s != 401,
            "{cap} {params}: {s} {v}"
        );
        assert!(!v.to_string().contains("bob's secret"), "{cap}: {v}");
    }
    before.assert_same(&Snapshot::of(&t.bob.workspace), "bob's workspace");

    // Nor his history, audit or sessions.
    let v = t.get_ok(alice, "/api/v1/history").await;
    assert!(!v.to_string().contains("plan.txt"), "{v}");
    assert!(v.to_string().contains("mine.txt"), "{v}");
    for path in [
        "/api/v1/history?user=bob",
        "/api/v1/audit?user=bob",
        "/api/v1/audit/export?user=bob",
        "/api/v1/sessions?user=bob",
        "/api/v1/operations/1?user=bob",
        "/api/v1/policy?user=bob",
    ] {
        t.refused(alice, "GET", path, Value::Null, (403, "denied_role"))
            .await;
    }
    let v = t.get_ok(alice, "/api/v1/audit").await;
    assert!(!v.to_string().contains("plan.txt"), "{v}");
    for (method, path) in [
        ("POST", "/api/v1/undo?user=bob"),
        ("POST", "/api/v1/redo?user=bob"),
        (
            "POST",
            "/api/v1/capabilities/io.fs.read_file/calls?user=bob",
        ),
    ] {
        let body = json!({"path": "plan.txt"});
        t.refused(alice, method, path, body, (403, "denied_role"))
            .await;
    }

    // Undo in her own lane undoes her own operations, never bob's.
    t.ok(alice, "POST", "/api/v1/undo", json!({"steps": 2}))
        .await;
    assert!(!t.alice.workspace.join("mine.txt").exists());
    assert!(!t.alice.workspace.join("mine.zip").exists());
    assert_eq!(
        std::fs::read_to_string(t.bob.workspace.join("plan.txt")).unwrap(),
        "bob's plan\n"
    );
    // sys.undo, the capability, acts in her lane too.
    t.write(alice, "again.txt", "a\n").await;
    let (s, v) = t.call(alice, "sys.undo", json!({"steps": 1})).await;
    assert_eq!(s, 200, "{v}");
    assert!(!t.alice.workspace.join("again.txt").exists());
    assert!(t.bob.workspace.join("plan.txt").is_file());
    // The zip to unzip into bob's workspace, made again.
    t.write(alice, "mine.txt", "alice\n").await;
    zip_mine(&t, alice).await;

    // Over MCP: the same lane, the same walls.
    let client = t.mcp(alice).await;
    let r = support::mcp::call(
        &client,
        "io_fs_write_file",
        json!({"path": "m.txt", "content": "over mcp\n"}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert!(t.alice.workspace.join("m.txt").is_file());
    let before = Snapshot::of(&t.bob.workspace);
    for (cap, params) in reaches_into(&t.bob.workspace) {
        let tool = cap.replace('.', "_");
        let r = support::mcp::call(&client, &tool, params.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {params}: {r:?}");
        assert!(!format!("{r:?}").contains("bob's secret"), "{tool}");
    }
    before.assert_same(&Snapshot::of(&t.bob.workspace), "bob's workspace");
    let r = support::mcp::call(&client, "sys_history", json!({"limit": 50})).await;
    assert!(!format!("{r:?}").contains("plan.txt"), "{r:?}");
    assert!(format!("{r:?}").contains("m.txt"), "{r:?}");
    client.cancel().await.ok();

    // A session id of bob's lane is unknown in alice's.
    let init = t.reply(bob, "POST", "/mcp", mcp_initialize("raw")).await;
    assert_eq!(init.status, 200, "{}", init.body);
    let session = init.header("mcp-session-id");
    assert!(!session.is_empty(), "a session id");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    for (token, known) in [(alice, false), (bob, true)] {
        let r = t
            .reply_with(token, "POST", "/mcp", &headers, list.clone())
            .await;
        assert_eq!(
            (200..300).contains(&r.status),
            known,
            "bob's session with {}'s token: {}",
            if known { "bob" } else { "alice" },
            r.status
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_look_and_admins_reach_every_lane() {
    let t = team();
    let vic = &t.vic.token;
    // The viewer may call no capability at all, nor undo or redo.
    let v = t.get_ok(vic, "/api/v1/capabilities").await;
    let ids: Vec<String> = v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() > 10);
    for id in &ids {
        let path = format!("/api/v1/capabilities/{id}/calls");
        t.refused(vic, "POST", &path, json!({}), (403, "denied_role"))
            .await;
    }
    for path in ["/api/v1/undo", "/api/v1/redo"] {
        t.refused(vic, "POST", path, json!({}), (403, "denied_role"))
            .await;
    }
    let v = t.get_ok(vic, "/api/v1/session").await;
    assert_eq!(
        (v["user"].as_str(), v["role"].as_str()),
        (Some("vic"), Some("viewer"))
    );
    // Over MCP a viewer is refused at the door.
    let (s, _) = t.send(vic, "POST", "/mcp", mcp_initialize("raw")).await;
    assert_eq!(s, 403);

    // Bob works; the admin sees and acts in his lane with ?user=bob.
    t.write(&t.bob.token, "plan.txt", "v1\n").await;
    let ada = &t.ada.token;
    let v = t.get_ok(ada, "/api/v1/history?user=bob").await;
    assert!(v.to_string().contains("plan.txt"), "{v}");
    let v = t
        .ok(
            ada,
            "POST",
            "/api/v1/capabilities/io.fs.read_file/calls?user=bob",
            json!({"path": "secret.txt"}),
        )
        .await;
    assert!(v.to_string().contains("bob's secret"), "{v}");
    let v = t.get_ok(ada, "/api/v1/audit?user=bob").await;
    assert!(v.to_string().contains("io.fs.write_file"), "{v}");
    let (s, v) = t.get(ada, "/api/v1/audit/verify?user=bob").await;
    assert_eq!((s, &v["intact"]), (200, &json!(true)), "{v}");
    t.ok(ada, "POST", "/api/v1/undo?user=bob", json!({"steps": 1}))
        .await;
    assert!(!t.bob.workspace.join("plan.txt").exists());
    let (s, v) = t.get(ada, "/api/v1/history?user=nobody").await;
    assert_eq!(s, 404, "{v}");
    // The operator too, and /metrics is for admins only.
    t.get_ok(OPERATOR, "/api/v1/history?user=bob").await;
    t.get_ok(ada, "/metrics").await;
    let alice = &t.alice.token;
    t.refused(alice, "GET", "/metrics", Value::Null, (403, "denied_role"))
        .await;
    // The server's own workspace is the operator's lane.
    let (s, v) = t
        .call(OPERATOR, "io.fs.read_file", json!({"path": "server.txt"}))
        .await;
    assert_eq!(s, 200, "{v}");
    // A removed user is out at once.
    t.airun(&["user", "remove", "bob"]);
    let (s, v) = t.get(&t.bob.token, "/api/v1/history").await;
    assert_eq!(s, 401, "{v}");
    let (s, _) = t
        .send(&t.bob.token, "POST", "/mcp", mcp_initialize("raw"))
        .await;
    assert_eq!(s, 401);
    let (s, _) = t.send("", "POST", "/mcp", mcp_initialize("raw")).await;
    assert_eq!(s, 401, "a team server's /mcp needs credentials");
}

/// What a cell of the matrix expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// 401: who is calling is not known.
    Unknown,
    /// 403 `denied_role` (or a plain 403 from `/mcp`): the caller's role may not.
    Role,
    /// Through the access check: neither of the above, and no server error.
    In,
}

use Cell::{In, Role, Unknown};

/// `(method, path template, [none, viewer, agent, admin, operator] in their own lane,
/// the same naming another user's lane with ?user=, when the endpoint takes it)`.
type Row = (&'static str, &'static str, [Cell; 5], Option<[Cell; 5]>);

const LOOK: [Cell; 5] = [Unknown, In, In, In, In];
const ACT: [Cell; 5] = [Unknown, Role, In, In, In];
const OTHER: Option<[Cell; 5]> = Some([Unknown, Role, Role, In, In]);

const MATRIX: &[Row] = &[
    ("GET", "/capabilities", LOOK, OTHER),
    ("GET", "/capabilities/{id}", LOOK, OTHER),
    ("POST", "/capabilities/{id}/calls", ACT, OTHER),
    ("GET", "/history", LOOK, OTHER),
    ("GET", "/operations/{op}", LOOK, OTHER),
    ("POST", "/undo", ACT, OTHER),
    ("POST", "/redo", ACT, OTHER),
    ("GET", "/audit", LOOK, OTHER),
    ("GET", "/audit/verify", LOOK, OTHER),
    ("GET", "/audit/export", LOOK, OTHER),
    ("GET", "/events", LOOK, None),
    ("GET", "/confirmations", LOOK, None),
    ("POST", "/confirmations/{id}", LOOK, None),
    ("GET", "/openapi.json", LOOK, OTHER),
    ("GET", "/policy", LOOK, OTHER),
    ("GET", "/sessions", LOOK, OTHER),
    ("GET", "/session", LOOK, OTHER),
];

/// Endpoints outside the OpenAPI document, with their full paths.
const OUTSIDE: &[Row] = &[
    ("GET", "/metrics", [Unknown, Role, Role, In, In], None),
    ("POST", "/mcp", [Unknown, Role, In, In, In], None),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_caller() {
    let t = team();
    let doc = t.get_ok(OPERATOR, "/api/v1/openapi.json").await;
    // Every endpoint of the document has a row, and every row an endpoint.
    let mut endpoints = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            let template = if path.starts_with("/capabilities/") && path.ends_with("/calls") {
                "/capabilities/{id}/calls".to_string()
            } else {
                path.clone()
            };
            let row = MATRIX
                .iter()
                .find(|r| r.0 == method && r.1 == template)
                .unwrap_or_else(|| panic!("{method} {path} has no row in the matrix: add one"));
            endpoints.push((row, path.clone()));
        }
    }
    let covered: BTreeSet<_> = endpoints.iter().map(|(r, _)| (r.0, r.1)).collect();
    for r in MATRIX {
        assert!(
            covered.contains(&(r.0, r.1)),
            "{} {} is not in the document",
            r.0,
            r.1
        );
    }
    let callers = [
        ("none", String::new()),
        ("viewer", t.vic.token.clone()),
        ("agent", t.alice.token.clone()),
        ("admin", t.ada.token.clone()),
        ("operator", OPERATOR.to_string()),
    ];
    let mut checked = 0;
    let mut cases: Vec<(&Row, String)> = endpoints
        .iter()
        .map(|(r, p)| (*r, format!("/api/v1{p}")))
        .collect();
    cases.extend(OUTSIDE.iter().map(|r| (r, r.1.to_string())));
    for (row, path) in cases {
        let path = path.replace("{id}", "io.fs.exists").replace("{op}", "1");
        // A parameter no capability has: past the access check, every call is refused
        // (400) before it could change anything.
        let body = if path.ends_with("/calls") {
            json!({"not_a_parameter": true})
        } else if path == "/mcp" {
            mcp_initialize("raw")
        } else {
            json!({})
        };
        let mut runs = vec![(path.clone(), row.2)];
        if let Some(other) = row.3 {
            let sep = if path.contains('?') { '&' } else { '?' };
            runs.push((format!("{path}{sep}user=bob"), other));
        }
        for (path, cells) in runs {
            for ((who, token), want) in callers.iter().zip(cells) {
                let (s, v) = t.send(token, row.0, &path, body.clone()).await;
                let got = match s {
                    401 => Unknown,
                    403 if kind(&v) == "denied_role" || path == "/mcp" => Role,
                    _ => In,
                };
                assert_eq!(got, want, "{} {path} as {who}: {s} {v}", row.0);
                assert!(s < 500, "{} {path} as {who}: {s} {v}", row.0);
                checked += 1;
            }
        }
    }
    eprintln!("matrix: {checked} cells");
    assert!(checked > 100);
    let _ = &t.bob;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_to_the_console_until_removed() {
    let t = team();
    let mut b = Browser::new(&t.url(""));
    let wrong = b.login("airun_0000").await;
    assert_eq!(wrong.status, 401);
    let ok = b.login(&t.vic.token).await;
    assert_eq!(ok.status, 303);
    let cookie = b.cookie.clone().expect("a session cookie");
    assert!(
        !cookie.contains(&t.vic.token),
        "the cookie is not the token"
    );
    let v = b.send("GET", "/api/v1/session", &[], None).await.json();
    assert_eq!(v["user"], "vic");
    assert_eq!(v["role"], "viewer");
    assert_eq!(v["via"], "cookie");
    assert_eq!(v["operator"], "vic", "decisions are recorded as the user");
    // The page is the console while vic exists, the login form once he is removed.
    assert_eq!(b.send("GET", "/", &[], None).await.status, 200);
    t.airun(&["user", "remove", "vic"]);
    let session = b.send("GET", "/api/v1/session", &[], None).await;
    assert_eq!(session.status, 401);
    let page = b.send("GET", "/", &[], None).await;
    assert_eq!(page.status, 303, "back to the login form");
    // The operator's browser is still `operator@console`.
    let mut op = Browser::new(&t.url(""));
    op.login(OPERATOR).await;
    assert!(op.cookie.is_some(), "a session cookie for the operator");
    let v = op.send("GET", "/api/v1/session", &[], None).await.json();
    assert_eq!(
        (v["user"].as_str(), v["operator"].as_str()),
        (Some("operator"), Some("operator@console"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_policy_narrows_and_a_shared_workspace_shares_its_journal() {
    let t = team();
    // carol acts in the server's own workspace under a read-only policy of her own;
    // dan in the server's workspace under the operator's policy.
    let policy = t.dirs.home.join("carol.toml");
    std::fs::write(&policy, "read_only = true\n").unwrap();
    let ws = t.dirs.ws.to_str().expect("UTF-8");
    let add = |name: &str, args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--workspace", ws]);
        add_user(Path::new(AIRUN), &t.dirs.home, name, "agent", &args).token
    };
    let carol = add("carol", &["--policy", policy.to_str().expect("UTF-8")]);
    let dan = add("dan", &[]);
    let (s, v) = t.get(&carol, "/api/v1/policy").await;
    assert_eq!((s, &v["read_only"]), (200, &json!(true)), "{v}");
    let path = "/api/v1/capabilities/io.fs.write_file/calls";
    let body = json!({"path": "c.txt", "content": "c\n"});
    t.refused(&carol, "POST", path, body, (403, "denied_policy"))
        .await;
    assert!(!t.dirs.ws.join("c.txt").exists());
    let (s, v) = t
        .call(&carol, "io.fs.read_file", json!({"path": "server.txt"}))
        .await;
    assert_eq!(s, 200, "{v}");
    // The operator's own policy is not narrowed by hers.
    let (s, v) = t.get(OPERATOR, "/api/v1/policy").await;
    assert_eq!((s, &v["read_only"]), (200, &json!(false)), "{v}");
    // dan's write lands in the server's workspace, in the journal the operator sees.
    t.write(&dan, "d.txt", "d\n").await;
    assert!(t.dirs.ws.join("d.txt").is_file());
    let v = t.get_ok(OPERATOR, "/api/v1/history").await;
    assert!(v.to_string().contains("d.txt"), "{v}");

    // In the workspace they share, dan sees and undoes only his own operations; a later
    // change of the operator's to a file of his keeps his undo from taking it back.
    let v = t.write(OPERATOR, "o.txt", "o\n").await;
    let operators_op = v["op"].as_i64().or_else(|| v["operation"].as_i64());
    let v = t.get_ok(&dan, "/api/v1/history").await;
    let ops = v["operations"].as_array().unwrap();
    assert!(!ops.is_empty());
    assert!(ops.iter().all(|o| o["principal"] == "dan"), "{v}");
    let v = t.get_ok(OPERATOR, "/api/v1/history").await;
    let mine = v["operations"].as_array().unwrap();
    let operators = mine
        .iter()
        .find(|o| o["principal"] == "operator")
        .expect("the operator's write in the operator's history");
    let op = operators_op.unwrap_or_else(|| operators["op"].as_i64().unwrap());
    let path = format!("/api/v1/operations/{op}");
    t.refused(&dan, "GET", &path, Value::Null, (404, "not_found"))
        .await;
    let body = json!({"to": op});
    t.refused(&dan, "POST", "/api/v1/undo", body, (404, "not_found"))
        .await;
    let v = t.get_ok(&dan, "/api/v1/audit?limit=1000").await;
    let records = v["records"].as_array().unwrap();
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r["principal"] == "dan"), "{v}");
    // dan's undo takes back d.txt, his newest, and leaves the operator's later o.txt.
    t.ok(&dan, "POST", "/api/v1/undo", json!({})).await;
    assert!(!t.dirs.ws.join("d.txt").exists());
    assert!(t.dirs.ws.join("o.txt").is_file());
    // His redo brings d.txt back although the operator changed something since.
    let v = t.ok(&dan, "POST", "/api/v1/redo", json!({})).await;
    assert_eq!(v["redone"].as_array().map(Vec::len), Some(1), "{v}");
    assert!(t.dirs.ws.join("d.txt").is_file(), "{v}");
    // dan writes f.txt, the operator changes it after him: dan's undo is refused (409)
    // and the file keeps the operator's content.
    for (who, content) in [(dan.as_str(), "dan's\n"), (OPERATOR, "operator's\n")] {
        t.write(who, "f.txt", content).await;
    }
    let (s, v) = t.send(&dan, "POST", "/api/v1/undo", json!({})).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(
        std::fs::read_to_string(t.dirs.ws.join("f.txt")).unwrap(),
        "operator's\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_stops_working_at_once() {
    let t = team();
    let old = &t.alice.token;
    t.get_ok(old, "/api/v1/history").await;
    let out = t.airun(&["user", "token", "rotate", "alice", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = v["token"].as_str().expect("the new token");
    let (s, v) = t.get(old, "/api/v1/history").await;
    assert_eq!(s, 401, "{v}");
    let (s, _) = t.send(old, "POST", "/mcp", mcp_initialize("raw")).await;
    assert_eq!(s, 401);
    let (s, v) = t.get(new, "/api/v1/session").await;
    assert_eq!((s, v["user"].as_str()), (200, Some("alice")), "{v}");
}

//! Agent sessions: every operation records the session that made it (here two real
//! `airun serve --mcp` runs over stdio), `airun history --sessions` lists them, and
//! `airun undo --session S` takes back exactly what one session did, with the drift guard.

mod support;

use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use support::mcp::*;
use support::snapshot;
use tokio::io::{AsyncBufReadExt, BufReader};

/// One `airun serve --mcp --yes` run: makes each write, then ends (one session).
async fn mcp_run(dirs: &Dirs, writes: &[(&str, &str)]) {
    mcp_run_with(dirs, &[], writes).await
}

/// [`mcp_run`] with more global options (before the command).
async fn mcp_run_with(dirs: &Dirs, global: &[&str], writes: &[(&str, &str)]) {
    let mut args = global.to_vec();
    args.extend(["serve", "--mcp", "--yes", "--log-level", "error"]);
    let (transport, _) = TokioChildProcess::builder(dirs.command(&args))
        .spawn()
        .expect("spawn airun");
    let client = connect(TestClient::new(Answer::NoElicitation), transport).await;
    for (path, content) in writes {
        let r = call(
            &client,
            "io_fs_write_file",
            json!({"path": path, "content": content}),
        )
        .await;
        assert_ne!(r.is_error, Some(true), "write {path}: {}", text(&r));
    }
    client.cancel().await.ok();
}

fn cli_json(dirs: &Dirs, args: &[&str]) -> Value {
    let out = dirs.cli(args);
    assert!(out.status.success(), "airun {args:?} failed");
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(dirs: &Dirs, rel: &str) -> Option<String> {
    std::fs::read_to_string(dirs.path(rel)).ok()
}

/// The sessions `airun history --sessions --json` lists, oldest first.
fn sessions(dirs: &Dirs) -> Vec<Value> {
    let mut list = cli_json(dirs, &["history", "--sessions", "--json"])
        .as_array()
        .expect("a list")
        .clone();
    list.reverse();
    list
}

fn id(session: &Value) -> String {
    session["session"].as_str().expect("session id").to_string()
}

#[tokio::test]
async fn undo_session_restores_only_that_sessions_files() {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("base.txt"), "original\n").unwrap();
    std::fs::write(dirs.path("other.txt"), "left alone\n").unwrap();
    // Two server runs: two sessions.
    mcp_run(
        &dirs,
        &[("a.txt", "from one\n"), ("base.txt", "changed by one\n")],
    )
    .await;
    mcp_run(
        &dirs,
        &[("b.txt", "from two\n"), ("other.txt", "changed by two\n")],
    )
    .await;

    let list = sessions(&dirs);
    assert_eq!(list.len(), 2, "{list:?}");
    let (one, two) = (id(&list[0]), id(&list[1]));
    assert_ne!(one, two);
    for s in &list {
        assert_eq!(s["transport"], "stdio");
        assert_eq!(s["client_name"], "airun-tests");
        assert_eq!(s["client_version"], "1.0.0");
        assert_eq!(s["ops"], 2);
        assert_eq!(s["undoable"], 2);
        assert!(s["first"].as_str() <= s["last"].as_str(), "{s}");
    }
    // Each operation names its session; the table shows it too.
    let ops = cli_json(&dirs, &["history", "--json"]);
    let of = |s: &str| -> Vec<i64> {
        ops.as_array()
            .unwrap()
            .iter()
            .filter(|o| o["session"] == s)
            .map(|o| o["op"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(of(&one), vec![2, 1]);
    assert_eq!(of(&two), vec![4, 3]);
    let table = stdout(&dirs.cli(&["history"]));
    assert!(table.contains("session") && table.contains(&one), "{table}");
    let only = cli_json(&dirs, &["history", "--session", &two, "--json"]);
    let only: Vec<i64> = only
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_i64().unwrap())
        .collect();
    assert_eq!(only, vec![4, 3]);

    // Undo the first session: its files come back, the second session's stay.
    let out = dirs.cli(&["undo", "--session", &one]);
    assert!(out.status.success());
    let said = stdout(&out);
    assert!(
        said.contains("undone: op 2 write base.txt") && said.contains("undone: op 1 write a.txt"),
        "{said}"
    );
    assert!(
        said.find("op 2").unwrap() < said.find("op 1").unwrap(),
        "newest first: {said}"
    );
    assert_eq!(read(&dirs, "a.txt"), None);
    assert_eq!(read(&dirs, "base.txt").as_deref(), Some("original\n"));
    assert_eq!(read(&dirs, "b.txt").as_deref(), Some("from two\n"));
    assert_eq!(
        read(&dirs, "other.txt").as_deref(),
        Some("changed by two\n")
    );

    let list = sessions(&dirs);
    assert_eq!(list[0]["undoable"], 0);
    assert_eq!(list[1]["undoable"], 2);
    // Nothing of the first session is left to undo.
    let again = dirs.cli(&["undo", "--session", &one]);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("nothing to undo"),
        "{}",
        stdout(&again)
    );

    // The undo is in the audit log, with the session it was asked for.
    let audit = cli_json(&dirs, &["audit", "--json"]);
    let undo = audit
        .as_array()
        .unwrap()
        .iter()
        .rfind(|r| r["capability"] == "sys.undo" && r["outcome"] == "ok")
        .expect("an audit record of the undo")
        .clone();
    assert_eq!(undo["params"]["session"], one.as_str());

    // Undone operations are redoable as usual: redo walks them oldest first, whichever
    // session made them.
    assert!(dirs.cli(&["undo", "--session", &two]).status.success());
    assert_eq!(read(&dirs, "b.txt"), None);
    assert_eq!(read(&dirs, "other.txt").as_deref(), Some("left alone\n"));
    let out = dirs.cli(&["redo", "--steps", "4"]);
    assert!(out.status.success());
    let said = stdout(&out);
    let order: Vec<usize> = ["op 1 ", "op 2 ", "op 3 ", "op 4 "]
        .iter()
        .map(|op| said.find(op).expect(op))
        .collect();
    assert!(order.is_sorted(), "oldest first: {said}");
    assert_eq!(read(&dirs, "a.txt").as_deref(), Some("from one\n"));
    assert_eq!(read(&dirs, "base.txt").as_deref(), Some("changed by one\n"));
    assert_eq!(read(&dirs, "b.txt").as_deref(), Some("from two\n"));
    assert_eq!(
        read(&dirs, "other.txt").as_deref(),
        Some("changed by two\n")
    );
    let list = sessions(&dirs);
    assert_eq!(
        (&list[0]["undoable"], &list[1]["undoable"]),
        (&json!(2), &json!(2))
    );
}

/// Two Streamable HTTP sessions on one server are two sessions, each recorded under the
/// MCP session id the server gave it; undoing one leaves the other's change.
#[tokio::test]
async fn two_http_sessions_on_one_server_are_recorded_apart() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dirs = Dirs::new();
    let mut cmd = dirs.command(&["serve", "--port", "0", "--yes", "--log-level", "warn"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn airun");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("http://") {
                return line[at..].trim().to_string();
            }
        }
        panic!("airun exited before serving");
    })
    .await
    .expect("the server starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let connect_http = || async {
        let config = StreamableHttpClientTransportConfig::with_uri(url.clone());
        connect(
            TestClient::new(Answer::NoElicitation),
            StreamableHttpClientTransport::from_config(config),
        )
        .await
    };
    let (one, two) = (connect_http().await, connect_http().await);
    for (client, path) in [(&one, "one.txt"), (&two, "two.txt"), (&one, "one-b.txt")] {
        let r = call(
            client,
            "io_fs_write_file",
            json!({"path": path, "content": path}),
        )
        .await;
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
    }
    one.cancel().await.ok();
    two.cancel().await.ok();
    child.kill().await.ok();

    let list = sessions(&dirs);
    assert_eq!(list.len(), 2, "{list:?}");
    for s in &list {
        assert_eq!(s["transport"], "http");
        assert_eq!(s["client_name"], "airun-tests");
        // The MCP session id the server handed out (a UUID), not one of airun's own.
        assert_eq!(id(s).len(), 36, "{s}");
    }
    assert_ne!(id(&list[0]), id(&list[1]));
    // Ordered by their newest operation: the second client's (op 2), then the first's.
    assert_eq!((&list[0]["ops"], &list[1]["ops"]), (&json!(1), &json!(2)));
    assert!(
        dirs.cli(&["undo", "--session", &id(&list[1])])
            .status
            .success()
    );
    assert_eq!(read(&dirs, "one.txt"), None);
    assert_eq!(read(&dirs, "one-b.txt"), None);
    assert_eq!(read(&dirs, "two.txt").as_deref(), Some("two.txt"));
}

#[tokio::test]
async fn undo_session_refuses_where_a_later_change_would_be_lost() {
    let dirs = Dirs::new();
    mcp_run(&dirs, &[("notes.txt", "one\n"), ("own.txt", "mine\n")]).await;
    // A later session writes the same file.
    mcp_run(&dirs, &[("notes.txt", "two\n")]).await;
    let list = sessions(&dirs);
    let (one, two) = (id(&list[0]), id(&list[1]));

    // The first session's newest operation (own.txt) is undone; the older one would
    // overwrite the second session's change: refused, naming the file, and that
    // operation is left exactly as it was.
    let before = snapshot::tree(&dirs.ws);
    let out = dirs.cli(&["undo", "--session", &one]);
    assert_eq!(out.status.code(), Some(1), "refused");
    let err = stderr(&out);
    assert!(
        err.contains("`notes.txt` changed after operation 1"),
        "names the file: {err}"
    );
    assert!(
        err.contains("newer operation(s) were undone first: 2"),
        "says what it undid: {err}"
    );
    assert!(
        err.contains(&format!("airun undo --session {one} --force")),
        "{err}"
    );
    assert_eq!(read(&dirs, "own.txt"), None, "op 2 was undone");
    assert_eq!(read(&dirs, "notes.txt").as_deref(), Some("two\n"));
    let mut expected = before;
    expected.0.remove(&PathBuf::from("own.txt"));
    snapshot::assert_snap(&snapshot::tree(&dirs.ws), &expected, "after the refusal");
    let ops = cli_json(&dirs, &["history", "--session", &one, "--json"]);
    assert_eq!(ops[0]["state"], "undone");
    assert_eq!(ops[1]["state"], "done");

    // Asked again, the refusal changes nothing at all.
    let before = snapshot::tree(&dirs.ws);
    let out = dirs.cli(&["undo", "--session", &one]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("undone first"), "{}", stderr(&out));
    snapshot::assert_snap(
        &snapshot::tree(&dirs.ws),
        &before,
        "after the second refusal",
    );

    // With --force the first session's write is taken back (the later change is lost,
    // as the operator asked).
    assert!(
        dirs.cli(&["undo", "--session", &one, "--force"])
            .status
            .success()
    );
    assert_eq!(read(&dirs, "notes.txt"), None);
    let list = sessions(&dirs);
    assert_eq!(id(&list[1]), two);
    assert_eq!(list[0]["undoable"], 0);
}

#[test]
fn undo_session_of_an_unknown_session_is_a_clear_error() {
    let dirs = Dirs::new();
    let out = dirs.cli(&[
        "execute",
        "io.fs.write_file",
        "--params",
        r#"{"path":"x.txt","content":"x"}"#,
        "--yes",
    ]);
    assert!(out.status.success());
    let before = snapshot::tree(&dirs.ws);
    let out = dirs.cli(&["undo", "--session", "no-such-session"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no session `no-such-session`"), "{err}");
    assert!(err.contains("airun history --sessions"), "{err}");
    snapshot::assert_snap(&snapshot::tree(&dirs.ws), &before, "after the refusal");
    // `airun execute` is a session of its own, seen as the command line.
    let list = sessions(&dirs);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["transport"], "cli");
}

/// The state database of the only workspace under `home`.
fn state_db(home: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(home.join("state"))
        .expect("a state folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("airun.db").exists())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap().join("airun.db")
}

fn columns(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A state database of schema 1 (before sessions) opens, gets the session column and
/// table, and its operations stay listed and undoable.
#[test]
fn an_old_state_database_is_migrated_and_keeps_working() {
    let dirs = Dirs::new();
    let write = |path: &str, content: &str| {
        let params = json!({"path": path, "content": content}).to_string();
        let out = dirs.cli(&["execute", "io.fs.write_file", "--params", &params, "--yes"]);
        assert!(out.status.success());
    };
    write("old.txt", "old\n");
    // Turn the database back into schema 1, as airun wrote it before sessions.
    let db = state_db(&dirs.home);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DROP INDEX ops_session; ALTER TABLE ops DROP COLUMN session; DROP TABLE sessions; PRAGMA user_version = 1;",
        )
        .unwrap();
        assert!(!columns(&conn, "ops").contains(&"session".to_string()));
        assert!(columns(&conn, "sessions").is_empty());
    }

    // It opens: the old operation is listed without a session.
    let ops = cli_json(&dirs, &["history", "--json"]);
    assert_eq!(ops.as_array().unwrap().len(), 1);
    assert_eq!(ops[0]["session"], Value::Null);
    assert!(stdout(&dirs.cli(&["history"])).contains("write old.txt"));
    assert_eq!(sessions(&dirs).len(), 0);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        assert!(columns(&conn, "ops").contains(&"session".to_string()));
        assert!(columns(&conn, "sessions").contains(&"client_name".to_string()));
        assert!(columns(&conn, "unsynced_changes").contains(&"boot".to_string()));
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 5);
    }
    // New operations record their session; the old one is still undoable.
    write("new.txt", "new\n");
    let list = sessions(&dirs);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["ops"], 1);
    assert!(dirs.cli(&["undo", "--steps", "2"]).status.success());
    assert_eq!(read(&dirs, "old.txt"), None);
    assert_eq!(read(&dirs, "new.txt"), None);
    // The audit chain survived the migration.
    assert!(dirs.cli(&["audit", "verify"]).status.success());
}

/// An undo of a session says which of its operations it could not take back.
#[tokio::test]
async fn undo_session_names_the_operations_it_cannot_take_back() {
    let dirs = Dirs::new();
    let policy = dirs.home.join("policy.toml");
    std::fs::write(&policy, "[undo]\nmax_ops = 1\n").unwrap();
    let policy = policy.to_str().unwrap();
    // Two writes, but only one undo point is kept: the first expires.
    mcp_run_with(
        &dirs,
        &["--policy", policy],
        &[("first.txt", "1\n"), ("second.txt", "2\n")],
    )
    .await;
    let list = sessions(&dirs);
    assert_eq!(
        (&list[0]["ops"], &list[0]["undoable"]),
        (&json!(2), &json!(1))
    );
    let out = dirs.cli(&["--policy", policy, "undo", "--session", &id(&list[0])]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("undone: op 2 write second.txt"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("not undone: op 1 write first.txt (+2 B) (expired"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(&dirs, "second.txt"), None);
    assert_eq!(read(&dirs, "first.txt").as_deref(), Some("1\n"));
}

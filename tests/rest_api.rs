//! The REST API of `airun serve --port`, driven over real HTTP on 127.0.0.1 against the
//! real binary: every endpoint, its refusals (each leaving the workspace unchanged), and
//! the OpenAPI document checked by `openapi-spec-validator` and Schemathesis.

mod support;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::mcp::{AIRUN, Dirs};
use support::serve::{Running, command, start};
use support::snapshot::Snapshot;

const TOKEN: &str = "rest-test-token-0123456789";

struct Server {
    _process: Running,
    addr: String,
    token: String,
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// How many chunks a chunked body came in (0 when it was not chunked).
    chunks: usize,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `{ "error": { "kind", "message", "hint" } }` of a refusal.
    fn error_kind(&self) -> String {
        let v = self.json();
        let e = &v["error"];
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(e.get("hint").is_some(), "{v}");
        e["kind"].as_str().unwrap_or_default().to_string()
    }
}

fn dechunk(mut raw: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut chunks = 0;
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16)
            .expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return (out, chunks);
        }
        chunks += 1;
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

impl Server {
    /// Starts `airun serve --port 0` with `extra` and reads the address (and the token,
    /// when the server makes one) from stderr.
    fn start(dirs: &Dirs, extra: &[&str]) -> Server {
        let started = start(command(Path::new(AIRUN), &dirs.ws, &dirs.home, extra));
        let given = extra
            .iter()
            .position(|a| *a == "--token")
            .map(|i| extra[i + 1].to_string());
        Server {
            _process: started.process,
            addr: started.addr,
            token: given
                .or(started.made_token)
                .expect("the server prints its token"),
        }
    }

    /// Sends one request with the given headers (Host is added unless given).
    fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        s.write_all(req.as_bytes()).unwrap();
        // A server may answer (413) before reading a large body: ignore a broken pipe.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        let chunked = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let mut chunks = 0;
        if chunked {
            (body, chunks) = dechunk(&body);
        }
        Answer {
            status,
            headers,
            body,
            chunks,
        }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn get(&self, path: &str) -> Answer {
        self.raw(
            "GET",
            &format!("/api/v1{path}"),
            &[("Authorization", &self.auth())],
            b"",
        )
    }

    fn post(&self, path: &str, body: &str) -> Answer {
        self.raw(
            "POST",
            &format!("/api/v1{path}"),
            &[
                ("Authorization", &self.auth()),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    fn call(&self, id: &str, params: Value) -> Answer {
        self.post(&format!("/capabilities/{id}/calls"), &params.to_string())
    }
}

#[test]
fn made_token_is_printed_and_every_api_request_needs_it() {
    let dirs = Dirs::new();
    let s = Server::start(&dirs, &[]);
    assert_eq!(s.token.len(), 64, "256 bits in hex: {}", s.token);
    let none = s.raw("GET", "/api/v1/capabilities", &[], b"");
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(none.error_kind(), "unauthorized");
    let wrong = s.raw(
        "GET",
        "/api/v1/history",
        &[("Authorization", "Bearer not-the-token")],
        b"",
    );
    assert_eq!(wrong.status, 401);
    let ok = s.get("/capabilities");
    assert_eq!(ok.status, 200);
    assert!(
        ok.header("content-type")
            .unwrap()
            .contains("application/json")
    );
    // /mcp keeps its rule: without --token it needs none.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mcp = s.raw(
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        init.as_bytes(),
    );
    assert_eq!(mcp.status, 200);
    assert_eq!(s.raw("GET", "/elsewhere", &[], b"").status, 404);
    // Once the server has a user (added while it runs), /mcp needs credentials.
    let added = std::process::Command::new(AIRUN)
        .args(["user", "add", "ann", "--role", "agent"])
        .env("AIRUN_HOME", &dirs.home)
        .env_remove("AIRUN_WORKSPACE")
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let closed = s.raw(
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        init.as_bytes(),
    );
    assert_eq!(closed.status, 401);
}

#[test]
fn catalog_lists_every_allowed_capability_with_schemas() {
    let dirs = Dirs::new();
    let s = Server::start(&dirs, &["--token", TOKEN]);
    let list = s.get("/capabilities").json();
    let ids: Vec<&str> = list["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let catalog = airun::stdlib::capabilities();
    use airun::powers::CapabilitySet;
    assert_eq!(ids.len(), catalog.catalog().len(), "{ids:?}");
    for c in catalog.catalog() {
        assert!(ids.contains(&c.id), "{} missing", c.id);
    }
    let one = s.get("/capabilities/io.fs.write_file");
    assert_eq!(one.status, 200);
    let one = one.json();
    assert_eq!(one["input_schema"]["required"], json!(["path", "content"]));
    assert_eq!(one["requires_confirmation"], json!(true));
    assert!(one["output_schema"].is_object());
    assert_eq!(one["annotations"]["readOnlyHint"], json!(false));
    let by_tool = s.get("/capabilities/io_fs_write_file");
    assert_eq!(by_tool.status, 200);
    let unknown = s.get("/capabilities/io.fs.nope");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_kind(), "not_found");
}

#[test]
fn calls_answer_with_the_execute_envelope_and_refusals_change_nothing() {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("keep.txt"), "kept\n").unwrap();
    let s = Server::start(&dirs, &["--token", TOKEN, "--yes"]);
    let ok = s.call(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "hello\n"}),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let env = ok.json();
    assert_eq!(env["status"], "ok");
    assert_eq!(env["capability"], "io.fs.write_file");
    assert!(env["duration_ms"].is_u64());
    assert_eq!(
        std::fs::read_to_string(dirs.path("notes.txt")).unwrap(),
        "hello\n"
    );
    let read = s.call("io.fs.read_file", json!({"path": "notes.txt"}));
    assert_eq!(read.status, 200);
    assert!(read.json()["result"].to_string().contains("hello"));

    let before = Snapshot::of(&dirs.ws);
    let write = "/api/v1/capabilities/io.fs.write_file/calls";
    let auth = s.auth();
    let json_ct = ("Content-Type", "application/json");
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "malformed JSON",
            s.raw(
                "POST",
                write,
                &[("Authorization", &auth), json_ct],
                b"{\"path\": ",
            ),
            400,
            "invalid_input",
        ),
        (
            "a body that is not an object",
            s.raw(
                "POST",
                write,
                &[("Authorization", &auth), json_ct],
                b"[1, 2]",
            ),
            400,
            "invalid_input",
        ),
        (
            "wrong types",
            s.call("io.fs.write_file", json!({"path": 7, "content": ["x"]})),
            400,
            "invalid_input",
        ),
        (
            "missing input",
            s.call("io.fs.write_file", json!({"path": "a.txt"})),
            400,
            "invalid_input",
        ),
        (
            "unknown capability",
            s.call("io.fs.nope", json!({})),
            404,
            "not_found",
        ),
        (
            "outside the workspace",
            s.call(
                "io.fs.write_file",
                json!({"path": "../evil.txt", "content": "x"}),
            ),
            403,
            "denied_sandbox",
        ),
        (
            "already exists",
            s.call(
                "io.fs.write_file",
                json!({"path": "keep.txt", "content": "x", "mode": "create_new"}),
            ),
            409,
            "already_exists",
        ),
        (
            "oversized body",
            s.raw(
                "POST",
                write,
                &[("Authorization", &auth), json_ct],
                format!(
                    "{{\"path\":\"big.txt\",\"content\":\"{}\"}}",
                    "x".repeat(5 << 20)
                )
                .as_bytes(),
            ),
            413,
            "invalid_input",
        ),
        (
            "missing token",
            s.raw(
                "POST",
                write,
                &[json_ct],
                br#"{"path":"t.txt","content":"x"}"#,
            ),
            401,
            "unauthorized",
        ),
        (
            "wrong token",
            s.raw(
                "POST",
                write,
                &[("Authorization", "Bearer nope"), json_ct],
                br#"{"path":"t.txt","content":"x"}"#,
            ),
            401,
            "unauthorized",
        ),
        (
            "foreign Origin",
            s.raw(
                "POST",
                write,
                &[
                    ("Authorization", &auth),
                    ("Origin", "https://evil.example"),
                    json_ct,
                ],
                br#"{"path":"t.txt","content":"x"}"#,
            ),
            403,
            "denied_policy",
        ),
        (
            "foreign Host",
            s.raw(
                "POST",
                write,
                &[("Authorization", &auth), ("Host", "evil.example"), json_ct],
                br#"{"path":"t.txt","content":"x"}"#,
            ),
            403,
            "denied_policy",
        ),
        (
            "redo body with an unknown field",
            s.post("/redo", r#"{"stepz": 1}"#),
            400,
            "invalid_input",
        ),
        (
            "undo of an unknown operation",
            s.post("/undo", r#"{"to": 999}"#),
            404,
            "not_found",
        ),
        (
            "undo steps out of range",
            s.post("/undo", r#"{"steps": 0}"#),
            400,
            "invalid_input",
        ),
    ];
    for (what, answer, status, kind) in cases {
        assert_eq!(
            answer.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        // A call the pipeline refused answers with the execute envelope; a request
        // refused before any call, with the API's error.
        let pipeline_refusal = matches!(
            what,
            "wrong types" | "missing input" | "outside the workspace" | "already exists"
        );
        if pipeline_refusal {
            let env = answer.json();
            assert_eq!(env["status"], "error", "{what}: {env}");
            assert_eq!(env["error"]["kind"], kind, "{what}: {env}");
            assert!(env["error"]["message"].is_string(), "{what}: {env}");
        } else {
            assert_eq!(answer.error_kind(), kind, "{what}");
        }
        Snapshot::of(&dirs.ws).assert_same(&before, what);
    }
    drop(s);

    // Without --yes, and with the console not among the ways to confirm, a call that
    // needs confirmation is declined at once, and changes nothing.
    let policy = dirs.home.join("no-console.toml");
    std::fs::write(&policy, "[confirm]\nvia = [\"elicitation\"]\n").unwrap();
    let s = Server::start(
        &dirs,
        &["--token", TOKEN, "--policy", policy.to_str().unwrap()],
    );
    let declined = s.call(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "changed\n"}),
    );
    assert_eq!(declined.status, 422);
    assert_eq!(declined.json()["error"]["kind"], "declined");
    Snapshot::of(&dirs.ws).assert_same(&before, "declined");
}

/// Waits until `GET /confirmations` lists `n` calls, and returns them.
fn waiting(s: &Server, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let list = s.get("/confirmations").json();
        let list = list.as_array().unwrap().clone();
        if list.len() == n {
            return list;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{n} calls never waited in the console");
}

/// Without `--yes`, a REST call that needs a yes waits in the console until a person
/// approves it (then it runs), denies it (422, nothing changed), or the client hangs up
/// (the wait ends, nothing changed); the policy's timeout declines it.
#[test]
fn rest_calls_that_need_a_yes_wait_for_the_console() {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("notes.txt"), "before\n").unwrap();
    let s = Server::start(&dirs, &["--token", TOKEN]);
    let write = json!({"path": "notes.txt", "content": "approved\n"});

    // Approved: the waiting call runs and answers 200.
    std::thread::scope(|scope| {
        let call = scope.spawn(|| s.call("io.fs.write_file", write.clone()));
        let pending = waiting(&s, 1);
        assert_eq!(pending[0]["capability"], "io.fs.write_file");
        assert_eq!(pending[0]["params"]["path"], "notes.txt");
        let decided = s.post(
            &format!("/confirmations/{}", pending[0]["id"]),
            &json!({"approve": true, "args_hash": pending[0]["args_hash"]}).to_string(),
        );
        assert_eq!(decided.status, 200, "{:?}", decided.json());
        let answer = call.join().unwrap();
        assert_eq!(answer.status, 200, "{:?}", answer.json());
        assert_eq!(answer.json()["status"], "ok");
    });
    assert_eq!(
        std::fs::read_to_string(dirs.path("notes.txt")).unwrap(),
        "approved\n"
    );
    let audit = s.get("/audit?capability=io.fs.write_file").json();
    let last = audit["records"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["decision"]
            .as_str()
            .unwrap()
            .starts_with("approved_by_console"),
        "{last}"
    );

    // Denied: 422, the file as it was.
    let before = Snapshot::of(&dirs.ws);
    std::thread::scope(|scope| {
        let call = scope.spawn(|| {
            s.call(
                "io.fs.write_file",
                json!({"path": "notes.txt", "content": "denied\n"}),
            )
        });
        let pending = waiting(&s, 1);
        let decided = s.post(
            &format!("/confirmations/{}", pending[0]["id"]),
            &json!({"approve": false, "args_hash": pending[0]["args_hash"]}).to_string(),
        );
        assert_eq!(decided.status, 200);
        let answer = call.join().unwrap();
        assert_eq!(answer.status, 422);
        assert_eq!(answer.json()["error"]["kind"], "declined");
    });
    Snapshot::of(&dirs.ws).assert_same(&before, "denied in the console");

    // The client hangs up while its call waits: the wait ends and nothing changes.
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let body = json!({"path": "notes.txt", "content": "abandoned\n"}).to_string();
    write!(
        conn,
        "POST /api/v1/capabilities/io.fs.write_file/calls HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        s.addr,
        s.token,
        body.len()
    )
    .unwrap();
    let pending = waiting(&s, 1);
    drop(conn);
    waiting(&s, 0);
    let late = s.post(
        &format!("/confirmations/{}", pending[0]["id"]),
        &json!({"approve": true, "args_hash": pending[0]["args_hash"]}).to_string(),
    );
    assert_eq!(
        late.status, 409,
        "an abandoned call cannot be approved later"
    );
    Snapshot::of(&dirs.ws).assert_same(&before, "abandoned");
    drop(s);

    // Nobody decides: the policy's timeout declines the call.
    let policy = dirs.home.join("short.toml");
    std::fs::write(&policy, "[confirm]\ntimeout_seconds = 1\n").unwrap();
    let s = Server::start(
        &dirs,
        &["--token", TOKEN, "--policy", policy.to_str().unwrap()],
    );
    let answer = s.call(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "late\n"}),
    );
    assert_eq!(answer.status, 422);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody decided"),
        "{:?}",
        answer.json()
    );
    Snapshot::of(&dirs.ws).assert_same(&before, "timed out");
}

#[test]
fn history_undo_and_redo_with_the_drift_guard() {
    let dirs = Dirs::new();
    let s = Server::start(&dirs, &["--token", TOKEN, "--yes"]);
    for (i, text) in ["one\n", "two\n"].iter().enumerate() {
        let a = s.call(
            "io.fs.write_file",
            json!({"path": "f.txt", "content": text}),
        );
        assert_eq!(a.status, 200, "write {i}");
    }
    let h = s.get("/history?limit=10").json();
    let ops = h["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{h}");
    assert_eq!(ops[0]["capability"], "io.fs.write_file");
    assert_eq!(ops[0]["state"], "done");
    assert_eq!(s.get("/history?limit=0").status, 400);
    assert_eq!(s.get("/history?limit=abc").status, 400);

    let second = ops[0]["op"].as_i64().unwrap();
    let changed = s.get(&format!("/operations/{second}"));
    assert_eq!(
        changed.status,
        200,
        "{}",
        String::from_utf8_lossy(&changed.body)
    );
    let changed = changed.json();
    assert_eq!(changed["op"], second);
    assert_eq!(changed["capability"], "io.fs.write_file");
    let c = &changed["changes"][0];
    assert_eq!(c["path"], "f.txt", "{changed}");
    assert_eq!(c["before"], json!({"kind": "file", "size": 4}));
    assert_eq!(c["after"], json!({"kind": "file", "size": 4}));
    let diff = c["diff"].as_str().unwrap();
    assert!(
        diff.contains("--- a/f.txt") && diff.contains("+++ b/f.txt"),
        "{diff}"
    );
    assert!(diff.contains("-one\n+two\n"), "{diff}");
    let first_op = ops[1]["op"].as_i64().unwrap();
    let created = s.get(&format!("/operations/{first_op}")).json();
    assert_eq!(
        created["changes"][0]["before"]["kind"], "absent",
        "{created}"
    );
    assert!(
        created["changes"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+one")
    );
    assert_eq!(s.get("/operations/999").status, 404);
    assert_eq!(s.get("/operations/abc").status, 400);

    let undone = s.post("/undo", "{}");
    assert_eq!(
        undone.status,
        200,
        "{}",
        String::from_utf8_lossy(&undone.body)
    );
    let undone = undone.json();
    assert_eq!(undone["undone"].as_array().unwrap().len(), 1);
    assert_eq!(undone["undoable"], 1);
    assert_eq!(
        std::fs::read_to_string(dirs.path("f.txt")).unwrap(),
        "one\n"
    );
    let redone = s.post("/redo", r#"{"steps": 1}"#);
    assert_eq!(redone.status, 200);
    assert_eq!(
        std::fs::read_to_string(dirs.path("f.txt")).unwrap(),
        "two\n"
    );

    // A change made after the operation: undo refuses (409) and leaves it.
    std::fs::write(dirs.path("f.txt"), "mine\n").unwrap();
    let before = Snapshot::of(&dirs.ws);
    let refused = s.post("/undo", "{}");
    assert_eq!(
        refused.status,
        409,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    Snapshot::of(&dirs.ws).assert_same(&before, "undo over a changed file");
    let forced = s.post("/undo", r#"{"force": true}"#);
    assert_eq!(forced.status, 200);
    assert_eq!(
        std::fs::read_to_string(dirs.path("f.txt")).unwrap(),
        "one\n"
    );
    // Every operation from the first on.
    let first = ops[1]["op"].as_i64().unwrap();
    let all = s.post("/undo", &json!({"to": first}).to_string());
    assert_eq!(all.status, 200, "{}", String::from_utf8_lossy(&all.body));
    assert!(!dirs.path("f.txt").exists());
    drop(s);

    // Read-only: every mutating endpoint is refused, nothing changes.
    let s = Server::start(&dirs, &["--token", TOKEN, "--yes", "--read-only"]);
    let before = Snapshot::of(&dirs.ws);
    for (path, body) in [("/undo", "{}"), ("/redo", "{}")] {
        let a = s.post(path, body);
        assert_eq!(a.status, 403, "{path}");
        assert_eq!(a.error_kind(), "denied_policy");
    }
    let w = s.call("io.fs.write_file", json!({"path": "g.txt", "content": "x"}));
    assert_eq!(w.status, 403);
    Snapshot::of(&dirs.ws).assert_same(&before, "read-only");
    assert_eq!(s.get("/history").status, 200);
}

#[test]
fn audit_pages_filters_verifies_and_exports() {
    let dirs = Dirs::new();
    let s = Server::start(&dirs, &["--token", TOKEN, "--yes"]);
    for i in 0..5 {
        let a = s.call(
            "io.fs.write_file",
            json!({"path": format!("f{i}.txt"), "content": "x"}),
        );
        assert_eq!(a.status, 200);
    }
    assert_eq!(
        s.call("io.fs.read_file", json!({"path": "../x"})).status,
        403
    );
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let path = match cursor {
            Some(c) => format!("/audit?limit=2&cursor={c}"),
            None => "/audit?limit=2".to_string(),
        };
        let page = s.get(&path).json();
        let records = page["records"].as_array().unwrap().clone();
        assert!(records.len() <= 2);
        seen.extend(records.iter().map(|r| r["seq"].as_i64().unwrap()));
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (1..=6).collect::<Vec<i64>>());
    let writes = s.get("/audit?capability=io.fs.write_file&limit=100").json();
    assert_eq!(writes["records"].as_array().unwrap().len(), 5);
    assert_eq!(writes["next_cursor"], Value::Null);
    let denied = s.get("/audit?decision=denied_sandbox").json();
    assert_eq!(denied["records"].as_array().unwrap().len(), 1);
    let future = s.get("/audit?since=2999-01-01T00:00:00Z").json();
    assert_eq!(future["records"].as_array().unwrap().len(), 0);
    let past = s.get("/audit?until=2000-01-01T00:00:00Z").json();
    assert_eq!(past["records"].as_array().unwrap().len(), 0);
    let bad = s.get("/audit?since=yesterday");
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("since")
    );
    assert_eq!(s.get("/audit?limit=5000").status, 400);
    assert_eq!(s.get("/audit?surprise=1").status, 400);

    let v = s.get("/audit/verify").json();
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["records"], 6);

    let export = s.get("/audit/export");
    assert_eq!(export.status, 200);
    assert!(export.header("content-type").unwrap().contains("ndjson"));
    let lines: Vec<Value> = String::from_utf8(export.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5]["decision"], "denied_sandbox");
    let some = s.get("/audit/export?capability=io.fs.read_file");
    assert_eq!(String::from_utf8(some.body).unwrap().lines().count(), 1);
}

/// `openapi-spec-validator` accepts the served document, and Schemathesis (a few thousand
/// generated cases over every operation, all checks but `positive_data_acceptance`)
/// finds no failure. The server may not reach the network or run programs, so generated
/// calls stay inside the temporary workspace.
#[test]
fn openapi_document_validates_and_schemathesis_finds_no_failure() {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("a.txt"), "hello\n").unwrap();
    std::fs::create_dir(dirs.path("sub")).unwrap();
    let policy = dirs.home.join("policy.toml");
    std::fs::write(
        &policy,
        "allowed_side_effects = [\"read_only\", \"filesystem_read\", \"filesystem_write\", \
         \"filesystem_delete\", \"system_read\", \"state_mutation\"]\n\
         [confirm]\nvia = [\"elicitation\"]\n",
    )
    .unwrap();
    let s = Server::start(
        &dirs,
        &["--token", TOKEN, "--policy", policy.to_str().unwrap()],
    );
    // The document itself: every allowed capability has its call path with its schemas.
    let doc = s.get("/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let write = &doc["paths"]["/capabilities/io.fs.write_file/calls"]["post"];
    assert_eq!(
        write["requestBody"]["content"]["application/json"]["schema"]["required"],
        json!(["path", "content"])
    );
    assert!(doc["paths"]["/capabilities/net.http.get/calls"].is_null());
    let py = support::python::python();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(py)
        .arg(support::python::script("openapi_check.py"))
        .arg(format!("http://{}/api/v1", s.addr))
        .arg(TOKEN)
        .arg("20")
        .current_dir(work.path())
        .output()
        .expect("run openapi_check.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openapi_check.py failed:\n{text}");
    assert!(text.contains("openapi-spec-validator: valid"), "{text}");
    assert!(text.contains("schemathesis: no failures"), "{text}");
}

/// The export reads the database a page (500 records) at a time and sends each page as it
/// is read: more records than a page arrive whole, in order, in several chunks.
#[test]
fn audit_export_streams_page_after_page() {
    let dirs = Dirs::new();
    let s = Server::start(&dirs, &["--token", TOKEN]);
    let n = 1203;
    for _ in 0..n {
        assert_eq!(s.call("sys.info.get_os", json!({})).status, 200);
    }
    let export = s.get("/audit/export");
    assert_eq!(export.status, 200);
    assert!(export.chunks >= 3, "{} chunks", export.chunks);
    let seqs: Vec<i64> = String::from_utf8(export.body)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<i64>>());
    let from = s.get("/audit/export?cursor=1000");
    assert_eq!(String::from_utf8(from.body).unwrap().lines().count(), 203);
}

/// `POST /undo` with `session` takes back one agent session's operations and leaves the
/// others; an unknown session is a 404 that changes nothing.
#[test]
fn undo_of_one_session_over_the_api() {
    let dirs = Dirs::new();
    // Two `airun execute` processes: two sessions in the same workspace.
    for (file, text) in [("a.txt", "from a\n"), ("b.txt", "from b\n")] {
        support::succeeds(
            Command::new(AIRUN)
                .args(["--workspace"])
                .arg(&dirs.ws)
                .args(["execute", "io.fs.write_file", "--yes", "--params"])
                .arg(json!({"path": file, "content": text}).to_string())
                .env("AIRUN_HOME", &dirs.home),
        );
    }
    let s = Server::start(&dirs, &["--token", TOKEN, "--yes"]);
    let h = s.get("/history?limit=10").json();
    let ops = h["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{h}");
    let session_of_a = ops
        .iter()
        .find(|o| o["summary"].as_str().unwrap_or("").contains("a.txt"))
        .and_then(|o| o["session"].as_str())
        .unwrap_or_else(|| panic!("no session on the operation that wrote a.txt: {h}"))
        .to_string();

    let before = Snapshot::of(&dirs.ws);
    let unknown = s.post("/undo", r#"{"session": "no-such-session"}"#);
    assert_eq!(
        unknown.status,
        404,
        "{}",
        String::from_utf8_lossy(&unknown.body)
    );
    Snapshot::of(&dirs.ws).assert_same(&before, "an undo of an unknown session");

    let done = s.post("/undo", &json!({"session": session_of_a}).to_string());
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(done.json()["undone"].as_array().map(Vec::len), Some(1));
    assert!(!dirs.ws.join("a.txt").exists(), "a.txt was not taken back");
    assert_eq!(
        std::fs::read_to_string(dirs.ws.join("b.txt")).unwrap(),
        "from b\n",
        "the other session's file changed"
    );
}

/// `airun serve` mounts the events stream and the confirmations under the same token:
/// a write and its undo made through the API show up on `GET /events`, and
/// `GET /confirmations` answers (empty: nothing waits).
#[test]
fn the_server_streams_events_and_lists_confirmations() {
    let dirs = Dirs::new();
    let s = Server::start(&dirs, &["--token", TOKEN, "--yes"]);
    assert_eq!(s.raw("GET", "/api/v1/confirmations", &[], b"").status, 401);
    let waiting = s.get("/confirmations");
    assert_eq!(waiting.status, 200);
    assert_eq!(waiting.json(), json!([]));
    assert_eq!(s.raw("GET", "/api/v1/events", &[], b"").status, 401);

    let a = s.call("io.fs.write_file", json!({"path": "e.txt", "content": "x"}));
    assert_eq!(a.status, 200);
    assert_eq!(s.post("/undo", "{}").status, 200);
    // The stream never ends: read it (from the start of the ring) until the undo's event
    // has come.
    let mut conn = TcpStream::connect(&s.addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nLast-Event-ID: 0\r\n\r\n",
        s.addr
    );
    conn.write_all(req.as_bytes()).unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("event: undone") {
        match conn.read(&mut buf) {
            Ok(0) => panic!("the stream ended: {seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("no undone event for the API's undo ({e}): {seen}"),
        }
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    let requested = seen.find("event: requested").expect("a requested event");
    let finished = seen.find("event: finished").expect("a finished event");
    assert!(requested < finished, "{seen}");
    assert!(seen[requested..finished].contains("e.txt"), "{seen}");
}

//! net.http.get/post/put against a real HTTP/1.1 server on 127.0.0.1 that each test starts
//! itself, and the network guard refusing private addresses before any connection.

use airun::pipeline::{
    ApprovedBy, CallOptions, ConfirmRequest, Confirmer, FlagConfirmer, NetPolicy, NoConfirmer,
    Pipeline, Settings,
};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use airun::{CapError, ErrorKind, UndoStrategy};
use base64::Engine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server: one request per connection, `Connection: close`.

/// A request as the server received it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response to send.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

fn resp(status: u16, body: impl Into<Vec<u8>>) -> Resp {
    Resp {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

fn redirect(status: u16, location: &str) -> Resp {
    let mut r = resp(status, "");
    r.headers.push(("Location".into(), location.into()));
    r
}

type Handler = dyn Fn(&Req) -> Resp + Send + Sync;

/// A running test server: its address, the connections it accepted and the requests it read.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    fn start(bind: &str, handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Option<Server> {
        let listener = TcpListener::bind(bind).ok()?;
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (acc, reqs) = (accepted.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let (handler, reqs) = (handler.clone(), reqs.clone());
                std::thread::spawn(move || serve_one(stream, &*handler, &reqs));
            }
        });
        Some(Server {
            addr,
            accepted,
            requests,
        })
    }

    fn local(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Server {
        Server::start("127.0.0.1:0", handler).expect("bind 127.0.0.1")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve_one(stream: TcpStream, handler: &Handler, reqs: &Mutex<Vec<Req>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok();
    let req = Req {
        method,
        path,
        headers,
        body,
    };
    reqs.lock().unwrap().push(req.clone());
    let r = handler(&req);
    std::thread::sleep(r.delay);
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        r.body.len()
    );
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // The client may stop reading early (size cap): write errors are expected then.
    let _ = out
        .write_all(head.as_bytes())
        .and_then(|_| out.write_all(&r.body));
}

// ---------------------------------------------------------------------------------------
// A pipeline over a temporary workspace, with the time machine as journal and audit log.

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    pipeline: Pipeline<Capabilities<Stdlib>>,
    tm: Arc<TimeMachine>,
}

fn env(net: NetPolicy) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let home = tmp.path().join("home");
    let workspace = Workspace::open(&ws, true, Some(&home)).unwrap();
    let tm = Arc::new(TimeMachine::open(&home, &workspace, Retention::default()).unwrap());
    let settings = Settings {
        net,
        ..Settings::default()
    };
    let pipeline = Pipeline::new(airun::stdlib::capabilities(), workspace, settings)
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm.clone()));
    Env {
        _tmp: tmp,
        home,
        pipeline,
        tm,
    }
}

fn private_ok() -> NetPolicy {
    NetPolicy {
        allow_private: true,
        ..NetPolicy::default()
    }
}

impl Env {
    fn call(&self, id: &str, args: Value) -> Result<Value, CapError> {
        self.pipeline
            .execute(id, args, &FlagConfirmer, CallOptions::default())
    }

    fn ok(&self, id: &str, args: Value) -> Value {
        let shown = args.to_string();
        self.call(id, args)
            .unwrap_or_else(|e| panic!("{id} {shown}: {e:?}"))
    }

    fn err(&self, id: &str, args: Value) -> CapError {
        let shown = args.to_string();
        match self.call(id, args) {
            Ok(v) => panic!("{id} {shown} should have failed, returned {v}"),
            Err(e) => e,
        }
    }
}

/// Every byte under a folder (the audit database, its WAL, the blobs).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------
// With private addresses allowed: the protocol itself.

#[test]
fn get_sends_headers_and_returns_status_headers_and_text() {
    let server = Server::local(|r| {
        let mut out = resp(201, format!("hello {}", r.header("x-name").unwrap_or("?")));
        out.headers.push(("X-Reply".into(), "yes".into()));
        out.headers.push(("Set-Cookie".into(), "a=1".into()));
        out.headers.push(("Set-Cookie".into(), "b=2".into()));
        out
    });
    let e = env(private_ok());
    let out = e.ok(
        "net.http.get",
        json!({"url": server.url("/greet?x=1"), "headers": {"X-Name": "airun", "Accept": "text/plain"}}),
    );
    assert_eq!(out["status"], 201);
    assert_eq!(out["body"], "hello airun");
    assert_eq!(out["encoding"], "utf-8");
    assert_eq!(out["truncated"], false);
    assert_eq!(out["final_url"], server.url("/greet?x=1"));
    assert_eq!(out["headers"]["x-reply"], "yes");
    assert_eq!(out["headers"]["set-cookie"], "a=1\nb=2");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/greet?x=1");
    assert_eq!(reqs[0].header("accept"), Some("text/plain"));
    assert!(reqs[0].header("user-agent").unwrap().starts_with("airun/"));
}

#[test]
fn post_and_put_send_the_body_with_its_content_type() {
    let server = Server::local(|r| {
        resp(
            200,
            format!("{} {}", r.method, String::from_utf8_lossy(&r.body)),
        )
    });
    let e = env(private_ok());
    let out = e.ok(
        "net.http.post",
        json!({"url": server.url("/items"), "body": "{\"a\":1}", "headers": {"X-Trace": "t1"}}),
    );
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], "POST {\"a\":1}");
    let out = e.ok(
        "net.http.put",
        json!({"url": server.url("/items/1"), "body": "plain words", "content_type": "text/plain; charset=utf-8"}),
    );
    assert_eq!(out["body"], "PUT plain words");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(reqs[0].header("x-trace"), Some("t1"));
    assert_eq!(reqs[0].body, b"{\"a\":1}");
    assert_eq!(reqs[1].method, "PUT");
    assert_eq!(reqs[1].path, "/items/1");
    assert_eq!(
        reqs[1].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

/// Records what the person was asked, and approves.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, UndoStrategy, Value)>>);

impl Confirmer for Recorder {
    fn confirm(&self, request: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        self.0.lock().unwrap().push((
            request.capability.id.to_string(),
            request.capability.undo_strategy,
            request.params.clone(),
        ));
        Ok(ApprovedBy::Flag)
    }
}

#[test]
fn post_and_put_need_confirmation_and_are_irreversible() {
    let server = Server::local(|_| resp(200, "ok"));
    let e = env(private_ok());
    for id in ["net.http.post", "net.http.put"] {
        let err = e
            .pipeline
            .execute(
                id,
                json!({"url": server.url("/"), "body": "x"}),
                &NoConfirmer,
                CallOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Declined, "{id}");
    }
    assert_eq!(server.accepted(), 0, "a declined call must not connect");
    let rec = Recorder::default();
    e.pipeline
        .execute(
            "net.http.post",
            json!({"url": server.url("/"), "body": "x", "headers": {"Authorization": "Bearer PROMPT-SECRET"}}),
            &rec,
            CallOptions::default(),
        )
        .unwrap();
    let asked = rec.0.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "net.http.post");
    assert_eq!(asked[0].1, UndoStrategy::Irreversible);
    assert!(
        !asked[0].2.to_string().contains("PROMPT-SECRET"),
        "{}",
        asked[0].2
    );
    // GET reads only: no confirmation.
    e.pipeline
        .execute(
            "net.http.get",
            json!({"url": server.url("/")}),
            &NoConfirmer,
            CallOptions::default(),
        )
        .unwrap();
}

#[test]
fn a_post_redirect_is_returned_not_followed() {
    let server = Server::local(|r| {
        if r.path == "/old" {
            redirect(307, "/new")
        } else {
            resp(200, "moved here")
        }
    });
    let e = env(private_ok());
    let out = e.ok(
        "net.http.post",
        json!({"url": server.url("/old"), "body": "data"}),
    );
    assert_eq!(out["status"], 307);
    assert_eq!(out["headers"]["location"], "/new");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn the_body_is_capped_with_a_truncated_flag() {
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let expected = big.clone();
    let server = Server::local(move |r| match r.path.as_str() {
        "/exact" => resp(200, vec![b'x'; 1000]),
        _ => resp(200, big.clone()),
    });
    let e = env(private_ok());
    let out = e.ok(
        "net.http.get",
        json!({"url": server.url("/big"), "max_bytes": 1000}),
    );
    assert_eq!(out["truncated"], true);
    assert_eq!(out["body"].as_str().unwrap().as_bytes(), &expected[..1000]);
    // Exactly at the limit is not truncated.
    let out = e.ok(
        "net.http.get",
        json!({"url": server.url("/exact"), "max_bytes": 1000}),
    );
    assert_eq!(out["truncated"], false);
    assert_eq!(out["body"].as_str().unwrap().len(), 1000);
    // Without max_bytes the whole body comes back.
    let out = e.ok("net.http.get", json!({"url": server.url("/big")}));
    assert_eq!(out["truncated"], false);
    assert_eq!(out["body"].as_str().unwrap().len(), 200_000);
    // The operator's net.max_body wins over a larger max_bytes.
    let e = env(NetPolicy {
        max_body: 500,
        ..private_ok()
    });
    let out = e.ok(
        "net.http.get",
        json!({"url": server.url("/big"), "max_bytes": 100_000}),
    );
    assert_eq!(out["truncated"], true);
    assert_eq!(out["body"].as_str().unwrap().len(), 500);
}

#[test]
fn a_binary_body_comes_back_as_base64() {
    let bytes: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, 0x80, 7];
    let sent = bytes.clone();
    let server = Server::local(move |_| resp(200, sent.clone()));
    let e = env(private_ok());
    let out = e.ok("net.http.get", json!({"url": server.url("/img")}));
    assert_eq!(out["encoding"], "base64");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(out["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, bytes);
}

#[test]
fn a_cut_inside_a_character_keeps_the_text() {
    let server = Server::local(|_| resp(200, "héllo wörld"));
    let e = env(private_ok());
    // "h" + the first byte of "é": the cut falls inside the character.
    let out = e.ok(
        "net.http.get",
        json!({"url": server.url("/"), "max_bytes": 2}),
    );
    assert_eq!(out["encoding"], "utf-8");
    assert_eq!(out["body"], "h");
    assert_eq!(out["truncated"], true);
}

#[test]
fn redirects_are_followed_up_to_the_limit() {
    let server = Server::local(|r| {
        if let Some(n) = r.path.strip_prefix("/hop/") {
            let n: u32 = n.parse().unwrap();
            if n == 0 {
                resp(200, "arrived")
            } else {
                redirect(302, &format!("/hop/{}", n - 1))
            }
        } else if r.path == "/loop" {
            redirect(301, "/loop")
        } else {
            resp(404, "")
        }
    });
    let e = env(private_ok());
    let out = e.ok("net.http.get", json!({"url": server.url("/hop/10")}));
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], "arrived");
    assert_eq!(out["final_url"], server.url("/hop/0"));
    assert_eq!(server.requests().len(), 11, "ten redirects are allowed");

    let before = server.requests().len();
    let err = e.err("net.http.get", json!({"url": server.url("/loop")}));
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(
        err.message.contains("stopped after 10 redirects"),
        "{}",
        err.message
    );
    assert_eq!(
        server.requests().len() - before,
        11,
        "the first request and ten hops, no more"
    );

    let out = e.ok(
        "net.http.get",
        json!({"url": server.url("/hop/3"), "follow_redirects": false}),
    );
    assert_eq!(out["status"], 302);
    assert_eq!(out["headers"]["location"], "/hop/2");
}

#[test]
fn credentials_are_not_sent_to_another_origin_on_redirect() {
    let other = Server::local(|_| resp(200, "other"));
    let to = other.url("/landing");
    let server = Server::local(move |r| match r.path.as_str() {
        "/away" => redirect(302, &to),
        "/near" => redirect(302, "/here"),
        _ => resp(200, "here"),
    });
    let e = env(private_ok());
    let headers = json!({"Authorization": "Bearer abc", "Cookie": "s=1", "X-Keep": "k"});
    e.ok(
        "net.http.get",
        json!({"url": server.url("/near"), "headers": headers}),
    );
    let same = server.requests();
    assert_eq!(same[1].path, "/here");
    assert_eq!(
        same[1].header("authorization"),
        Some("Bearer abc"),
        "same origin keeps credentials"
    );
    e.ok(
        "net.http.get",
        json!({"url": server.url("/away"), "headers": headers}),
    );
    let reqs = other.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(reqs[0].header("cookie"), None);
    assert_eq!(reqs[0].header("x-keep"), None, "caller headers stay behind");
}

/// Custom secret headers (`X-Api-Key`) were forwarded on cross-origin redirects: every
/// header the caller gave is dropped when the origin changes, unless the operator lists
/// it in `net.cross_origin_headers`; credentials never cross, even when listed.
#[test]
fn custom_secret_headers_are_dropped_on_cross_origin_redirects() {
    let other = Server::local(|_| resp(200, "other"));
    let to = other.url("/landing");
    let server = Server::local(move |r| match r.path.as_str() {
        "/away" => redirect(307, &to),
        "/near" => redirect(307, "/here"),
        _ => resp(200, "here"),
    });
    let headers = json!({"X-Api-Key": "KEY-9d1", "X-Trace": "t-1", "Authorization": "Bearer z"});
    let e = env(private_ok());
    e.ok(
        "net.http.get",
        json!({"url": server.url("/near"), "headers": headers}),
    );
    let same = server.requests();
    assert_eq!(
        same[1].header("x-api-key"),
        Some("KEY-9d1"),
        "same origin keeps them"
    );
    e.ok(
        "net.http.get",
        json!({"url": server.url("/away"), "headers": headers}),
    );
    let reqs = other.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("x-api-key"), None);
    assert_eq!(reqs[0].header("x-trace"), None);
    assert_eq!(reqs[0].header("authorization"), None);
    // The operator lets one header cross; credentials still do not.
    let e = env(NetPolicy {
        cross_origin_headers: vec!["x-trace".into(), "authorization".into()],
        ..private_ok()
    });
    e.ok(
        "net.http.get",
        json!({"url": server.url("/away"), "headers": headers}),
    );
    let reqs = other.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("x-trace"), Some("t-1"));
    assert_eq!(reqs[1].header("x-api-key"), None);
    assert_eq!(reqs[1].header("authorization"), None);
}

/// deny_hosts bypass: with private addresses allowed and loopback on the deny list, the
/// spellings `[::ffff:127.0.0.1]`, `[::ffff:7f00:1]` and `0.0.0.0` reached 127.0.0.1,
/// directly or through a 302/307. They are matched as the address they reach, at every
/// hop, and refused before any connection.
#[test]
fn deny_hosts_bypass_through_mapped_and_unspecified_addresses_is_refused() {
    let target = Server::local(|_| resp(200, "should not be reached"));
    let port = target.addr.port();
    let policy = NetPolicy {
        deny_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        ..private_ok()
    };
    let spellings = [
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::]:{port}/"),
    ];
    let e = env(policy.clone());
    for url in &spellings {
        let err = e.err("net.http.get", json!({ "url": url }));
        assert_eq!(err.kind, ErrorKind::DeniedPolicy, "{url}: {err:?}");
        assert!(err.message.contains("deny list"), "{url}: {}", err.message);
    }
    // Through redirects from a server on another loopback address (not on the list).
    let Some(first) = Server::start("127.0.0.2:0", {
        let spellings = spellings.clone();
        move |r| {
            let i: usize = r.path.trim_start_matches('/').parse().unwrap_or(0);
            redirect(if i.is_multiple_of(2) { 302 } else { 307 }, &spellings[i])
        }
    }) else {
        panic!("cannot bind 127.0.0.2 (Linux routes all of 127.0.0.0/8 to loopback)");
    };
    for i in 0..spellings.len() {
        let err = e.err(
            "net.http.get",
            json!({ "url": format!("http://{}/{i}", first.addr) }),
        );
        assert_eq!(err.kind, ErrorKind::DeniedPolicy, "hop {i}: {err:?}");
    }
    assert_eq!(first.accepted(), spellings.len());
    assert_eq!(target.accepted(), 0, "nothing reached 127.0.0.1");
    // A name that resolves to a denied address is refused on the address too.
    let e = env(NetPolicy {
        deny_hosts: vec!["127.0.0.1".into()],
        ..private_ok()
    });
    let err = e.err(
        "net.http.get",
        json!({ "url": format!("http://localhost:{port}/") }),
    );
    assert_eq!(err.kind, ErrorKind::DeniedPolicy, "{err:?}");
    assert_eq!(target.accepted(), 0);
}

/// A password in a URL (`user:pw@host`) reached the audit log even though the call was
/// refused: the user information of every URL in the params is redacted before it is
/// recorded.
#[test]
fn a_password_in_a_url_never_reaches_the_audit_log() {
    let e = env(private_ok());
    let err = e.err(
        "net.http.get",
        json!({"url": "http://alice:PW-SECRET-31c@127.0.0.1:1/x"}),
    );
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    // Any URL in any input: here in a header value of a call that fails to connect.
    e.err(
        "net.http.get",
        json!({"url": "http://127.0.0.1:1/", "headers": {"X-Ref": "https://bob:PW-OTHER-77@example.com/"}}),
    );
    let records = e.tm.audit_records(None).unwrap();
    assert_eq!(records.len(), 2);
    let text = serde_json::to_string(&records).unwrap();
    assert!(text.contains("<redacted>@127.0.0.1:1/x"), "{text}");
    assert!(
        !text.contains("PW-SECRET-31c") && !text.contains("alice"),
        "{text}"
    );
    assert!(!text.contains("PW-OTHER-77"), "{text}");
    let bytes = all_bytes(&e.home);
    assert!(!contains(&bytes, "PW-SECRET-31c"));
    assert!(!contains(&bytes, "PW-OTHER-77"));
}

#[test]
fn a_redirect_to_a_denied_host_is_refused_before_connecting() {
    // Private addresses are allowed here so the first hop can reach the test server; the
    // second hop names a host on the deny list, and is checked like the first.
    let target = Server::local(|_| resp(200, "should not be reached"));
    let to = format!("http://localhost:{}/", target.addr.port());
    let server = Server::local(move |_| redirect(302, &to));
    let e = env(NetPolicy {
        deny_hosts: vec!["localhost".into()],
        ..private_ok()
    });
    let err = e.err("net.http.get", json!({"url": server.url("/")}));
    assert_eq!(err.kind, ErrorKind::DeniedPolicy);
    assert!(err.message.contains("deny list"), "{}", err.message);
    assert_eq!(server.accepted(), 1);
    assert_eq!(target.accepted(), 0);
}

#[test]
fn the_host_allow_list_applies() {
    let server = Server::local(|_| resp(200, "ok"));
    let e = env(NetPolicy {
        allow_hosts: vec!["*.example.org".into()],
        ..private_ok()
    });
    let err = e.err("net.http.get", json!({"url": server.url("/")}));
    assert_eq!(err.kind, ErrorKind::DeniedPolicy);
    assert!(err.message.contains("allow list"), "{}", err.message);
    assert_eq!(server.accepted(), 0);
}

#[test]
fn a_slow_server_times_out() {
    let server = Server::local(|_| {
        let mut r = resp(200, "late");
        r.delay = Duration::from_secs(4);
        r
    });
    let e = env(private_ok());
    let started = Instant::now();
    let err = e.err(
        "net.http.get",
        json!({"url": server.url("/"), "timeout_seconds": 1}),
    );
    assert_eq!(err.kind, ErrorKind::Timeout, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn https_to_a_plain_http_server_fails_cleanly() {
    // The TLS stack starts (crypto provider, platform verifier) and the handshake error is
    // a clear execution error, not a panic.
    let server = Server::local(|_| resp(200, "plain"));
    let e = env(private_ok());
    let err = e.err(
        "net.http.get",
        json!({"url": format!("https://{}/", server.addr)}),
    );
    assert_eq!(err.kind, ErrorKind::Execution, "{err:?}");
    assert!(
        err.message.contains(&format!("https://{}/", server.addr)),
        "{}",
        err.message
    );
    assert_eq!(server.accepted(), 1);
}

#[test]
fn bad_urls_and_headers_are_refused_clearly() {
    let e = env(private_ok());
    let err = e.err("net.http.get", json!({"url": "file:///etc/passwd"}));
    assert_eq!(err.kind, ErrorKind::DeniedPolicy);
    assert!(
        err.message.contains("only http and https"),
        "{}",
        err.message
    );
    let err = e.err(
        "net.http.get",
        json!({"url": "http://user:pw@127.0.0.1:1/"}),
    );
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let err = e.err("net.http.get", json!({"url": "not a url"}));
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let err = e.err(
        "net.http.get",
        json!({"url": "http://127.0.0.1:1/", "headers": {"Host": "x"}}),
    );
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let err = e.err(
        "net.http.get",
        json!({"url": "http://127.0.0.1:1/", "headers": {"X": {"nested": 1}}}),
    );
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let err = e.err(
        "net.http.post",
        json!({"url": "http://127.0.0.1:1/", "body": "", "headers": {"Content-Type": "a/b"}}),
    );
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.hint.unwrap().contains("content_type"));
}

// ---------------------------------------------------------------------------------------
// With private addresses not allowed (the default): refused before any connection.

fn assert_refused(e: &Env, url: &str, class: &str) {
    let started = Instant::now();
    let err = e.err("net.http.get", json!({ "url": url }));
    assert_eq!(err.kind, ErrorKind::DeniedPolicy, "{url}: {err:?}");
    assert!(
        err.message.contains(class),
        "{url}: `{}` should name {class}",
        err.message
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("net.allow_private"),
        "{url}"
    );
    // Unroutable addresses such as 10.0.0.1 would take seconds to fail if tried.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{url} took {:?}",
        started.elapsed()
    );
}

#[test]
fn private_addresses_are_refused_before_any_connection() {
    let v4 = Server::local(|_| resp(200, "reached"));
    let v6 = Server::start("[::1]:0", |_| resp(200, "reached"));
    let e = env(NetPolicy::default());
    let port = v4.addr.port();
    assert_refused(&e, &v4.url("/"), "loopback");
    assert_refused(&e, &format!("http://localhost:{port}/"), "loopback");
    assert_refused(
        &e,
        &format!("http://[::ffff:127.0.0.1]:{port}/"),
        "loopback",
    );
    assert_refused(&e, &format!("http://2130706433:{port}/"), "loopback");
    assert_refused(&e, "http://10.0.0.1/", "a private address");
    assert_refused(&e, "http://192.168.1.1/", "a private address");
    assert_refused(
        &e,
        "http://169.254.169.254/latest/meta-data/",
        "cloud metadata",
    );
    assert_refused(&e, "http://[fd00:ec2::254]/", "cloud metadata");
    assert_refused(&e, "http://100.64.0.1/", "CGNAT");
    assert_refused(&e, "http://0.0.0.0/", "unspecified");
    match &v6 {
        Some(s) => assert_refused(&e, &s.url("/"), "loopback"),
        None => assert_refused(&e, "http://[::1]:9/", "loopback"),
    }
    // The same for sends.
    let err = e.err("net.http.post", json!({"url": v4.url("/"), "body": "x"}));
    assert_eq!(err.kind, ErrorKind::DeniedPolicy);
    assert_eq!(
        v4.accepted(),
        0,
        "nothing may connect to the loopback server"
    );
    if let Some(s) = &v6 {
        assert_eq!(s.accepted(), 0, "nothing may connect to the [::1] server");
    }
    // Denied calls are audited as policy denials.
    let records = e.tm.audit_records(None).unwrap();
    assert!(
        records.iter().all(|r| r.outcome == "denied_policy"),
        "{records:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Audit.

#[test]
fn authorization_and_cookie_values_never_reach_the_audit_log() {
    let server = Server::local(|_| resp(200, "ok"));
    let e = env(private_ok());
    let secret = "Bearer SECRET-TOKEN-7f3a9c";
    let cookie = "session=COOKIE-VALUE-51d2";
    e.ok(
        "net.http.get",
        json!({"url": server.url("/a"), "headers": {"Authorization": secret, "Cookie": cookie}}),
    );
    e.ok(
        "net.http.post",
        json!({"url": server.url("/b"), "body": "{}", "headers": {"authorization": secret}}),
    );
    // The server did get them.
    let reqs = server.requests();
    assert_eq!(reqs[0].header("authorization"), Some(secret));
    assert_eq!(reqs[0].header("cookie"), Some(cookie));
    assert_eq!(reqs[1].header("authorization"), Some(secret));
    // The audit records name the call but not the values.
    let records = e.tm.audit_records(None).unwrap();
    assert_eq!(records.len(), 2);
    let text = serde_json::to_string(&records).unwrap();
    assert!(text.contains("net.http.get") && text.contains("net.http.post"));
    assert!(text.contains(&server.url("/a")), "the URL is audited");
    assert!(
        !text.contains("SECRET-TOKEN") && !text.contains("COOKIE-VALUE"),
        "{text}"
    );
    // Nor anywhere in airun's state: database, write-ahead log, blobs.
    let bytes = all_bytes(&e.home);
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, "SECRET-TOKEN-7f3a9c"));
    assert!(!contains(&bytes, "COOKIE-VALUE-51d2"));
}

/// A change the journal cannot finish alone (an irreversible one, here a POST) starts only
/// once the files earlier changes wrote are on disk and no longer listed as unsynced: a
/// start after a power cut could not replay those changes over what it did.
#[test]
fn an_irreversible_change_starts_once_the_files_earlier_changes_wrote_are_synced() {
    // The thread that syncs once changes pause does nothing here.
    fail::cfg("tm_settle_later", "return").unwrap();
    let e = env(private_ok());
    let db = e.tm.dir().join("airun.db");
    let listed = move || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM unsynced_changes", [], |r| r.get(0))
            .unwrap()
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let (seen, listed) = (seen.clone(), listed.clone());
        Server::local(move |_| {
            seen.lock().unwrap().push(listed());
            resp(200, "ok")
        })
    };
    e.ok(
        "io.fs.write_file",
        json!({"path": "notes.txt", "content": "written\n"}),
    );
    assert_eq!(
        listed(),
        1,
        "the write is listed until its files are synced"
    );
    e.ok(
        "net.http.post",
        json!({"url": server.url("/items"), "body": "sent"}),
    );
    fail::remove("tm_settle_later");
    assert_eq!(
        *seen.lock().unwrap(),
        [0],
        "the POST went out with the write's files not yet synced"
    );
}

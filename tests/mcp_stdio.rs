//! `airun serve --mcp` driven by the rmcp client over a child process's stdio.

mod support;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientRequest, ErrorCode,
    InputRequest, InputResponses, ProtocolVersion,
};
use rmcp::service::PeerRequestOptions;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use support::mcp::*;

async fn start(dirs: &Dirs, client: TestClient, extra: &[&str]) -> Client {
    start_logging(dirs, client, extra, "error", Stdio::inherit()).await
}

async fn start_logging(
    dirs: &Dirs,
    client: TestClient,
    extra: &[&str],
    level: &str,
    stderr: Stdio,
) -> Client {
    let mut args = vec!["serve", "--mcp", "--log-level", level];
    args.extend_from_slice(extra);
    let (transport, _) = TokioChildProcess::builder(dirs.command(&args))
        .stderr(stderr)
        .spawn()
        .expect("spawn airun");
    connect(client, transport).await
}

#[tokio::test]
async fn lists_every_catalog_tool_with_annotations() {
    let dirs = Dirs::new();
    let client = start(&dirs, TestClient::new(Answer::NoElicitation), &[]).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    check_tool_list(&tools);
    client.cancel().await.ok();
}

#[tokio::test]
async fn lists_tools_on_protocol_2026_07_28() {
    let dirs = Dirs::new();
    let client = start(&dirs, TestClient::new(Answer::NoElicitation).modern(), &[]).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    check_tool_list(&tools);
    client.cancel().await.ok();
}

/// One capability of each side-effect class; structuredContent checked against the
/// outputSchema. The write is confirmed through elicitation.
async fn each_side_effect_class(client: TestClient) {
    let dirs = Dirs::new();
    std::fs::write(dirs.path("hello.txt"), "hello\nworld\n").unwrap();
    let client = start(&dirs, client, &[]).await;
    let tools = client.list_all_tools().await.unwrap();

    // read_only
    let r = call(
        &client,
        "data_json_parse",
        json!({"text": "{\"a\": [1, 2]}"}),
    )
    .await;
    let v = ok_structured(&tools, "data_json_parse", &r);
    assert_eq!(v["value"], json!({"a": [1, 2]}));

    // filesystem_read
    let r = call(&client, "io_fs_read_file", json!({"path": "hello.txt"})).await;
    let v = ok_structured(&tools, "io_fs_read_file", &r);
    assert!(v.to_string().contains("hello"), "{v}");

    // filesystem_write, confirmed by the user
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "out/new.txt", "content": "s3cret text", "create_dirs": true}),
    )
    .await;
    ok_structured(&tools, "io_fs_write_file", &r);
    assert_eq!(
        std::fs::read_to_string(dirs.path("out/new.txt")).unwrap(),
        "s3cret text"
    );

    // system_read
    let r = call(&client, "sys_info_get_os", json!({})).await;
    let v = ok_structured(&tools, "sys_info_get_os", &r);
    assert!(v.is_object());

    // The person was asked once, about the write, with the sensitive content hidden.
    let asked = client.service().asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].contains("io.fs.write_file"), "{}", asked[0]);
    assert!(asked[0].contains("out/new.txt"), "{}", asked[0]);
    assert!(
        !asked[0].contains("s3cret"),
        "the prompt shows a sensitive input: {}",
        asked[0]
    );
    assert!(asked[0].contains("undo"), "{}", asked[0]);
    client.cancel().await.ok();
}

#[tokio::test]
async fn calls_each_side_effect_class_with_elicitation() {
    each_side_effect_class(TestClient::new(Answer::Accept)).await;
}

#[tokio::test]
async fn calls_each_side_effect_class_on_protocol_2025_06_18() {
    each_side_effect_class(TestClient::new(Answer::Accept).version(ProtocolVersion::V_2025_06_18))
        .await;
}

#[tokio::test]
async fn calls_each_side_effect_class_on_protocol_2026_07_28() {
    // Confirmation through the input_required result with a sealed requestState.
    each_side_effect_class(TestClient::new(Answer::Accept).modern()).await;
}

async fn write_with(
    client: TestClient,
    extra: &[&str],
) -> (Dirs, rmcp::model::CallToolResult, Vec<String>) {
    let dirs = Dirs::new();
    let client = start(&dirs, client, extra).await;
    let r = call(
        &client,
        "io_fs_write_file",
        json!({"path": "a.txt", "content": "x"}),
    )
    .await;
    let asked = client.service().asked();
    client.cancel().await.ok();
    (dirs, r, asked)
}

#[tokio::test]
async fn elicitation_decline_and_cancel_write_nothing() {
    for client in [
        TestClient::new(Answer::Decline),
        TestClient::new(Answer::Cancel),
        TestClient::new(Answer::Decline).modern(),
        TestClient::new(Answer::Cancel).modern(),
    ] {
        let version = client.version.clone();
        let (dirs, r, asked) = write_with(client, &[]).await;
        let t = is_error(&r);
        assert!(t.contains("declined by the user"), "{version:?}: {t}");
        assert_eq!(asked.len(), 1, "{version:?}");
        assert!(
            !dirs.path("a.txt").exists(),
            "{version:?}: a declined write wrote the file"
        );
    }
}

#[tokio::test]
async fn elicitation_accept_writes_the_file() {
    for client in [
        TestClient::new(Answer::Accept),
        TestClient::new(Answer::Accept).modern(),
    ] {
        let (dirs, r, asked) = write_with(client, &[]).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        assert_eq!(asked.len(), 1);
        assert_eq!(std::fs::read_to_string(dirs.path("a.txt")).unwrap(), "x");
    }
}

/// Protocol 2026-07-28, one round at a time: the first call returns `input_required` with
/// the elicitation and a sealed state; only an accepted answer with that state, for the
/// same arguments, runs the call, and only once.
#[tokio::test]
async fn input_required_state_is_sealed_bound_and_single_use() {
    let dirs = Dirs::new();
    let client = start(&dirs, TestClient::new(Answer::Accept).modern(), &[]).await;
    let args = json!({"path": "m.txt", "content": "hidden words"});
    let serde_json::Value::Object(args) = args else {
        unreachable!()
    };
    let params = CallToolRequestParams::new("io_fs_write_file").with_arguments(args.clone());
    let CallToolResponse::InputRequired(ask) = client.call_tool_once(params.clone()).await.unwrap()
    else {
        panic!("expected input_required");
    };
    assert!(
        !dirs.path("m.txt").exists(),
        "nothing runs before the answer"
    );
    let requests = ask.input_requests.clone().expect("inputRequests");
    let (key, InputRequest::Elicitation(elicit)) =
        requests.into_iter().next().expect("one request")
    else {
        panic!("expected an elicitation");
    };
    let shown = serde_json::to_string(&elicit.params).unwrap();
    assert!(
        shown.contains("io.fs.write_file") && !shown.contains("hidden words"),
        "{shown}"
    );
    let state = ask.request_state.clone().expect("requestState");
    let mut accept = InputResponses::new();
    accept.insert(key.clone(), json!({"action": "accept", "content": {}}));
    let retry = |state: &str, args: serde_json::Map<String, serde_json::Value>| {
        CallToolRequestParams::new("io_fs_write_file")
            .with_arguments(args)
            .with_input_responses(accept.clone())
            .with_request_state(state.to_string())
    };

    // A forged state is refused.
    let last = if state.ends_with('A') { "B" } else { "A" };
    let forged = format!("{}{last}", &state[..state.len() - 1]);
    let r = complete(
        client
            .call_tool_once(retry(&forged, args.clone()))
            .await
            .unwrap(),
    );
    assert!(is_error(&r).contains("confirmation state"), "{}", text(&r));
    // The state does not approve other arguments.
    let mut other = args.clone();
    other.insert("path".into(), json!("other.txt"));
    let r = complete(client.call_tool_once(retry(&state, other)).await.unwrap());
    assert!(is_error(&r).contains("confirmation state"));
    assert!(!dirs.path("other.txt").exists());
    // The right answer runs the call once.
    let r = complete(
        client
            .call_tool_once(retry(&state, args.clone()))
            .await
            .unwrap(),
    );
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(
        std::fs::read_to_string(dirs.path("m.txt")).unwrap(),
        "hidden words"
    );
    // A replay is refused.
    let r = complete(
        client
            .call_tool_once(retry(&state, args.clone()))
            .await
            .unwrap(),
    );
    assert!(is_error(&r).contains("already used"), "{}", text(&r));
    client.cancel().await.ok();
}

fn complete(r: CallToolResponse) -> rmcp::model::CallToolResult {
    match r {
        CallToolResponse::Complete(r) => r,
        other => panic!("expected a complete result, got {other:?}"),
    }
}

#[tokio::test]
async fn client_without_elicitation_is_refused_with_operator_hint() {
    for client in [
        TestClient::new(Answer::NoElicitation),
        TestClient::new(Answer::NoElicitation).modern(),
    ] {
        let (dirs, r, _) = write_with(client, &[]).await;
        let t = is_error(&r);
        assert!(t.contains("--yes"), "{t}");
        assert!(t.contains("auto_approve"), "{t}");
        assert!(!dirs.path("a.txt").exists());
    }
}

#[tokio::test]
async fn serve_yes_approves_as_the_operator() {
    let (dirs, r, asked) = write_with(TestClient::new(Answer::Decline), &["--yes"]).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(asked.is_empty(), "--yes must not ask");
    assert!(dirs.path("a.txt").exists());
}

#[tokio::test]
async fn unknown_tool_is_invalid_params() {
    let dirs = Dirs::new();
    let client = start(&dirs, TestClient::new(Answer::NoElicitation), &[]).await;
    let err = client
        .call_tool(CallToolRequestParams::new("io_fs_read_fil"))
        .await
        .expect_err("an unknown tool is a protocol error");
    match err {
        rmcp::ServiceError::McpError(e) => {
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
            assert!(e.message.contains("io_fs_read_fil"), "{}", e.message);
        }
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn bad_arguments_name_the_field() {
    let dirs = Dirs::new();
    let client = start(&dirs, TestClient::new(Answer::Accept), &[]).await;
    // Wrong type.
    let t = is_error(&call(&client, "io_fs_read_file", json!({"path": 42})).await);
    assert!(t.contains("path"), "{t}");
    // Missing required input.
    let t = is_error(&call(&client, "data_json_parse", json!({})).await);
    assert!(t.contains("text"), "{t}");
    // A path outside the workspace.
    let t = is_error(&call(&client, "io_fs_read_file", json!({"path": "../etc/passwd"})).await);
    assert!(t.contains("path"), "{t}");
    // A confirmation flag in the model's arguments is an unknown input, never an approval.
    let t = is_error(
        &call(
            &client,
            "io_fs_write_file",
            json!({"path": "a.txt", "content": "x", "confirm": true}),
        )
        .await,
    );
    assert!(t.contains("confirm"), "{t}");
    assert!(!dirs.path("a.txt").exists());
    assert!(
        client.service().asked().is_empty(),
        "invalid calls must not ask the user"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn progress_notifications_for_a_long_copy() {
    let dirs = Dirs::new();
    make_tree(&dirs.path("src"), 300);
    let client = start(&dirs, TestClient::new(Answer::NoElicitation), &[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let r = call(
        &client,
        "io_fs_copy",
        json!({"source": "src", "destination": "dst"}),
    )
    .await;
    let v = ok_structured(&tools, "io_fs_copy", &r);
    assert_eq!(v["files"], json!(300));
    let progress = client.service().progress.lock().unwrap().clone();
    assert!(
        !progress.is_empty(),
        "no progress notification for a 300-file copy"
    );
    assert!(progress.iter().all(|p| p.total.is_some()));
    assert_eq!(count_files(&dirs.path("dst")), 300);
    client.cancel().await.ok();
}

#[tokio::test]
async fn progress_notifications_for_a_long_search() {
    let dirs = Dirs::new();
    make_tree(&dirs.path("src"), 1000);
    let client = start(&dirs, TestClient::new(Answer::NoElicitation), &[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let r = call(
        &client,
        "io_fs_search",
        json!({"path": "src", "content": "file 99\\b", "regex": true}),
    )
    .await;
    let v = ok_structured(&tools, "io_fs_search", &r);
    assert_eq!(v["files_scanned"], json!(1000), "{v}");
    let progress = client.service().progress.lock().unwrap().clone();
    // 1,010 entries (10 folders): reports every 256, with no total (it is unknown until
    // the walk ends), each above the last as MCP requires (reports from the parallel walk
    // that arrive late are dropped, so at least one is sent).
    assert!(
        !progress.is_empty(),
        "no progress notification for a 1,000-file search"
    );
    assert!(progress.iter().all(|p| p.total.is_none()), "{progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0].progress < w[1].progress),
        "{progress:?}"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn cancellation_stops_a_long_copy() {
    let dirs = Dirs::new();
    let total = 4000;
    make_tree(&dirs.path("src"), total);
    let mut handler = TestClient::new(Answer::NoElicitation);
    let mut progress = handler.watch_progress();
    let log_path = dirs.home.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let client = start_logging(&dirs, handler, &[], "info", Stdio::from(log)).await;
    let args = json!({"source": "src", "destination": "dst"});
    let serde_json::Value::Object(args) = args else {
        unreachable!()
    };
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new("io_fs_copy").with_arguments(args),
    ));
    let handle = client
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .expect("send");
    // The copy has started once the first progress notification arrives.
    tokio::time::timeout(Duration::from_secs(30), progress.recv())
        .await
        .expect("a progress notification")
        .expect("progress channel open");
    handle
        .cancel(Some("test cancels".into()))
        .await
        .expect("cancel");
    // Wait until the copy stops changing the destination.
    let mut last = usize::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = count_files(&dirs.path("dst"));
        if now == last {
            break;
        }
        last = now;
    }
    assert!(
        last < total,
        "the copy ran to the end ({last} files) despite the cancellation"
    );
    // The handler stopped with `cancelled` (the server logs every call's outcome).
    let mut logged = String::new();
    for _ in 0..50 {
        logged = std::fs::read_to_string(&log_path).unwrap_or_default();
        if logged.contains("io_fs_copy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = logged
        .lines()
        .find(|l| l.contains("tools/call") && l.contains("io_fs_copy"));
    assert!(line.is_some_and(|l| l.contains("outcome=\"cancelled\"") || l.contains("outcome=cancelled")), "{logged}");
    // The server is still serving.
    let r = call(&client, "data_json_parse", json!({"text": "1"})).await;
    assert_eq!(r.is_error, Some(false));
    client.cancel().await.ok();
}

/// A result past the streaming threshold goes out whole and in order: the same content
/// as the file, the text rendering equal to the structured content, and the calls before
/// and after it answered intact.
#[tokio::test]
async fn a_large_result_is_streamed_whole_and_in_order() {
    let dirs = Dirs::new();
    let line = "a line with \"quotes\", a tab\tand unicode \u{e9}\u{4e16}\n";
    let big: String = line.repeat((3 << 20) / line.len());
    assert!(big.len() > airun::adapters::mcp::stdio::STREAM_FROM);
    std::fs::write(dirs.path("big.txt"), &big).unwrap();
    std::fs::write(dirs.path("small.txt"), "small\n").unwrap();
    let client = start(&dirs, TestClient::new(Answer::NoElicitation), &[]).await;
    let tools = client.list_all_tools().await.unwrap();

    let (before, large, after) = tokio::join!(
        call(&client, "io_fs_read_file", json!({"path": "small.txt"})),
        call(
            &client,
            "io_fs_read_file",
            json!({"path": "big.txt", "limit_bytes": 8 << 20})
        ),
        call(&client, "io_fs_read_file", json!({"path": "small.txt"})),
    );
    let v = ok_structured(&tools, "io_fs_read_file", &large);
    assert_eq!(v["content"].as_str().map(str::len), Some(big.len()));
    assert!(v["content"] == big.as_str(), "the streamed content differs");
    for r in [before, after] {
        let v = ok_structured(&tools, "io_fs_read_file", &r);
        assert_eq!(v["content"], "small\n");
    }
    client.cancel().await.ok();
}

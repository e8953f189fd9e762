//! `GET /events` over real HTTP on loopback, fed by a real pipeline with its SQLite
//! journal and audit log: every viewer sees every call's events in order, a viewer that
//! reconnects with `Last-Event-ID` gets exactly what it missed, and one that fell too far
//! behind is told how many events are gone.

mod support;

use airun::pipeline::{FlagConfirmer, NoConfirmer, UndoRequest};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::console::{Console, Message};

fn kinds(ms: &[Message]) -> Vec<&str> {
    ms.iter().map(|m| m.event.as_str()).collect()
}

fn ids(ms: &[Message]) -> Vec<u64> {
    ms.iter().map(|m| m.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_and_its_undo_arrive_in_order_on_two_viewers() {
    let c = Console::start(1024, Duration::from_secs(5)).await;
    let mut a = c.viewer(None, 1).await;
    let mut b = c.viewer(None, 2).await;
    let out = c
        .call(
            "io.fs.write_file",
            json!({"path": "notes.txt", "content": "secret words"}),
            Arc::new(FlagConfirmer),
        )
        .await
        .unwrap()
        .expect("the write succeeds");
    assert_eq!(
        std::fs::read_to_string(c.root.join("notes.txt")).unwrap(),
        "secret words"
    );
    let server = c.server.clone();
    let undone = tokio::task::spawn_blocking(move || {
        server.pipeline().undo(UndoRequest {
            steps: 1,
            ..UndoRequest::default()
        })
    })
    .await
    .unwrap()
    .expect("the undo succeeds");
    assert_eq!(undone.len(), 1);
    assert!(
        !c.root.join("notes.txt").exists(),
        "the undo removed the file"
    );

    let seen_a = a.take(3).await;
    let seen_b = b.take(3).await;
    assert_eq!(kinds(&seen_a), ["requested", "finished", "undone"], "{out}");
    assert_eq!(
        ids(&seen_a),
        ids(&seen_b),
        "both viewers see the same events"
    );
    assert_eq!(kinds(&seen_b), kinds(&seen_a));
    let id = ids(&seen_a);
    assert!(
        id.windows(2).all(|w| w[1] == w[0] + 1),
        "ids grow by one: {id:?}"
    );
    let (req, fin, und) = (&seen_a[0].data, &seen_a[1].data, &seen_a[2].data);
    assert_eq!(req["capability"], "io.fs.write_file");
    assert_eq!(req["id"], seen_a[0].id, "the data carries the SSE id");
    assert_eq!(req["call"], fin["call"], "one call id ties a call's events");
    // The content is a sensitive input: never shown.
    assert_eq!(req["params"]["content"], "<redacted>");
    assert_eq!(req["params"]["path"], "notes.txt");
    assert_eq!(fin["outcome"], "ok");
    assert_eq!(fin["detail"]["decision"], "approved_by_flag");
    let op = fin["op"].as_i64().expect("a write has an operation id");
    assert_eq!(und["op"], op, "the undone event names the operation");
    assert!(req["time"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_invalid_calls_are_denied_and_failed_events() {
    let c = Console::start(1024, Duration::from_secs(5)).await;
    let mut v = c.viewer(None, 1).await;
    let escaped = c
        .call(
            "io.fs.write_file",
            json!({"path": "../outside.txt", "content": "x"}),
            Arc::new(FlagConfirmer),
        )
        .await
        .unwrap();
    assert!(escaped.is_err());
    let declined = c
        .call(
            "io.fs.write_file",
            json!({"path": "a.txt", "content": "x"}),
            Arc::new(NoConfirmer),
        )
        .await
        .unwrap();
    assert!(declined.is_err());
    let invalid = c
        .call(
            "io.fs.write_file",
            json!({"path": 3}),
            Arc::new(FlagConfirmer),
        )
        .await
        .unwrap();
    assert!(invalid.is_err());
    let seen = v.take(4).await;
    assert_eq!(kinds(&seen), ["denied", "requested", "denied", "failed"]);
    assert_eq!(seen[0].data["outcome"], "denied_sandbox");
    assert_eq!(seen[2].data["outcome"], "declined");
    assert_eq!(seen[3].data["outcome"], "invalid_input");
    assert!(!c.root.join("a.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_with_exactly_the_missed_events() {
    let c = Console::start(1024, Duration::from_secs(5)).await;
    let write = |n: u32| {
        c.call(
            "io.fs.write_file",
            json!({"path": format!("f{n}.txt"), "content": "x"}),
            Arc::new(FlagConfirmer),
        )
    };
    let mut v = c.viewer(None, 1).await;
    write(1).await.unwrap().unwrap();
    let first = v.take(2).await;
    let last = first[1].id;
    drop(v);
    // Two calls while nobody watches.
    write(2).await.unwrap().unwrap();
    write(3).await.unwrap().unwrap();
    let mut v = c.viewer(Some(last), 1).await;
    let missed = v.take(4).await;
    assert_eq!(ids(&missed), (last + 1..=last + 4).collect::<Vec<_>>());
    assert_eq!(
        kinds(&missed),
        ["requested", "finished", "requested", "finished"]
    );
    assert_eq!(missed[0].data["params"]["path"], "f2.txt");
    assert_eq!(missed[2].data["params"]["path"], "f3.txt");
    // Then the live stream, without a repeat.
    write(4).await.unwrap().unwrap();
    let live = v.next().await;
    assert_eq!(live.id, last + 5);
    assert_eq!(live.data["params"]["path"], "f4.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_beyond_the_ring_is_told_how_many_it_missed() {
    let c = Console::start(16, Duration::from_secs(5)).await;
    for n in 0..12 {
        c.call(
            "io.fs.write_file",
            json!({"path": format!("f{n}.txt"), "content": "x"}),
            Arc::new(FlagConfirmer),
        )
        .await
        .unwrap()
        .unwrap();
    }
    // 24 events; the ring keeps the last 16 (ids 9..=24).
    let mut v = c.viewer(Some(2), 1).await;
    let missed = v.next().await;
    assert_eq!(missed.event, "missed");
    assert_eq!(missed.data["detail"]["missed"], 6, "events 3..=8 are gone");
    let rest = v.take(16).await;
    assert_eq!(ids(&rest), (9..=24).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_call_reports_progress_between_request_and_finish() {
    let c = Console::start(1024, Duration::from_secs(5)).await;
    std::fs::create_dir_all(c.root.join("src")).unwrap();
    for n in 0..20 {
        std::fs::write(c.root.join(format!("src/f{n}.txt")), "some text\n").unwrap();
    }
    let mut v = c.viewer(None, 1).await;
    c.call(
        "sys.archive.zip",
        json!({"sources": ["src"], "output": "src.zip"}),
        Arc::new(FlagConfirmer),
    )
    .await
    .unwrap()
    .expect("the zip is written");
    let mut seen = vec![v.next().await];
    while seen.last().unwrap().event != "finished" {
        seen.push(v.next().await);
    }
    let k = kinds(&seen);
    assert_eq!(k.first(), Some(&"requested"));
    let progress: Vec<&Message> = seen.iter().filter(|m| m.event == "progress").collect();
    assert!(!progress.is_empty(), "no progress event among {k:?}");
    assert_eq!(k.len(), progress.len() + 2, "{k:?}");
    let last = &progress.last().unwrap().data["detail"];
    assert_eq!(
        last["message"], "packed",
        "the final report always goes out"
    );
    assert_eq!(last["done"], last["total"]);
    assert!(seen.iter().all(|m| m.data["call"] == seen[0].data["call"]));
}

//! Several workspace roots over MCP, with the rmcp client and the official Python SDK: the
//! server's instructions name the roots, reads work in every root, changes in a read-only
//! root are refused with nothing changed, writes in a second writable root land there,
//! and a client's roots narrow every configured root, never widen any.

// Roots are deprecated from protocol revision 2026-07-28 on; clients of earlier
// revisions still send them.
#![allow(deprecated)]

mod support;

use rmcp::RoleClient;
use rmcp::service::RunningService;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use support::mcp::{AIRUN, Dirs, RootsClient, call, file_uri, serve_with_roots, text};
use support::snapshot::Snapshot;

/// `<tmp>/ws` (first root, from [`Dirs`]), `<tmp>/data` (writable), `<tmp>/docs`
/// (read-only), with a file in each.
struct Roots {
    dirs: Dirs,
    data: PathBuf,
    docs: PathBuf,
}

impl Roots {
    fn new() -> Roots {
        let dirs = Dirs::new();
        let base = dirs.ws.parent().unwrap().canonicalize().unwrap();
        let data = base.join("data");
        let docs = base.join("docs");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(dirs.ws.join("main.txt"), "main\n").unwrap();
        std::fs::write(data.join("table.csv"), "a,b\n").unwrap();
        std::fs::write(docs.join("intro.md"), "# Intro\n").unwrap();
        Roots { dirs, data, docs }
    }

    /// `--workspace <data> --workspace <docs>:ro` (the first root comes from [`Dirs`]).
    fn args(&self) -> Vec<String> {
        vec![
            "--workspace".into(),
            self.data.display().to_string(),
            "--workspace".into(),
            format!("{}:ro", self.docs.display()),
        ]
    }
}

async fn start(
    r: &Roots,
    roots: Option<Arc<Mutex<Vec<String>>>>,
) -> RunningService<RoleClient, RootsClient> {
    let mut args: Vec<String> = r.args();
    args.extend(["serve", "--mcp", "--yes", "--log-level", "error"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    serve_with_roots(r.dirs.command(&args), roots).await
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn several_roots_read_write_and_refuse_over_mcp() {
    let r = Roots::new();
    let client = start(&r, None).await;
    let info = client.peer_info().expect("server info");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.contains(&format!("{} (read-only)", s(&r.docs)))
            && instructions.contains(&format!("{} (writable)", s(&r.data))),
        "{instructions}"
    );

    // Reads in every root.
    let intro = s(&r.docs.join("intro.md"));
    let res = call(&client, "io_fs_read_file", json!({"path": intro})).await;
    assert_eq!(res.is_error, Some(false), "{}", text(&res));
    assert_eq!(
        res.structured_content.as_ref().unwrap()["content"],
        "# Intro\n"
    );
    let res = call(&client, "io_fs_read_file", json!({"path": "main.txt"})).await;
    assert_eq!(
        res.structured_content.as_ref().unwrap()["content"],
        "main\n"
    );

    // A change in the read-only root: refused, nothing changed.
    let before = Snapshot::of(&r.docs);
    for (name, args) in [
        (
            "io_fs_write_file",
            json!({"path": intro, "content": "pwned"}),
        ),
        ("io_fs_delete", json!({"path": intro})),
        (
            "io_fs_write_file",
            json!({"path": s(&r.docs.join("new.md")), "content": "x"}),
        ),
    ] {
        let res = call(&client, name, args).await;
        assert_eq!(res.is_error, Some(true), "{name}: {}", text(&res));
        let t = text(&res);
        assert!(
            t.contains("read-only root") && t.contains(&s(&r.docs)),
            "{t}"
        );
    }
    assert_eq!(Snapshot::of(&r.docs), before);

    // A write in the second writable root lands there and names its path absolutely.
    let table = s(&r.data.join("table.csv"));
    let res = call(
        &client,
        "io_fs_write_file",
        json!({"path": table, "content": "x,y\n"}),
    )
    .await;
    assert_eq!(res.is_error, Some(false), "{}", text(&res));
    assert_eq!(
        res.structured_content.as_ref().unwrap()["path"],
        table.as_str()
    );
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "x,y\n");

    // Escapes between roots.
    for p in [
        format!("{}/../docs/intro.md", s(&r.data)),
        "../docs/intro.md".to_string(),
        format!("{}-evil/x", s(&r.docs)),
    ] {
        let res = call(
            &client,
            "io_fs_write_file",
            json!({"path": p, "content": "x"}),
        )
        .await;
        assert_eq!(res.is_error, Some(true), "{p}: {}", text(&res));
    }
    assert_eq!(Snapshot::of(&r.docs), before);
    client.cancel().await.ok();
}

#[tokio::test]
async fn client_roots_narrow_every_configured_root() {
    let r = Roots::new();
    let roots = Arc::new(Mutex::new(vec![
        file_uri(&r.data.join("sub")),
        file_uri(&r.docs),
    ]));
    let client = start(&r, Some(roots.clone())).await;
    let write = |p: String| {
        let client = &client;
        async move {
            call(
                client,
                "io_fs_write_file",
                json!({"path": p, "content": "x"}),
            )
            .await
        }
    };
    let res = write(s(&r.data.join("sub/in.txt"))).await;
    assert_eq!(res.is_error, Some(false), "{}", text(&res));
    for p in [s(&r.data.join("out.txt")), "top.txt".to_string()] {
        let res = write(p.clone()).await;
        assert!(
            text(&res).contains("outside the folders this client gave as its roots"),
            "{p}: {}",
            text(&res)
        );
    }
    assert!(!r.data.join("out.txt").exists() && !r.dirs.ws.join("top.txt").exists());
    // The read-only root stays read-only for a client that names it.
    let intro = s(&r.docs.join("intro.md"));
    let res = call(&client, "io_fs_read_file", json!({"path": intro})).await;
    assert_eq!(res.is_error, Some(false), "{}", text(&res));
    let res = write(intro).await;
    assert!(text(&res).contains("read-only root"), "{}", text(&res));

    // A client root holding a configured root keeps that root whole.
    *roots.lock().unwrap() = vec![file_uri(&r.dirs.ws)];
    client
        .notify_roots_list_changed()
        .await
        .expect("notifications/roots/list_changed");
    let res = write("top.txt".to_string()).await;
    assert_eq!(res.is_error, Some(false), "{}", text(&res));
    let res = write(s(&r.data.join("out.txt"))).await;
    assert_eq!(
        res.is_error,
        Some(true),
        "the data root is not among the client's"
    );
    client.cancel().await.ok();
}

#[test]
fn python_sdk_uses_several_roots() {
    let py = support::python::python();
    let r = Roots::new();
    let out = Command::new(py)
        .arg(support::python::script("sdk_roots.py"))
        .arg(AIRUN)
        .arg(&r.dirs.ws)
        .arg(&r.data)
        .arg(&r.docs)
        .arg(&r.dirs.home)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python sdk failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(r.data.join("from-python.txt")).unwrap(),
        "py"
    );
    assert_eq!(
        std::fs::read_to_string(r.docs.join("intro.md")).unwrap(),
        "# Intro\n"
    );
}

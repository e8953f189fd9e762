//! `io.fs.search`: names, content, filters, paging with the cursor, and the walk's safety
//! (symlink loops, links out of the workspace, airun's state folder).

mod support;

use airun::ErrorKind;
use airun::pipeline::Settings;
use serde_json::{Value, json};
use support::pipeline::Fixture;
use support::within;

fn search(f: &Fixture, args: Value) -> Value {
    f.ok("io.fs.search", args)
}

fn paths(r: &Value) -> Vec<String> {
    r["matches"]
        .as_array()
        .unwrap_or_else(|| panic!("no matches array in {r}"))
        .iter()
        .map(|m| m["path"].as_str().expect("path").to_string())
        .collect()
}

fn lines(r: &Value) -> Vec<(String, i64)> {
    r["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| {
            (
                m["path"].as_str().expect("path").to_string(),
                m["line"].as_i64().expect("line"),
            )
        })
        .collect()
}

fn tree() -> Fixture {
    let f = Fixture::new();
    f.write("README.md", "# Project\nsee src/lib.rs\n");
    f.write(
        "src/lib.rs",
        "pub fn alpha() {}\n// TODO: beta\npub fn gamma() {}\n",
    );
    f.write("src/main.rs", "fn main() {\n    alpha();\n}\n");
    f.write(
        "src/deep/mod.rs",
        "// nothing to see\nconst ALPHA: u8 = 1;\n",
    );
    f.write("docs/guide.md", "Alpha and alpha.\n");
    f
}

#[test]
fn name_glob_without_a_slash_matches_file_names_anywhere() {
    let f = tree();
    let r = search(&f, json!({"name_glob": "*.rs"}));
    assert_eq!(paths(&r), ["src/deep/mod.rs", "src/lib.rs", "src/main.rs"]);
    assert!(!r["truncated"].as_bool().expect("truncated"));
    assert!(r.get("next_cursor").is_none_or(Value::is_null));
    let m = &r["matches"][0];
    assert_eq!(m["kind"], "file");
    assert!(
        m.get("line").is_none_or(Value::is_null),
        "name matches have no line: {m}"
    );
}

#[test]
fn name_glob_with_a_slash_matches_paths_below_the_search_folder() {
    let f = tree();
    let r = search(&f, json!({"path": "src", "name_glob": "deep/*.rs"}));
    assert_eq!(
        paths(&r),
        ["src/deep/mod.rs"],
        "paths stay workspace-relative"
    );
    let r = search(&f, json!({"path": "src", "name_glob": "**/m*.rs"}));
    assert_eq!(paths(&r), ["src/deep/mod.rs", "src/main.rs"]);
    // `*` does not cross folders.
    let r = search(&f, json!({"name_glob": "src/*.rs"}));
    assert_eq!(paths(&r), ["src/lib.rs", "src/main.rs"]);
    // Folders match too.
    let r = search(&f, json!({"name_glob": "deep"}));
    assert_eq!(paths(&r), ["src/deep"]);
    assert_eq!(r["matches"][0]["kind"], "dir");
}

#[test]
fn content_search_gives_path_line_column_and_text() {
    let f = tree();
    let r = search(&f, json!({"content": "alpha"}));
    assert_eq!(
        lines(&r),
        [
            ("docs/guide.md".to_string(), 1),
            ("src/lib.rs".to_string(), 1),
            ("src/main.rs".to_string(), 2)
        ]
    );
    let m = &r["matches"][2];
    assert_eq!(m["column"], 5, "{m}");
    assert_eq!(m["text"], "    alpha();");
    assert_eq!(m["kind"], "file");
    assert_eq!(r["files_scanned"], 5);
    // The guide's first match is the second word: column counts characters.
    assert_eq!(r["matches"][0]["column"], 11);
}

#[test]
fn case_insensitive_and_combined_with_a_name_glob() {
    let f = tree();
    let r = search(
        &f,
        json!({"content": "ALPHA", "case_sensitive": false, "name_glob": "*.rs"}),
    );
    assert_eq!(
        lines(&r),
        [
            ("src/deep/mod.rs".to_string(), 2),
            ("src/lib.rs".to_string(), 1),
            ("src/main.rs".to_string(), 2)
        ]
    );
    assert_eq!(
        r["files_scanned"], 3,
        "only the files that passed the glob are searched"
    );
}

#[test]
fn plain_text_is_literal_and_regex_is_opt_in() {
    let f = Fixture::new();
    f.write("a.txt", "a.c\nabc\n(x)\n");
    let r = search(&f, json!({"content": "a.c"}));
    assert_eq!(lines(&r), [("a.txt".to_string(), 1)]);
    let r = search(&f, json!({"content": "a.c", "regex": true}));
    assert_eq!(
        lines(&r),
        [("a.txt".to_string(), 1), ("a.txt".to_string(), 2)]
    );
    let r = search(&f, json!({"content": "(x)"}));
    assert_eq!(lines(&r), [("a.txt".to_string(), 3)]);
    let e = f.err_kind(
        "io.fs.search",
        json!({"content": "(x", "regex": true}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("content"));
    assert!(e.hint.is_some());
    let e = f.err_kind(
        "io.fs.search",
        json!({"name_glob": "a[.txt"}),
        ErrorKind::InvalidInput,
    );
    assert_eq!(e.field.as_deref(), Some("name_glob"));
}

#[test]
fn context_lines_come_with_each_match() {
    let f = Fixture::new();
    f.write(
        "c.txt",
        "one\ntwo\nthree MATCH\nfour\nfive\nsix MATCH\nseven\n",
    );
    let r = search(&f, json!({"content": "MATCH", "context_lines": 1}));
    let m = &r["matches"];
    assert_eq!(m[0]["line"], 3);
    assert_eq!(m[0]["context_before"], json!(["two"]));
    assert_eq!(m[0]["context_after"], json!(["four"]));
    assert_eq!(m[1]["line"], 6);
    assert_eq!(m[1]["context_before"], json!(["five"]));
    assert_eq!(m[1]["context_after"], json!(["seven"]));
    // Overlapping context: a line between two matches is context of both.
    let r = search(&f, json!({"content": "MATCH", "context_lines": 2}));
    let m = &r["matches"];
    assert_eq!(m[0]["context_after"], json!(["four", "five"]));
    assert_eq!(m[1]["context_before"], json!(["four", "five"]));
    // Without context_lines there are no context fields.
    let r = search(&f, json!({"content": "MATCH"}));
    assert!(
        r["matches"][0]
            .get("context_before")
            .is_none_or(Value::is_null)
    );
}

#[test]
fn hidden_entries_git_and_gitignored_files_are_skipped_unless_asked() {
    let f = Fixture::new();
    f.write("visible.txt", "needle\n");
    f.write(".hidden.txt", "needle\n");
    f.write(".git/config.txt", "needle\n");
    f.write("build/out.txt", "needle\n");
    f.write("sub/.gitignore", "local.txt\n");
    f.write("sub/local.txt", "needle\n");
    f.write("sub/kept.txt", "needle\n");
    f.write("sub/debug.log", "needle\n");
    f.write(".gitignore", "build/\n*.log\n");
    let r = search(&f, json!({"content": "needle"}));
    assert_eq!(paths(&r), ["sub/kept.txt", "visible.txt"]);
    let r = search(&f, json!({"content": "needle", "include_hidden": true}));
    assert_eq!(
        paths(&r),
        [".hidden.txt", "sub/kept.txt", "visible.txt"],
        ".git stays skipped"
    );
    let r = search(&f, json!({"content": "needle", "respect_gitignore": false}));
    assert_eq!(
        paths(&r),
        [
            "build/out.txt",
            "sub/debug.log",
            "sub/kept.txt",
            "sub/local.txt",
            "visible.txt"
        ]
    );
    // Searching a sub-folder still applies the ignore files above it, inside the workspace.
    let r = search(&f, json!({"path": "sub", "content": "needle"}));
    assert_eq!(paths(&r), ["sub/kept.txt"]);
    // A folder asked for by name is searched even when it is ignored.
    let r = search(&f, json!({"path": "build", "content": "needle"}));
    assert_eq!(paths(&r), ["build/out.txt"]);
}

#[test]
fn binary_files_are_skipped() {
    let f = Fixture::new();
    f.write("text.txt", "needle\n");
    f.write("blob.bin", b"needle\n\x00\x01\x02needle\n");
    let r = search(&f, json!({"content": "needle"}));
    assert_eq!(paths(&r), ["text.txt"]);
    // By name, a binary file is found like any other.
    let r = search(&f, json!({"name_glob": "*.bin"}));
    assert_eq!(paths(&r), ["blob.bin"]);
}

#[test]
fn paging_with_the_cursor_returns_every_match_once_in_order() {
    let f = Fixture::new();
    for n in 0..12 {
        f.write(
            &format!("d{}/f{n:02}.txt", n % 3),
            "x needle\nnothing\nneedle again\n",
        );
    }
    let full = search(&f, json!({"content": "needle", "max_results": 10_000}));
    let all = lines(&full);
    assert_eq!(all.len(), 24);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "results are sorted by path and line");

    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"content": "needle", "max_results": 5});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let r = search(&f, args);
        pages += 1;
        let page = lines(&r);
        assert!(page.len() <= 5);
        got.extend(page);
        if !r["truncated"].as_bool().expect("truncated") {
            assert!(r.get("next_cursor").is_none_or(Value::is_null));
            break;
        }
        cursor = Some(r["next_cursor"].as_str().expect("next_cursor").to_string());
        assert!(pages < 20);
    }
    assert_eq!(pages, 5);
    assert_eq!(got, all, "pages put together are the full result");

    // Name search pages the same way.
    let r = search(&f, json!({"name_glob": "*.txt", "max_results": 7}));
    assert_eq!(paths(&r).len(), 7);
    let r2 = search(
        &f,
        json!({"name_glob": "*.txt", "cursor": r["next_cursor"]}),
    );
    assert_eq!(paths(&r2).len(), 5);
    assert!(paths(&r2)[0] > paths(&r)[6]);
}

#[test]
fn a_small_page_over_many_files_is_the_true_first_page() {
    let f = Fixture::new();
    for n in 0..600 {
        f.write(&format!("t/{:02}/{n:04}.txt", n % 37), "needle\n");
    }
    let r = search(&f, json!({"content": "needle", "max_results": 4}));
    assert_eq!(
        paths(&r),
        [
            "t/00/0000.txt",
            "t/00/0037.txt",
            "t/00/0074.txt",
            "t/00/0111.txt"
        ]
    );
    assert!(r["truncated"].as_bool().expect("truncated"));
    assert_eq!(r["files_scanned"], 600);
}

#[test]
fn a_bad_cursor_is_invalid_input() {
    let f = tree();
    for bad in ["not base64 !", "bm8tbmV3bGluZQ"] {
        let e = f.err_kind(
            "io.fs.search",
            json!({"content": "alpha", "cursor": bad}),
            ErrorKind::InvalidInput,
        );
        assert_eq!(e.field.as_deref(), Some("cursor"), "{bad}");
    }
}

#[test]
fn a_symlink_loop_neither_hangs_nor_errors_and_is_not_followed() {
    let found = within(30, "search over a symlink loop", || {
        let f = Fixture::new();
        f.write("a/file.txt", "needle\n");
        f.symlink(".", "a/self");
        f.symlink("..", "a/up");
        f.symlink("../b", "a/to-b");
        f.symlink("../a", "b");
        f.symlink("loop2", "loop1");
        f.symlink("loop1", "loop2");
        let r = f.call("io.fs.search", json!({"content": "needle"}));
        let names = f.call("io.fs.search", json!({"name_glob": "*"}));
        (r.map(|v| lines(&v)), names.map(|v| paths(&v)))
    });
    assert_eq!(
        found.0.expect("no error"),
        [("a/file.txt".to_string(), 1)],
        "found once, links not followed"
    );
    assert_eq!(
        found.1.expect("no error"),
        [
            "a",
            "a/file.txt",
            "a/self",
            "a/to-b",
            "a/up",
            "b",
            "loop1",
            "loop2"
        ],
        "links are listed as links"
    );
}

#[test]
fn links_out_of_the_workspace_are_never_followed_or_read() {
    let f = Fixture::new();
    f.write("inside.txt", "TOP SECRET but mine\n");
    f.symlink(f.outside("outside"), "out-dir");
    f.symlink(f.outside("outside/secret.txt"), "out-file");
    let r = search(&f, json!({"content": "TOP SECRET"}));
    assert_eq!(paths(&r), ["inside.txt"]);
    let r = search(&f, json!({"name_glob": "secret.txt"}));
    assert_eq!(paths(&r), Vec::<String>::new());
    // Searching from a path outside is refused by the sandbox.
    f.denied(
        "io.fs.search",
        json!({"path": "../outside", "content": "TOP"}),
    );
    f.denied("io.fs.search", json!({"path": "out-dir", "content": "TOP"}));
}

#[test]
fn airuns_state_folder_is_never_searched() {
    let f = Fixture::with(Settings::default(), Some(".airun"));
    f.write(".airun/journal.txt", "needle\n");
    f.write("work.txt", "needle\n");
    let r = search(
        &f,
        json!({"content": "needle", "include_hidden": true, "respect_gitignore": false}),
    );
    assert_eq!(paths(&r), ["work.txt"]);
    f.denied(
        "io.fs.search",
        json!({"path": ".airun", "content": "needle"}),
    );
}

#[test]
fn a_single_file_can_be_searched_and_missing_paths_are_not_found() {
    let f = tree();
    let r = search(&f, json!({"path": "src/lib.rs", "content": "fn"}));
    assert_eq!(
        lines(&r),
        [("src/lib.rs".to_string(), 1), ("src/lib.rs".to_string(), 3)]
    );
    f.err_kind(
        "io.fs.search",
        json!({"path": "nope", "content": "x"}),
        ErrorKind::NotFound,
    );
}

#[test]
fn long_lines_are_cut_in_the_result() {
    let f = Fixture::new();
    f.write(
        "long.txt",
        format!("{}needle{}\n", "x".repeat(1000), "y".repeat(1000)),
    );
    let r = search(&f, json!({"content": "needle"}));
    let text = r["matches"][0]["text"].as_str().expect("text");
    assert_eq!(text.chars().count(), 401, "400 characters and an ellipsis");
    assert_eq!(r["matches"][0]["column"], 1001);
}

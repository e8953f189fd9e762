//! Golden test of the code generator: the fixture specs in `tests/fixtures/specs/` must
//! generate exactly the committed snapshot and the committed `tests/ui/fixture_caps.rs`
//! that the trybuild cases `include!`.
//!
//! After an intended change to the generated code, review and accept it with
//! `AIRUN_UPDATE_GOLDEN=1 INSTA_UPDATE=always cargo test --test codegen_golden`
//! (or `cargo insta review` for the snapshot).

use std::path::PathBuf;

/// The fixture spec folder, as shown in diagnostics.
const SPECS: &str = "tests/fixtures/specs";

/// The committed copy of the generated code the trybuild cases include.
const GOLDEN: &str = "tests/ui/fixture_caps.rs";

fn root() -> PathBuf {
    manifest_dir()
}

mod support;
use support::manifest_dir;

/// Generates the code for the fixture specs, failing with every diagnostic on a mistake.
fn generate_fixture_code() -> String {
    let files = airun_codegen::read_dir(&root().join(SPECS), SPECS)
        .expect("the fixture specs are readable");
    assert!(
        files.len() >= 2,
        "expected the fixture specs in {SPECS}, found {} files",
        files.len()
    );
    airun_codegen::generate(&files).unwrap_or_else(|diags| {
        let all: Vec<String> = diags.iter().map(ToString::to_string).collect();
        panic!("the fixture specs have mistakes:\n{}", all.join("\n"))
    })
}

#[test]
fn fixture_specs_match_the_snapshot() {
    let code = generate_fixture_code();
    insta::with_settings!({ snapshot_path => "fixtures/snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("fixture_caps", code);
    });
}

#[test]
fn fixture_specs_match_the_committed_golden_file() {
    let code = generate_fixture_code();
    let golden = root().join(GOLDEN);
    if std::env::var_os("AIRUN_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&golden, &code).expect("the golden file is writable");
        return;
    }
    let committed = std::fs::read_to_string(&golden).unwrap_or_default();
    if committed != code {
        let first = first_difference(&committed, &code);
        panic!(
            "{GOLDEN} is not what the fixture specs generate (first difference at line {first}); \
             rerun with AIRUN_UPDATE_GOLDEN=1 and review the diff"
        );
    }
}

#[test]
fn generation_is_deterministic_and_order_independent() {
    let mut files = airun_codegen::read_dir(&root().join(SPECS), SPECS)
        .expect("the fixture specs are readable");
    let forward = airun_codegen::generate(&files).expect("the fixture specs are valid");
    files.reverse();
    let backward = airun_codegen::generate(&files).expect("the fixture specs are valid");
    assert_eq!(
        forward, backward,
        "the output must not depend on the order of the spec files"
    );
}

/// The 1-based line number of the first line where `a` and `b` differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (None, None) => return n,
            (x, y) if x != y => return n,
            _ => n += 1,
        }
    }
}

//! Golden test of the code generator: the fixture specs in `tests/fixtures/specs/` must
//! generate exactly the committed `tests/ui/fixture_caps.rs`, the one stored copy of the
//! generated code, which the trybuild cases and `tests/fixture_handlers.rs` `include!`.
//!
//! After an intended change to the generated code, rewrite it with
//! `AIRUN_UPDATE_GOLDEN=1 cargo test --test codegen_golden` and review the diff.

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

#[test]
fn generated_schemas_are_parsed_once_and_never_fall_back_to_null() {
    let cap = airun::stdlib::CATALOG[0];
    let first: *const _ = cap.input_schema.object();
    let second: *const _ = cap.input_schema.object();
    assert!(std::ptr::eq(first, second), "the schema is parsed once");
    assert_eq!(cap.input_schema_json()["type"], "object");
    let broken = airun::Schema::generated("{not json");
    let panic = std::panic::catch_unwind(|| broken.object().len())
        .expect_err("a schema that is not JSON must fail, not become null");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("is not a JSON object"), "{message}");
}

//! Compile-time guarantees of the generated code, checked with trybuild against the
//! committed `tests/ui/fixture_caps.rs` (kept equal to the generator's output by
//! `tests/codegen_golden.rs`):
//!
//! - `tests/ui/fail/`: a missing handler method, and handlers calling powers their spec
//!   did not declare, do not compile.
//! - `tests/ui/pass/`: a full implementation compiles and its generated parser behaves.
//!
//! Refresh the expected compiler output with `TRYBUILD=overwrite cargo test --test trybuild`
//! and review the `.stderr` diff.

#[test]
fn generated_code_guarantees() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

//! The README's capability table is the catalog's, and its quick start is the real one.

use airun::stdlib::CATALOG;

fn readme() -> String {
    std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md")
}

mod support;
use support::manifest_dir;

#[test]
fn capability_table_matches_the_catalog() {
    let text = readme();
    let start = text
        .find("<!-- capabilities:start -->\n")
        .expect("start marker")
        + "<!-- capabilities:start -->\n".len();
    let end = text.find("<!-- capabilities:end -->").expect("end marker");
    let expected = airun::cli::render::capability_markdown(&CATALOG);
    assert_eq!(
        &text[start..end],
        expected,
        "the README's capability table drifted from the catalog: replace it with `airun list --markdown`"
    );
}

#[test]
fn quick_start_names_the_two_commands() {
    let text = readme();
    assert!(text.contains("cargo run --release -- serve --mcp"));
    assert!(text.contains("cargo test --workspace"));
    let ci = std::fs::read_to_string(manifest_dir().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("cargo test --workspace"),
        ".ci/run must run the README's test command"
    );
}

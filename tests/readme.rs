//! The README's capability table is the catalog's, and its quick start is the real one.

use airun::stdlib::CATALOG;

fn readme() -> String {
    std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md")
}

mod support;
use support::manifest_dir;

const START: &str = "<!-- capabilities:start -->\n";
const END: &str = "<!-- capabilities:end -->";

/// The README's capability table is generated: `AIRUN_BLESS=1 cargo test --test readme`
/// rewrites the block between the markers from the catalog (the same text as
/// `cargo run -- list --markdown`); without it, a stale table fails this test.
#[test]
fn capability_table_matches_the_catalog() {
    let text = readme();
    let start = text.find(START).expect("start marker") + START.len();
    let end = text.find(END).expect("end marker");
    let expected = airun::cli::render::capability_markdown(&CATALOG);
    if text[start..end] == expected {
        return;
    }
    if std::env::var_os("AIRUN_BLESS").is_some_and(|v| v == "1") {
        let updated = format!("{}{expected}{}", &text[..start], &text[end..]);
        // Through a temporary file and a rename, so the other test never reads half a file.
        let tmp = manifest_dir().join("README.md.bless");
        std::fs::write(&tmp, updated).expect("the README's folder is writable");
        std::fs::rename(&tmp, manifest_dir().join("README.md")).expect("README.md is replaceable");
        return;
    }
    panic!(
        "the README's capability table is not what the catalog gives; regenerate it with \
         `AIRUN_BLESS=1 cargo test --test readme` (it writes the output of \
         `cargo run -- list --markdown` between the markers) and review the diff"
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

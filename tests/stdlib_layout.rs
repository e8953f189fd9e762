//! The standard library's folders mirror capability ids: `a.b.verb` is the function
//! `verb` in `src/stdlib/a/b/verb.rs` (the rule stated in `src/stdlib/mod.rs`). The
//! compiler checks the function's module path; this checks the file it is written in.

use std::path::PathBuf;

/// This package's folder, as `cargo test` gives it when the test runs.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn each_capability_is_written_in_the_file_its_id_names() {
    let root = manifest_dir().join("src/stdlib");
    let mut wrong = Vec::new();
    for cap in airun::stdlib::CATALOG.iter() {
        let file = root.join(format!("{}.rs", cap.id.replace('.', "/")));
        let verb = cap.id.rsplit('.').next().unwrap_or_default();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let defines = [format!("pub fn {verb}("), format!("pub fn r#{verb}(")]
            .iter()
            .any(|f| text.contains(f.as_str()));
        if !defines {
            wrong.push(format!(
                "`{}`: expected `pub fn {verb}` in {}",
                cap.id,
                file.display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "capabilities not where their ids say:\n{}",
        wrong.join("\n")
    );
}

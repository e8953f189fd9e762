//! `airun-codegen` turns capability specs (`specs/*.yaml`) into Rust: typed params and
//! result structs, the handler trait, the exhaustive `Call` enum with its dispatch, and a
//! static catalog with MCP and OpenAI schemas.
//!
//! Build scripts use [`Builder`] (`Builder::new().specs_dir("specs").generate()`); tests call
//! [`generate`] directly.

pub mod builder;
pub mod check;
pub mod diag;
pub mod emit;
pub mod model;
pub mod named;
pub mod names;
pub mod schema;

pub use builder::{Builder, Error};
pub use diag::Diagnostic;
use std::path::Path;

/// Parses one spec file's text. `file` is the name shown in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<model::Spec, Diagnostic> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            message: plain_message(&e.without_snippet().to_string()),
        }
    })
}

/// Turns a parser message into a plain sentence without the trailing position.
fn plain_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw);
    let msg = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        return format!(
            "unknown field {}; check the spelling against specs/README.md",
            rest.replacen(", expected", " (expected", 1)
                + if rest.contains(", expected") { ")" } else { "" }
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        return format!(
            "unknown value {}",
            rest.replacen(", expected", " (expected", 1)
                + if rest.contains(", expected") { ")" } else { "" }
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((_, expected)) = rest.rsplit_once(", expected ")
    {
        return format!("wrong type: expected {}", readable_type(expected));
    }
    if let Some(rest) = msg.strip_prefix("invalid ") {
        return format!("wrong type: expected {}", readable_type(rest));
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return format!("missing field {rest}; every spec needs it");
    }
    msg.to_string()
}

fn readable_type(rust: &str) -> String {
    match rust.trim() {
        "u64" | "u32" | "i64" => "a whole number".into(),
        "f64" => "a number".into(),
        "bool" | "boolean" => "true or false".into(),
        other => other.to_string(),
    }
}

/// Parses and checks a set of specs given as `(file name shown, text)` pairs, and returns
/// the generated Rust source, or every mistake found.
pub fn generate(files: &[(String, String)]) -> Result<String, Vec<Diagnostic>> {
    let mut specs = Vec::new();
    let (types, files, mut diags) = named::split(files);
    for (file, text) in &files {
        match parse(file, text) {
            Ok(mut spec) => {
                diags.extend(named::resolve(file, &mut spec, &types));
                let stem = Path::new(file)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".yaml"))
                    .unwrap_or_default()
                    .to_string();
                diags.extend(check::check_spec(file, &stem, &spec));
                specs.push((file.clone(), spec));
            }
            Err(d) => diags.push(d),
        }
    }
    diags.extend(check::check_set(&specs));
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(emit::generate(&specs, &types))
}

/// Reads every `*.yaml` under `dir` (sorted by name). Paths in diagnostics are shown as
/// `<shown_prefix>/<file name>`.
pub fn read_dir(dir: &Path, shown_prefix: &str) -> std::io::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((
                format!("{shown_prefix}/{name}"),
                std::fs::read_to_string(&path)?,
            ));
        }
    }
    files.sort();
    Ok(files)
}

/// The whole build-script job with the default [`Builder`] reading `specs`: on mistakes
/// prints one `cargo::error` line per diagnostic and panics, which fails the build. Use
/// [`Builder`] to handle the [`Error`] yourself.
pub fn build_script(specs: &str) {
    if let Err(e) = Builder::new().specs_dir(specs).generate() {
        e.print_cargo_errors();
        panic!("{e}");
    }
}

//! The import graph among the top-level modules of `src/` runs one way:
//! cli/server -> adapters -> pipeline -> stdlib -> powers/timemachine -> hooks -> sandbox ->
//! catalog/settings -> error/types/fsutil.
//!
//! The graph is read from the source: every `crate::X`, `airun::X`, `use crate::{X, ..}`
//! and `super::` path that climbs to the crate root, in code (comments and string
//! literals do not count). A name the crate root re-exports (`crate::Env`) counts as an
//! import of the module it comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of `src/` and its layer: a module may import modules of its
/// own layer or lower ones, never higher ones. A new top-level module gets a line here.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("types", 0),
    ("failpoint", 0),
    ("fsutil", 0),
    ("catalog", 1),
    ("settings", 1),
    ("__private", 1),
    ("sandbox", 2),
    ("hooks", 3),
    ("events", 3),
    ("metrics", 4),
    ("powers", 4),
    ("timemachine", 4),
    ("users", 4),
    ("identity", 5),
    ("stdlib", 5),
    ("pipeline", 6),
    ("policy", 6),
    ("adapters", 7),
    ("server", 8),
    ("cli", 8),
];

/// One reference from a file to a top-level module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    file: String,
}

fn src_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/` (`powers/fs/walk.rs` -> `[powers, fs, walk]`,
/// `powers/mod.rs` -> `[powers]`); empty for the crate roots.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The source with comments, string and character literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}'), or a lifetime ('a).
            let end = if next == Some('\\') {
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&c| c == '\''))
                    .map(|p| i + 3 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first names of the paths a file reaches from the crate root: `crate::a::b` and
/// `airun::a` give `a`; `use crate::{a::x, b}` gives `a` and `b`; `super::super::c` from
/// `src/x/y.rs` gives `c`.
fn root_names(code: &str, depth: usize) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for prefix in ["crate::", "airun::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let rest = &code[from..];
            if let Some(group) = rest.strip_prefix('{') {
                names.extend(group_heads(group));
            } else {
                names.insert(ident_at(rest).to_string());
            }
        }
    }
    // `super::` chains long enough to reach the crate root.
    let mut from = 0;
    while let Some(at) = code[from..].find("super::") {
        let start = from + at;
        let before = code[..start].chars().next_back();
        let mut rest = &code[start..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            ups += 1;
        }
        from = code.len() - rest.len();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') || ups < depth {
            continue;
        }
        match rest.strip_prefix('{') {
            Some(group) => names.extend(group_heads(group)),
            None => {
                names.insert(ident_at(rest).to_string());
            }
        }
    }
    names.remove("");
    names
}

/// The first name of every item of a `{a::x, b, c::{..}}` group (text after the `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && (c.is_alphanumeric() || c == '_') => {
                heads.push(ident_at(&group[i..]).to_string());
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// Names the crate root re-exports, and the module each comes from (`Env` -> `powers`).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_only(lib);
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(path) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim_start_matches("crate::");
        let module = ident_at(path).to_string();
        let rest = &path[module.len()..];
        let names: Vec<String> = match rest.rfind("::{") {
            Some(at) => rest[at + 3..]
                .split([',', '}'])
                .map(|n| ident_at(n.trim()).to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            None => vec![ident_at(rest.rsplit("::").next().unwrap_or("")).to_string()],
        };
        for n in names {
            map.insert(n, module.clone());
        }
    }
    map
}

/// The import edges among top-level modules of the files `(path under src, text)`.
fn edges(files: &[(PathBuf, String)]) -> Vec<Edge> {
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(p, _)| module_path(p).first().cloned())
        .collect();
    let reexports = files
        .iter()
        .find(|(p, _)| p == Path::new("lib.rs"))
        .map(|(_, t)| root_reexports(t))
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for (path, text) in files {
        let mpath = module_path(path);
        let Some(from) = mpath.first() else {
            continue; // the crate roots (lib.rs, main.rs)
        };
        for name in root_names(&code_only(text), mpath.len()) {
            let to = if modules.contains(&name) {
                name
            } else if let Some(m) = reexports.get(&name) {
                m.clone()
            } else {
                continue;
            };
            if &to != from {
                out.insert(Edge {
                    from: from.clone(),
                    to,
                    file: path.display().to_string(),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// A cycle among the modules, as `a -> b -> a`, if there is one.
fn find_cycle(edges: &[Edge]) -> Option<String> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        graph.entry(&e.from).or_default().insert(&e.to);
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut cycle: Vec<&str> = stack[at..].to_vec();
            cycle.push(node);
            return Some(cycle.join(" -> "));
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(node, &graph, &mut stack, &mut done) {
            return Some(c);
        }
    }
    None
}

/// Every edge that points to a higher layer, one line each.
fn upward(edges: &[Edge]) -> Vec<String> {
    let layer = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l);
    edges
        .iter()
        .filter_map(|e| {
            let (from, to) = (layer(&e.from)?, layer(&e.to)?);
            (to > from).then(|| {
                format!(
                    "src/{}: `{}` (layer {from}) imports `{}` (layer {to})",
                    e.file, e.from, e.to
                )
            })
        })
        .collect()
}

fn read_src() -> Vec<(PathBuf, String)> {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    assert!(
        paths.len() > 20,
        "found only {} files under {}",
        paths.len(),
        root.display()
    );
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (
                p.strip_prefix(&root).expect("under src").to_path_buf(),
                text,
            )
        })
        .collect()
}

#[test]
fn every_top_level_module_has_a_layer() {
    let files = read_src();
    let unplaced: BTreeSet<String> = files
        .iter()
        .filter_map(|(p, _)| module_path(p).first().cloned())
        .filter(|m| !LAYERS.iter().any(|(n, _)| n == m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules with no layer: {unplaced:?}; add each to LAYERS in tests/architecture.rs"
    );
    let gone: Vec<&str> = LAYERS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| {
            !files
                .iter()
                .any(|(p, _)| module_path(p).first().is_some_and(|m| m == n))
        })
        .collect();
    assert!(
        gone.is_empty(),
        "LAYERS names modules that do not exist: {gone:?}"
    );
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let edges = edges(&read_src());
    // The graph is really read: the pipeline imports the powers, the powers the sandbox.
    for (from, to) in [
        ("pipeline", "powers"),
        ("powers", "sandbox"),
        ("cli", "pipeline"),
    ] {
        assert!(
            edges.iter().any(|e| e.from == from && e.to == to),
            "no import {from} -> {to} found; the reader is broken: {edges:#?}"
        );
    }
    if let Some(cycle) = find_cycle(&edges) {
        let files: Vec<String> = edges
            .iter()
            .filter(|e| cycle.contains(&format!("{} -> {}", e.from, e.to)))
            .map(|e| format!("  {} -> {} in src/{}", e.from, e.to, e.file))
            .collect();
        panic!(
            "import cycle among the modules of src/: {cycle}\n{}",
            files.join("\n")
        );
    }
}

#[test]
fn lower_layers_do_not_import_higher_ones() {
    let up = upward(&edges(&read_src()));
    assert!(
        up.is_empty(),
        "imports against the layering (see LAYERS in tests/architecture.rs):\n{}",
        up.join("\n")
    );
}

#[test]
fn the_checks_catch_a_back_import() {
    let file = |p: &str, t: &str| (PathBuf::from(p), t.to_string());
    let files = vec![
        file("lib.rs", "pub mod powers;\npub use powers::{Ctx, Env};\n"),
        file(
            "pipeline/mod.rs",
            "use crate::powers::Env;\nuse crate::{error::CapError, sandbox};\n",
        ),
        file("powers/mod.rs", "use crate::sandbox::Workspace;\n"),
        // A doc link, a comment and a string are not imports.
        file(
            "sandbox/mod.rs",
            "//! See [`crate::cli`].\nconst S: &str = \"crate::cli\"; // crate::cli\n",
        ),
        file("sandbox/resolve.rs", "fn f(_: &crate::Env<'_>) {}\n"),
        file("error.rs", ""),
        file("cli/mod.rs", "use airun::pipeline;\n"),
    ];
    let edges = edges(&files);
    let pairs: Vec<(&str, &str)> = edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("cli", "pipeline"),
            ("pipeline", "error"),
            ("pipeline", "powers"),
            ("pipeline", "sandbox"),
            ("powers", "sandbox"),
            ("sandbox", "powers"),
        ]
    );
    assert_eq!(
        find_cycle(&edges).as_deref(),
        Some("powers -> sandbox -> powers")
    );
    assert_eq!(
        upward(&edges),
        ["src/sandbox/resolve.rs: `sandbox` (layer 2) imports `powers` (layer 4)"]
    );
    // `super::` that climbs out of the top-level module counts; one that stays does not.
    assert_eq!(
        root_names("use super::super::cli::X; use super::sibling;", 2),
        BTreeSet::from(["cli".to_string()])
    );
}

//! Compile-time guarantees of the generated code: every case in `tests/ui/fail/` must fail
//! to compile, with exactly the errors its `.stderr` file holds (a `Handlers` impl missing a
//! method; a set routed by `route_handlers!` missing a capability's function; handlers
//! calling powers their spec did not declare, where the error names the capability's
//! marker and the side effect to declare). The generated code they
//! include is the committed `tests/ui/fixture_caps.rs`, kept equal to the generator's
//! output by `tests/codegen_golden.rs`; the same code compiling and working is
//! `tests/fixture_handlers.rs`.
//!
//! The cases are compiled by `rustc` against the `airun` library and the dependencies that
//! this `cargo test` run already built (the folder this test binary lies in), so no second
//! copy of the dependency tree is built for them. After an intended change to the messages,
//! refresh them with `AIRUN_UPDATE_UI=1 cargo test --test compile_fail` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cases, relative to the package folder.
const CASES: &str = "tests/ui/fail";

mod support;
use support::manifest_dir;

/// The folder holding this test binary and the libraries it was linked from
/// (`target/<profile>/deps`).
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    exe.parent()
        .expect("the test binary lies in a folder")
        .to_path_buf()
}

/// The compiler of the toolchain that built this test: `RUSTC` when set, else the `rustc`
/// beside the `cargo` running the tests, else `rustc` from `PATH`.
fn rustc() -> PathBuf {
    if let Some(rustc) = std::env::var_os("RUSTC") {
        return PathBuf::from(rustc);
    }
    if let Some(cargo) = std::env::var_os("CARGO") {
        let beside =
            Path::new(&cargo).with_file_name(format!("rustc{}", std::env::consts::EXE_SUFFIX));
        if beside.is_file() {
            return beside;
        }
    }
    PathBuf::from("rustc")
}

/// The `airun` rlibs in `deps`, newest first (a build with other features may have left
/// an older one beside the one this run built).
fn airun_rlibs(deps: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", deps.display()))
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libairun-") && name.ends_with(".rlib")
        })
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// A compiler bound to one `airun` rlib and the dependency folder it was built with.
struct Compiler {
    rustc: PathBuf,
    deps: PathBuf,
    airun: PathBuf,
    out: tempfile::TempDir,
}

impl Compiler {
    /// Type-checks `source` (a path relative to the package folder) as a binary crate and
    /// returns whether it compiled and what the compiler printed.
    fn check(&self, source: &Path) -> (bool, String) {
        let mut cmd = Command::new(&self.rustc);
        cmd.current_dir(manifest_dir())
            .args([
                "--edition",
                "2024",
                "--crate-type",
                "bin",
                "--emit=metadata",
            ])
            .args(["--error-format=human", "--color=never", "-A", "warnings"])
            .arg("--crate-name")
            .arg(
                source
                    .file_stem()
                    .expect("a case has a file name")
                    .to_string_lossy()
                    .replace('-', "_"),
            )
            .arg("--out-dir")
            .arg(self.out.path())
            .arg("-L")
            .arg(format!("dependency={}", self.deps.display()))
            .arg("--extern")
            .arg(format!("airun={}", self.airun.display()));
        if let Some(flags) = std::env::var_os("RUSTFLAGS") {
            cmd.args(flags.to_string_lossy().split_whitespace());
        }
        let output = cmd.arg(source).output().unwrap_or_else(|e| {
            panic!(
                "cannot run {} (the Rust compiler, needed to check that these cases do not \
                 compile): {e}",
                self.rustc.display()
            )
        });
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The first `airun` rlib (newest first) that a crate using it compiles against.
    fn find() -> Compiler {
        let deps = deps_dir();
        let rlibs = airun_rlibs(&deps);
        assert!(
            !rlibs.is_empty(),
            "no libairun-*.rlib in {}: run this test with `cargo test`",
            deps.display()
        );
        let mut out = tempfile::tempdir().expect("a temporary folder");
        let probe = out.path().join("probe.rs");
        std::fs::write(
            &probe,
            "fn main() { let _ = airun::ErrorKind::InvalidInput; }\n",
        )
        .expect("the probe is writable");
        let mut tried = Vec::new();
        for airun in rlibs {
            let compiler = Compiler {
                rustc: rustc(),
                deps: deps.clone(),
                airun,
                out,
            };
            let (ok, stderr) = compiler.check(&probe);
            if ok {
                return compiler;
            }
            tried.push(format!("{}:\n{stderr}", compiler.airun.display()));
            out = compiler.out;
        }
        panic!(
            "no airun library in {} can be used by a crate:\n{}",
            deps.display(),
            tried.join("\n")
        );
    }
}

/// What of the compiler's output a case pins down: the diagnostics, without the closing
/// summary lines (`aborting due to …`, `For more information …`) and without the
/// `note: required by a bound in …` blocks, which quote airun's own source by line number
/// (the error, its message, label and note stay pinned).
fn normalize(stderr: &str) -> String {
    let mut lines = Vec::new();
    let mut in_bound_note = false;
    for line in stderr.lines() {
        if line.starts_with("note: required by a bound in") {
            in_bound_note = true;
            continue;
        }
        if in_bound_note {
            if line.trim().is_empty() || line.starts_with("error") {
                in_bound_note = false;
            } else {
                continue;
            }
        }
        if line.starts_with("error: aborting due to")
            || line.starts_with("For more information about")
            || line.starts_with("Some errors have detailed explanations")
        {
            continue;
        }
        lines.push(line.trim_end());
    }
    let text = lines.join("\n");
    format!("{}\n", text.trim_matches('\n'))
}

#[test]
fn generated_code_refuses_what_the_spec_did_not_declare() {
    let root = manifest_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join(CASES))
        .expect("the compile-fail cases are readable")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            path.strip_prefix(&root)
                .expect("a case lies in the package")
                .to_path_buf()
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "expected the compile-fail cases in {CASES}, found {cases:?}"
    );

    let compiler = Compiler::find();
    let update = std::env::var_os("AIRUN_UPDATE_UI").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in &cases {
        let (compiled, stderr) = compiler.check(case);
        let name = case.display();
        if compiled {
            failures.push(format!("{name} compiled, but it must not"));
            continue;
        }
        let actual = normalize(&stderr);
        let expected_path = root.join(case.with_extension("stderr"));
        if update {
            std::fs::write(&expected_path, &actual).expect("the .stderr file is writable");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if normalize(&expected) != actual {
            failures.push(format!(
                "{name}: the compiler said something else than {}\n--- expected\n{expected}\n--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(after an intended change, rerun with AIRUN_UPDATE_UI=1 and review the diff)",
        failures.join("\n\n")
    );
}

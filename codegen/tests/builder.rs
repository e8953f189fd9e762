//! The build-script API: `Builder` writes the generated code where it is told and returns
//! mistakes as an `Error` with every diagnostic, instead of ending the process.

use airun_codegen::{Builder, Error};
use std::path::PathBuf;

/// This crate's test fixtures, as an absolute path (independent of `CARGO_MANIFEST_DIR`).
fn fixtures(sub: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("tests")
        .join(sub)
}

/// A fresh, empty folder for one test's output.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("airun-codegen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

#[test]
fn writes_the_generated_code_to_the_out_file() {
    let dir = scratch("builder-ok");
    let out = dir.join("caps.rs");
    Builder::new()
        .specs_dir(fixtures("good"))
        .out_file(&out)
        .rerun_if_changed(false)
        .generate()
        .expect("the good fixture generates");
    let code = std::fs::read_to_string(&out).expect("the out file exists");
    assert!(
        code.contains("pub static ECHO: ::airun::Capability"),
        "{code}"
    );
    let source = Builder::new()
        .specs_dir(fixtures("good"))
        .rerun_if_changed(false)
        .generate_source()
        .expect("the good fixture generates");
    assert_eq!(source, code);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn returns_every_diagnostic_instead_of_exiting() {
    let dir = scratch("builder-bad");
    let out = dir.join("caps.rs");
    let err = Builder::new()
        .specs_dir(fixtures("bad/dup_tool"))
        .out_file(&out)
        .rerun_if_changed(false)
        .generate()
        .expect_err("two ids share one tool name");
    assert!(matches!(err, Error::Specs(_)), "{err:?}");
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert!(
        err.to_string().contains("already uses; rename one of them"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "nothing is written when the specs have mistakes"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_specs_folder_is_an_error_naming_it() {
    let err = Builder::new()
        .specs_dir(fixtures("no-such-folder"))
        .out_file(scratch("builder-missing").join("caps.rs"))
        .rerun_if_changed(false)
        .generate()
        .expect_err("the folder does not exist");
    assert!(matches!(err, Error::ReadSpecs { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-folder"), "{err}");
    assert!(err.diagnostics().is_empty());
}

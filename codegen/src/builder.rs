//! The build-script API: configure where the specs are and where the code goes, then
//! [`Builder::generate`]. Mistakes come back as an [`Error`] carrying every diagnostic; the
//! build script decides how to report them (usually [`Error::print_cargo_errors`]).

use crate::diag::Diagnostic;
use std::fmt;
use std::path::{Path, PathBuf};

/// Configures one run of the generator, in the manner of `prost_build::Config`.
///
/// ```no_run
/// // build.rs
/// fn main() -> std::process::ExitCode {
///     match airun_codegen::Builder::new().specs_dir("specs").generate() {
///         Ok(()) => std::process::ExitCode::SUCCESS,
///         Err(e) => {
///             e.print_cargo_errors();
///             std::process::ExitCode::FAILURE
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    specs_dir: PathBuf,
    out_file: Option<PathBuf>,
    rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Reads `specs/` (relative to the package being built) and writes
    /// `$OUT_DIR/capabilities.rs`, telling cargo to rerun when a spec changes.
    pub fn new() -> Builder {
        Builder {
            specs_dir: PathBuf::from("specs"),
            out_file: None,
            rerun_if_changed: true,
        }
    }

    /// The folder of `*.yaml` specs. A relative path is taken from `CARGO_MANIFEST_DIR` when
    /// that is set (as in a build script), else from the current folder; diagnostics show it
    /// as given.
    pub fn specs_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.specs_dir = dir.into();
        self
    }

    /// Where the generated Rust goes (default `$OUT_DIR/capabilities.rs`).
    pub fn out_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.out_file = Some(path.into());
        self
    }

    /// Whether to print `cargo::rerun-if-changed` lines for the folder and each spec
    /// (default true; turn off outside build scripts).
    pub fn rerun_if_changed(mut self, on: bool) -> Builder {
        self.rerun_if_changed = on;
        self
    }

    /// Reads and checks the specs and returns the generated source without writing it.
    pub fn generate_source(&self) -> Result<String, Error> {
        let dir = self.resolved_specs_dir();
        let shown = self.specs_dir.to_string_lossy().into_owned();
        if self.rerun_if_changed {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
        let files = crate::read_dir(&dir, &shown).map_err(|source| Error::ReadSpecs {
            dir: dir.clone(),
            source,
        })?;
        if self.rerun_if_changed {
            for (name, _) in &files {
                let file = Path::new(name).file_name().unwrap_or_default();
                println!("cargo::rerun-if-changed={}", dir.join(file).display());
            }
        }
        crate::generate(&files).map_err(Error::Specs)
    }

    /// Reads and checks the specs and writes the generated source to the output file.
    pub fn generate(&self) -> Result<(), Error> {
        let out = match &self.out_file {
            Some(path) => path.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or(Error::NoOutFile)?)
                .join("capabilities.rs"),
        };
        let code = self.generate_source()?;
        std::fs::write(&out, code).map_err(|source| Error::Write { path: out, source })
    }

    fn resolved_specs_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(manifest) if self.specs_dir.is_relative() => {
                PathBuf::from(manifest).join(&self.specs_dir)
            }
            _ => self.specs_dir.clone(),
        }
    }
}

/// Why generation failed.
#[derive(Debug)]
pub enum Error {
    /// The specs folder or a spec in it could not be read.
    ReadSpecs {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The specs have mistakes: every one found, each with its file, line and column.
    Specs(Vec<Diagnostic>),
    /// The generated file could not be written.
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No output file was set and `OUT_DIR` is not set (not running as a build script).
    NoOutFile,
}

impl Error {
    /// The spec diagnostics (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Specs(d) => d,
            _ => &[],
        }
    }

    /// Prints one `cargo::error=` line per problem, so cargo shows each and fails the build.
    pub fn print_cargo_errors(&self) {
        match self {
            Error::Specs(diags) => {
                for d in diags {
                    println!("cargo::error={d}");
                }
            }
            other => println!("cargo::error={other}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReadSpecs { dir, source } => {
                write!(f, "cannot read the specs folder {}: {source}", dir.display())
            }
            Error::Specs(diags) => {
                write!(f, "{} mistake(s) in the capability specs:", diags.len())?;
                for d in diags {
                    write!(f, "\n{d}")?;
                }
                Ok(())
            }
            Error::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            Error::NoOutFile => f.write_str(
                "no output file: OUT_DIR is not set, so call Builder::out_file when not in a build script",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ReadSpecs { source, .. } | Error::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}

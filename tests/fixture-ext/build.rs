//! Generates this crate's capability set from `specs/`, as airun's own build does.

use std::process::ExitCode;

fn main() -> ExitCode {
    match airun_codegen::Builder::new().specs_dir("specs").generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.print_cargo_errors();
            ExitCode::FAILURE
        }
    }
}

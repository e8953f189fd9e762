//! Generates airun's own capability set from `specs/` into `$OUT_DIR/capabilities.rs`.

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

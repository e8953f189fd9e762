//! Generates airun's own capability set from `specs/` into `$OUT_DIR/capabilities.rs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    pack_relocations();
    match airun_codegen::Builder::new().specs_dir("specs").generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.print_cargo_errors();
            ExitCode::FAILURE
        }
    }
}

/// Links the `airun` binary with packed relative relocations (DT_RELR, GNU ld 2.38+, lld
/// 15+, glibc 2.36+): its 20,000 pointer fixups take a few kilobytes instead of half a
/// megabyte that the loader reads at every start, which every MCP session pays in
/// memory and start-up time.
fn pack_relocations() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

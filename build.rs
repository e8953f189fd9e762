//! Generates airun's own capability set from `specs/` into `$OUT_DIR/capabilities.rs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    pack_relocations();
    lay_out_startup_code();
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

/// The functions an MCP session runs, in `src/startup.order`, placed side by side in the
/// release binary (lld's `--symbol-ordering-file`). The kernel maps code 64 KiB at a time
/// around each page first touched, so scattered start-up code maps most of the binary:
/// laid out together, a session's resident memory after `initialize` drops by a third.
/// Only where the linker is lld: x86_64 GNU/Linux with Rust 1.90 or later (which links
/// with its own lld) and no linker chosen in RUSTFLAGS. Names the file lists that the
/// binary lacks (a stale file) are skipped.
fn lay_out_startup_code() {
    const ORDER: &str = "src/startup.order";
    println!("cargo::rerun-if-changed={ORDER}");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let own_linker = ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f));
    if var("TARGET") != "x86_64-unknown-linux-gnu"
        || var("PROFILE") != "release"
        || own_linker
        || !rustc_links_with_lld()
    {
        return;
    }
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER);
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
}

/// Whether the compiler building this is Rust 1.90 or later, whose x86_64 GNU/Linux target
/// links with the lld it ships.
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}

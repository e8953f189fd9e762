//! The standard capabilities: the code generated from `specs/`, and the handler bodies.
//!
//! **Layout rule.** The capability `a.b.verb` is the function `verb` of the module
//! `stdlib::a::b`, written in its own file `src/stdlib/a/b/verb.rs` (`io.fs.read_file` is
//! `io/fs/read_file.rs`; `sys.undo` is `sys/undo.rs`). The folder's `mod.rs` declares its
//! verbs with one generated `capability_modules!(a::b)` call and the generated dispatch
//! calls each by that path, so adding a capability is one spec in `specs/` and one
//! function here; nothing declares or routes by hand. Helpers that
//! several capabilities of a folder share live beside them in files that are not named
//! after a verb (`io/fs/entry.rs`, `net/http/exchange.rs`).

mod data;
mod io;
mod net;
mod sys;
mod text;

/// Generated from `specs/*.yaml` by the build script.
#[allow(clippy::all, missing_docs)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/capabilities.rs"));
    route_handlers!(super::Stdlib => crate::stdlib);
}

pub use generated::{CATALOG, Call, Capabilities, Handlers};

/// The standard library's handlers: each capability's function in this module's tree.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdlib;

/// The standard capability set.
pub fn capabilities() -> Capabilities<Stdlib> {
    Capabilities(Stdlib)
}

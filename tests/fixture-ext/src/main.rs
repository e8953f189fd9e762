//! `airun-fixture-ext`: the airun command line over a capability set defined entirely
//! in this crate. Its only inputs are `specs/*.yaml` (turned into Rust by `build.rs`)
//! and one handler method per spec below; nothing in airun itself is edited.

/// The code generated from `specs/` by the build script.
#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/capabilities.rs"));
}

use airun::CapError;
use generated::ext::demo;
use generated::{Capabilities, Handlers};
use std::process::ExitCode;

/// The handler bodies of this crate's capabilities.
struct Ext;

impl Handlers for Ext {
    fn ext_demo_reverse(
        &self,
        _ctx: &mut demo::ReverseCtx<'_>,
        params: demo::ReverseParams,
    ) -> Result<demo::ReverseResult, CapError> {
        Ok(demo::ReverseResult {
            reversed: params.text.chars().rev().collect(),
        })
    }
}

fn main() -> ExitCode {
    airun::cli::main_with(Capabilities(Ext))
}

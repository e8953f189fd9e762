//! `airun-fixture-ext`: the airun command line over a capability set defined entirely
//! in this crate. Its only inputs are `specs/*.yaml` (turned into Rust by `build.rs`)
//! and one function per spec in [`handlers`], found by the capability's id
//! (`ext.demo.reverse` is `handlers::ext::demo::reverse`); nothing in airun itself is
//! edited and nothing routes by hand.

/// The code generated from `specs/` by the build script, routed to [`handlers`].
#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/capabilities.rs"));
    route_handlers!(super::Ext => crate::handlers);
}

/// The handler bodies, in modules that mirror the capability ids.
mod handlers {
    /// `ext.*`.
    pub mod ext {
        /// `ext.demo.*`.
        pub mod demo {
            use crate::generated::ext::demo::{ReverseCtx, ReverseParams, ReverseResult};
            use airun::CapError;

            /// `ext.demo.reverse`: the text with its characters in reverse order.
            pub fn reverse(
                _ctx: &mut ReverseCtx<'_>,
                params: ReverseParams,
            ) -> Result<ReverseResult, CapError> {
                Ok(ReverseResult {
                    reversed: params.text.chars().rev().collect(),
                })
            }
        }
    }
}

use generated::Capabilities;
use std::process::ExitCode;

/// This crate's capability set; its `Handlers` impl is generated.
struct Ext;

fn main() -> ExitCode {
    airun::cli::main_with(Capabilities(Ext))
}

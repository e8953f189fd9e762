//! A set routed by `route_handlers!` that lacks one capability's function does not
//! compile: adding a spec without its function is caught by the compiler (E0425), naming
//! the function and the module the capability's id points to.

#![allow(dead_code)]

include!("../fixture_caps.rs");

route_handlers!(Routed => crate::handlers);

struct Routed;

/// The handler functions, in modules that mirror the capability ids; `fixture.notes.append`
/// has none.
mod handlers {
    pub mod fixture {
        pub mod files {
            use crate::fixture::files::{PeekCtx, PeekParams, PeekResult};

            pub fn peek(
                _ctx: &mut PeekCtx<'_>,
                _p: PeekParams,
            ) -> Result<PeekResult, airun::CapError> {
                unimplemented!()
            }
        }

        pub mod greet {
            use crate::fixture::greet::{SayCtx, SayParams, SayResult};

            pub fn say(_ctx: &mut SayCtx<'_>, _p: SayParams) -> Result<SayResult, airun::CapError> {
                unimplemented!()
            }
        }

        pub mod notes {}
    }
}

fn main() {}

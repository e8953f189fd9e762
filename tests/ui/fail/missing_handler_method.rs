//! A `Handlers` impl that leaves out one capability's method does not compile: adding a
//! spec without its handler body is caught by the compiler (E0046), naming the method.

#![allow(dead_code)]

include!("../fixture_caps.rs");

use airun::CapError;
use fixture::{files, notes};

struct Partial;

impl Handlers for Partial {
    fn fixture_files_peek(
        &self,
        _ctx: &mut files::PeekCtx<'_>,
        _params: files::PeekParams,
    ) -> Result<files::PeekResult, CapError> {
        unimplemented!()
    }

    fn fixture_notes_append(
        &self,
        _ctx: &mut notes::AppendCtx<'_>,
        _params: notes::AppendParams,
    ) -> Result<notes::AppendResult, CapError> {
        unimplemented!()
    }
}

fn main() {}

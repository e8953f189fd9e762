//! A `read_only` (pure) capability cannot touch the filesystem: `open_read` needs the
//! `FsRead` power, and the error says to declare a filesystem side effect (E0277).

#![allow(dead_code)]

include!("../fixture_caps.rs");

use airun::{CapError, WsPath};
use fixture::{files, greet, notes};

struct Fixture;

impl Handlers for Fixture {
    fn fixture_files_peek(
        &self,
        _ctx: &mut files::PeekCtx<'_>,
        _params: files::PeekParams,
    ) -> Result<files::PeekResult, CapError> {
        unimplemented!()
    }

    fn fixture_greet_say(
        &self,
        ctx: &mut greet::SayCtx<'_>,
        params: greet::SayParams,
    ) -> Result<greet::SayResult, CapError> {
        let _file = ctx.open_read(&WsPath::from_spec(&params.name))?;
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

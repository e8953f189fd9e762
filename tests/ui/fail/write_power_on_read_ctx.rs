//! A handler whose spec declares only `filesystem_read` cannot write or delete: the
//! write and delete methods need the `FsWrite` / `FsDelete` powers, and the errors say to
//! declare `filesystem_write` / `filesystem_delete` (E0277).

#![allow(dead_code)]

include!("../fixture_caps.rs");

use airun::CapError;
use airun::powers::WriteMode;
use fixture::{files, greet, notes};

struct Fixture;

impl Handlers for Fixture {
    fn fixture_files_peek(
        &self,
        ctx: &mut files::PeekCtx<'_>,
        params: files::PeekParams,
    ) -> Result<files::PeekResult, CapError> {
        ctx.write_file(&params.path, b"overwritten", WriteMode::Overwrite, false)?;
        ctx.remove(&params.path, false)?;
        unimplemented!()
    }

    fn fixture_greet_say(
        &self,
        _ctx: &mut greet::SayCtx<'_>,
        _params: greet::SayParams,
    ) -> Result<greet::SayResult, CapError> {
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

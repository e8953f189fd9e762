//! A handler whose spec declares no network effect has no HTTP client: `http_get` and
//! `http_send` need the `NetRead` / `NetWrite` powers, and the errors say which network
//! side effect to declare (E0277).

#![allow(dead_code)]

include!("../fixture_caps.rs");

use airun::CapError;
use airun::powers::{HttpRequest, SendMethod};
use fixture::{files, greet, notes};
use std::time::Duration;

struct Fixture;

impl Handlers for Fixture {
    fn fixture_files_peek(
        &self,
        ctx: &mut files::PeekCtx<'_>,
        _params: files::PeekParams,
    ) -> Result<files::PeekResult, CapError> {
        let req = HttpRequest {
            url: "https://example.com/",
            headers: &[],
            timeout: Duration::from_secs(5),
            max_bytes: None,
        };
        ctx.http_get(&req, true)?;
        ctx.http_send(SendMethod::Post, &req, "application/json", Vec::new())?;
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

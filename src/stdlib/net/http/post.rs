//! `net.http.post`.

use super::exchange::exchange;
use crate::error::CapError;
use crate::powers::SendMethod;
use crate::stdlib::generated::net::http::{PostCtx, PostParams, PostResult};

/// `net.http.post`.
pub fn post(ctx: &mut PostCtx<'_>, p: PostParams) -> Result<PostResult, CapError> {
    exchange(&p.url, &p.headers, p.timeout_seconds, p.max_bytes, |req| {
        ctx.http_send(SendMethod::Post, req, &p.content_type, p.body.into_bytes())
    })
}

//! `net.http.post`.

use super::exchange::{limits, reply, request_headers};
use crate::error::CapError;
use crate::powers::{HttpRequest, SendMethod};
use crate::stdlib::generated::net::http::{PostCtx, PostParams, PostResult};

/// `net.http.post`.
pub fn post(ctx: &mut PostCtx<'_>, p: PostParams) -> Result<PostResult, CapError> {
    let headers = request_headers(&p.headers)?;
    let (timeout, max_bytes) = limits(p.timeout_seconds, p.max_bytes);
    let req = HttpRequest {
        url: &p.url,
        headers: &headers,
        timeout,
        max_bytes,
    };
    let r = reply(ctx.http_send(SendMethod::Post, &req, &p.content_type, p.body.into_bytes())?);
    Ok(PostResult {
        status: r.status,
        headers: r.headers,
        body: r.body,
        encoding: r.encoding,
        truncated: r.truncated,
        final_url: r.final_url,
    })
}

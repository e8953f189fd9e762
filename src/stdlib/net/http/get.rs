//! `net.http.get`.

use super::exchange::{limits, reply, request_headers};
use crate::error::CapError;
use crate::powers::HttpRequest;
use crate::stdlib::generated::net::http::{GetCtx, GetParams, GetResult};

/// `net.http.get`.
pub fn get(ctx: &mut GetCtx<'_>, p: GetParams) -> Result<GetResult, CapError> {
    let headers = request_headers(&p.headers)?;
    let (timeout, max_bytes) = limits(p.timeout_seconds, p.max_bytes);
    let req = HttpRequest {
        url: &p.url,
        headers: &headers,
        timeout,
        max_bytes,
    };
    let r = reply(ctx.http_get(&req, p.follow_redirects)?);
    Ok(GetResult {
        status: r.status,
        headers: r.headers,
        body: r.body,
        encoding: r.encoding,
        truncated: r.truncated,
        final_url: r.final_url,
    })
}

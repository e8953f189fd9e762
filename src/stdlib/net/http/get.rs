//! `net.http.get`.

use super::exchange::exchange;
use crate::error::CapError;
use crate::stdlib::generated::net::http::{GetCtx, GetParams, GetResult};

/// `net.http.get`.
pub fn get(ctx: &mut GetCtx<'_>, p: GetParams) -> Result<GetResult, CapError> {
    exchange(&p.url, &p.headers, p.timeout_seconds, p.max_bytes, |req| {
        ctx.http_get(req, p.follow_redirects)
    })
}

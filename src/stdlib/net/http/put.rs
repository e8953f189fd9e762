//! `net.http.put`.

use super::exchange::exchange;
use crate::error::CapError;
use crate::powers::SendMethod;
use crate::stdlib::generated::net::http::{PutCtx, PutParams, PutResult};

/// `net.http.put`.
pub fn put(ctx: &mut PutCtx<'_>, p: PutParams) -> Result<PutResult, CapError> {
    exchange(&p.url, &p.headers, p.timeout_seconds, p.max_bytes, |req| {
        ctx.http_send(SendMethod::Put, req, &p.content_type, p.body.into_bytes())
    })
}

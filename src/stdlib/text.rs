//! `text.*` handlers.

use crate::error::CapError;
use crate::stdlib::generated::text::{regex::*, template::*};

/// `text.regex.match`.
pub fn regex_match(_ctx: &mut MatchCtx<'_>, _p: MatchParams) -> Result<MatchResult, CapError> {
    Err(CapError::execution("text.regex.match is not implemented yet"))
}

/// `text.template.render`.
pub fn render(_ctx: &mut RenderCtx<'_>, _p: RenderParams) -> Result<RenderResult, CapError> {
    Err(CapError::execution("text.template.render is not implemented yet"))
}

//! `data.json.*` handlers.

use crate::error::CapError;
use crate::stdlib::generated::data::json::*;

/// `data.json.parse`.
pub fn parse(_ctx: &mut ParseCtx<'_>, _p: ParseParams) -> Result<ParseResult, CapError> {
    Err(CapError::execution("data.json.parse is not implemented yet"))
}

/// `data.json.stringify`.
pub fn stringify(_ctx: &mut StringifyCtx<'_>, _p: StringifyParams) -> Result<StringifyResult, CapError> {
    Err(CapError::execution("data.json.stringify is not implemented yet"))
}

//! The standard capabilities: the code generated from `specs/`, and the handler bodies.
//!
//! Each capability's body lives in the module of its namespace; the [`Handlers`] impl
//! below only routes to them, and the compiler asks for a new line here when a spec is
//! added.

mod data;
mod fs;
mod journal;
mod sysinfo;
mod text;

/// Generated from `specs/*.yaml` by the build script.
#[allow(clippy::all, missing_docs)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/capabilities.rs"));
}

pub use generated::{CATALOG, Call, Capabilities, Handlers};

use crate::error::CapError;
use generated::{data::json, io::fs as iofs, sys, sys::info, text::regex, text::template};

/// The standard library's handlers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdlib;

/// The standard capability set.
pub fn capabilities() -> Capabilities<Stdlib> {
    Capabilities(Stdlib)
}

impl Handlers for Stdlib {
    fn data_json_parse(&self, ctx: &mut json::ParseCtx<'_>, p: json::ParseParams) -> Result<json::ParseResult, CapError> {
        data::parse(ctx, p)
    }
    fn data_json_stringify(
        &self,
        ctx: &mut json::StringifyCtx<'_>,
        p: json::StringifyParams,
    ) -> Result<json::StringifyResult, CapError> {
        data::stringify(ctx, p)
    }
    fn io_fs_copy(&self, ctx: &mut iofs::CopyCtx<'_>, p: iofs::CopyParams) -> Result<iofs::CopyResult, CapError> {
        fs::copy(ctx, p)
    }
    fn io_fs_delete(&self, ctx: &mut iofs::DeleteCtx<'_>, p: iofs::DeleteParams) -> Result<iofs::DeleteResult, CapError> {
        fs::delete(ctx, p)
    }
    fn io_fs_exists(&self, ctx: &mut iofs::ExistsCtx<'_>, p: iofs::ExistsParams) -> Result<iofs::ExistsResult, CapError> {
        fs::exists(ctx, p)
    }
    fn io_fs_list_dir(&self, ctx: &mut iofs::ListDirCtx<'_>, p: iofs::ListDirParams) -> Result<iofs::ListDirResult, CapError> {
        fs::list_dir(ctx, p)
    }
    fn io_fs_make_dir(&self, ctx: &mut iofs::MakeDirCtx<'_>, p: iofs::MakeDirParams) -> Result<iofs::MakeDirResult, CapError> {
        fs::make_dir(ctx, p)
    }
    fn io_fs_move(&self, ctx: &mut iofs::MoveCtx<'_>, p: iofs::MoveParams) -> Result<iofs::MoveResult, CapError> {
        fs::move_entry(ctx, p)
    }
    fn io_fs_read_file(&self, ctx: &mut iofs::ReadFileCtx<'_>, p: iofs::ReadFileParams) -> Result<iofs::ReadFileResult, CapError> {
        fs::read_file(ctx, p)
    }
    fn io_fs_write_file(
        &self,
        ctx: &mut iofs::WriteFileCtx<'_>,
        p: iofs::WriteFileParams,
    ) -> Result<iofs::WriteFileResult, CapError> {
        fs::write_file(ctx, p)
    }
    fn sys_history(&self, ctx: &mut sys::HistoryCtx<'_>, p: sys::HistoryParams) -> Result<sys::HistoryResult, CapError> {
        journal::history(ctx, p)
    }
    fn sys_undo(&self, ctx: &mut sys::UndoCtx<'_>, p: sys::UndoParams) -> Result<sys::UndoResult, CapError> {
        journal::undo(ctx, p)
    }
    fn sys_info_get_env_var(
        &self,
        ctx: &mut info::GetEnvVarCtx<'_>,
        p: info::GetEnvVarParams,
    ) -> Result<info::GetEnvVarResult, CapError> {
        sysinfo::get_env_var(ctx, p)
    }
    fn sys_info_get_os(&self, ctx: &mut info::GetOsCtx<'_>, p: info::GetOsParams) -> Result<info::GetOsResult, CapError> {
        sysinfo::get_os(ctx, p)
    }
    fn sys_info_get_time(&self, ctx: &mut info::GetTimeCtx<'_>, p: info::GetTimeParams) -> Result<info::GetTimeResult, CapError> {
        sysinfo::get_time(ctx, p)
    }
    fn text_regex_match(&self, ctx: &mut regex::MatchCtx<'_>, p: regex::MatchParams) -> Result<regex::MatchResult, CapError> {
        text::regex_match(ctx, p)
    }
    fn text_template_render(
        &self,
        ctx: &mut template::RenderCtx<'_>,
        p: template::RenderParams,
    ) -> Result<template::RenderResult, CapError> {
        text::render(ctx, p)
    }
}

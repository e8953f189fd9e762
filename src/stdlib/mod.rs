//! The standard capabilities: the code generated from `specs/`, and the handler bodies.
//!
//! Each capability's body lives in the module of its namespace; the [`Handlers`] impl
//! below only routes to them, and the compiler asks for a new line here when a spec is
//! added.

mod archive;
mod data;
mod edit;
mod exec;
mod fs;
mod journal;
mod media;
mod net;
mod read;
mod read_many;
mod search;
mod stat;
mod sysinfo;
mod text;
mod tree;
mod unzip;

/// Generated from `specs/*.yaml` by the build script.
#[allow(clippy::all, missing_docs)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/capabilities.rs"));
}

pub use generated::{CATALOG, Call, Capabilities, Handlers};

use crate::error::CapError;
use generated::{
    data::json, io::fs as iofs, sys, sys::exec as sysexec, sys::info, text::regex, text::template,
};
use generated::{net::http, sys::archive as sysarchive};

/// The standard library's handlers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdlib;

/// The standard capability set.
pub fn capabilities() -> Capabilities<Stdlib> {
    Capabilities(Stdlib)
}

impl Handlers for Stdlib {
    fn data_json_parse(
        &self,
        ctx: &mut json::ParseCtx<'_>,
        p: json::ParseParams,
    ) -> Result<json::ParseResult, CapError> {
        data::parse(ctx, p)
    }
    fn data_json_stringify(
        &self,
        ctx: &mut json::StringifyCtx<'_>,
        p: json::StringifyParams,
    ) -> Result<json::StringifyResult, CapError> {
        data::stringify(ctx, p)
    }
    fn io_fs_copy(
        &self,
        ctx: &mut iofs::CopyCtx<'_>,
        p: iofs::CopyParams,
    ) -> Result<iofs::CopyResult, CapError> {
        fs::copy(ctx, p)
    }
    fn io_fs_delete(
        &self,
        ctx: &mut iofs::DeleteCtx<'_>,
        p: iofs::DeleteParams,
    ) -> Result<iofs::DeleteResult, CapError> {
        fs::delete(ctx, p)
    }
    fn io_fs_edit_file(
        &self,
        ctx: &mut iofs::EditFileCtx<'_>,
        p: iofs::EditFileParams,
    ) -> Result<iofs::EditFileResult, CapError> {
        edit::edit_file(ctx, p)
    }
    fn io_fs_exists(
        &self,
        ctx: &mut iofs::ExistsCtx<'_>,
        p: iofs::ExistsParams,
    ) -> Result<iofs::ExistsResult, CapError> {
        fs::exists(ctx, p)
    }
    fn io_fs_list_dir(
        &self,
        ctx: &mut iofs::ListDirCtx<'_>,
        p: iofs::ListDirParams,
    ) -> Result<iofs::ListDirResult, CapError> {
        fs::list_dir(ctx, p)
    }
    fn io_fs_make_dir(
        &self,
        ctx: &mut iofs::MakeDirCtx<'_>,
        p: iofs::MakeDirParams,
    ) -> Result<iofs::MakeDirResult, CapError> {
        fs::make_dir(ctx, p)
    }
    fn io_fs_move(
        &self,
        ctx: &mut iofs::MoveCtx<'_>,
        p: iofs::MoveParams,
    ) -> Result<iofs::MoveResult, CapError> {
        fs::move_entry(ctx, p)
    }
    fn io_fs_read_file(
        &self,
        ctx: &mut iofs::ReadFileCtx<'_>,
        p: iofs::ReadFileParams,
    ) -> Result<iofs::ReadFileResult, CapError> {
        read::read_file(ctx, p)
    }
    fn io_fs_read_media(
        &self,
        ctx: &mut iofs::ReadMediaCtx<'_>,
        p: iofs::ReadMediaParams,
    ) -> Result<iofs::ReadMediaResult, CapError> {
        media::read_media(ctx, p)
    }
    fn io_fs_read_many(
        &self,
        ctx: &mut iofs::ReadManyCtx<'_>,
        p: iofs::ReadManyParams,
    ) -> Result<iofs::ReadManyResult, CapError> {
        read_many::read_many(ctx, p)
    }
    fn io_fs_search(
        &self,
        ctx: &mut iofs::SearchCtx<'_>,
        p: iofs::SearchParams,
    ) -> Result<iofs::SearchResult, CapError> {
        search::search(ctx, p)
    }
    fn io_fs_stat(
        &self,
        ctx: &mut iofs::StatCtx<'_>,
        p: iofs::StatParams,
    ) -> Result<iofs::StatResult, CapError> {
        stat::stat(ctx, p)
    }
    fn io_fs_tree(
        &self,
        ctx: &mut iofs::TreeCtx<'_>,
        p: iofs::TreeParams,
    ) -> Result<iofs::TreeResult, CapError> {
        tree::tree(ctx, p)
    }
    fn io_fs_write_file(
        &self,
        ctx: &mut iofs::WriteFileCtx<'_>,
        p: iofs::WriteFileParams,
    ) -> Result<iofs::WriteFileResult, CapError> {
        fs::write_file(ctx, p)
    }
    fn net_http_get(
        &self,
        ctx: &mut http::GetCtx<'_>,
        p: http::GetParams,
    ) -> Result<http::GetResult, CapError> {
        net::get(ctx, p)
    }
    fn net_http_post(
        &self,
        ctx: &mut http::PostCtx<'_>,
        p: http::PostParams,
    ) -> Result<http::PostResult, CapError> {
        net::post(ctx, p)
    }
    fn net_http_put(
        &self,
        ctx: &mut http::PutCtx<'_>,
        p: http::PutParams,
    ) -> Result<http::PutResult, CapError> {
        net::put(ctx, p)
    }
    fn sys_archive_unzip(
        &self,
        ctx: &mut sysarchive::UnzipCtx<'_>,
        p: sysarchive::UnzipParams,
    ) -> Result<sysarchive::UnzipResult, CapError> {
        unzip::unzip(ctx, p)
    }
    fn sys_archive_zip(
        &self,
        ctx: &mut sysarchive::ZipCtx<'_>,
        p: sysarchive::ZipParams,
    ) -> Result<sysarchive::ZipResult, CapError> {
        archive::zip(ctx, p)
    }
    fn sys_history(
        &self,
        ctx: &mut sys::HistoryCtx<'_>,
        p: sys::HistoryParams,
    ) -> Result<sys::HistoryResult, CapError> {
        journal::history(ctx, p)
    }
    fn sys_undo(
        &self,
        ctx: &mut sys::UndoCtx<'_>,
        p: sys::UndoParams,
    ) -> Result<sys::UndoResult, CapError> {
        journal::undo(ctx, p)
    }
    fn sys_exec_run(
        &self,
        ctx: &mut sysexec::RunCtx<'_>,
        p: sysexec::RunParams,
    ) -> Result<sysexec::RunResult, CapError> {
        exec::run(ctx, p)
    }
    fn sys_info_get_env_var(
        &self,
        ctx: &mut info::GetEnvVarCtx<'_>,
        p: info::GetEnvVarParams,
    ) -> Result<info::GetEnvVarResult, CapError> {
        sysinfo::get_env_var(ctx, p)
    }
    fn sys_info_get_os(
        &self,
        ctx: &mut info::GetOsCtx<'_>,
        p: info::GetOsParams,
    ) -> Result<info::GetOsResult, CapError> {
        sysinfo::get_os(ctx, p)
    }
    fn sys_info_get_time(
        &self,
        ctx: &mut info::GetTimeCtx<'_>,
        p: info::GetTimeParams,
    ) -> Result<info::GetTimeResult, CapError> {
        sysinfo::get_time(ctx, p)
    }
    fn text_regex_match(
        &self,
        ctx: &mut regex::MatchCtx<'_>,
        p: regex::MatchParams,
    ) -> Result<regex::MatchResult, CapError> {
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

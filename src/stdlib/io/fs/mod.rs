//! `io.fs.*` capabilities. They act only through their context's filesystem powers.

mod copy;
mod delete;
mod edit_file;
mod entry;
mod exists;
mod list_dir;
mod make_dir;
mod r#move;
mod paging;
mod read_file;
mod read_many;
mod read_media;
mod search;
mod stat;
mod tree;
mod write_file;

pub use copy::copy;
pub use delete::delete;
pub use edit_file::edit_file;
pub use exists::exists;
pub use list_dir::list_dir;
pub use make_dir::make_dir;
pub use r#move::r#move;
pub use read_file::read_file;
pub use read_many::read_many;
pub use read_media::read_media;
pub use search::search;
pub use stat::stat;
pub use tree::tree;
pub use write_file::write_file;

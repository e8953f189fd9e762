//! `net.http.*` capabilities. They reach the network only through their context's
//! network power, which applies the operator's network policy to every hop.

mod exchange;
mod get;
mod post;
mod put;

pub use get::get;
pub use post::post;
pub use put::put;

//! Server-side apply and field ownership (structured-merge-diff's model in Rust).

pub mod apply;
pub mod fieldpath;
pub mod managed;
pub mod merge;
pub mod prune;
pub mod schema;
pub mod typed;

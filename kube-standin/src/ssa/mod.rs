//! Server-side apply and field ownership (structured-merge-diff's model in Rust).
#![allow(dead_code, reason = "the apply half is wired in step 2 of issue 10")]

pub mod fieldpath;
pub mod managed;
pub mod prune;
pub mod schema;
pub mod typed;

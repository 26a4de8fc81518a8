//! Object semantics that do not depend on HTTP: metadata, defaults, validation, Service IPs.

pub mod defaults;
pub mod meta;
pub mod services;
pub mod validate;

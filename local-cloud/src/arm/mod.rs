//! The ARM stand-in: what answers under `https://127.0.0.1:PORT/subscriptions/...`.
//!
//! A request goes `server` (request ids, auth, api-version against `api_versions`,
//! throttling and injected faults) -> `path` (what the URL addresses) -> `handlers` (GET,
//! lists in `listing`, PUT in `put`, DELETE and VM actions in `delete`, operation polls),
//! all under the lock of the `store` (resources and operations; `ops` runs operations on a
//! scaled clock). `types/` holds per-type validation and side effects, `ids` the resource-id
//! helpers, `faults` and `stats` the fault injection and request counters.

pub mod api_versions;
pub mod delete;
pub mod faults;
pub mod handlers;
pub mod ids;
pub mod listing;
pub mod ops;
pub mod path;
pub mod put;
pub mod server;
pub mod stats;
pub mod store;
pub mod types;

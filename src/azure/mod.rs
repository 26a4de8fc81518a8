//! The Azure Resource Manager client: credentials, pipeline, retries, LROs, paging, errors.

pub mod api_versions;
pub mod ids;
pub mod resources;

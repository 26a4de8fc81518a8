//! The Azure Resource Manager client: credentials, pipeline, retries, LROs, paging, errors.
//!
//! [`ArmClient`] is the one way the tool talks to ARM, whether the endpoint is
//! `https://management.azure.com` or the local cloud. Policies live in the submodules:
//! credential selection in [`credential`], retry and throttling in [`retry`], long-running
//! operations in [`lro`], errors and hints in [`error`].

pub mod api_versions;
pub mod client;
pub mod credential;
pub mod error;
pub mod ids;
pub mod lro;
mod operations;
pub mod retry;
mod send;

pub use client::{ArmAuth, ArmClient, ArmClientOptions};
pub use credential::{CredentialKind, LocalCredential};
pub use error::{ArmError, ArmErrorDetail, HttpError};
pub use lro::{FinalStateVia, PollConfig};
pub use retry::RetryConfig;
pub use send::ClientStats;

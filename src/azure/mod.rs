//! The Azure Resource Manager client: credentials, pipeline, retries, LROs, paging, errors.
//!
//! [`ArmClient`] is the one way the tool talks to ARM, whether the endpoint is
//! `https://management.azure.com` or the local cloud. Policies live in the submodules:
//! credential selection in [`credential`], retry and throttling in [`retry`], long-running
//! operations in [`lro`], errors in [`error`] and their hints in [`hint`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), platform::azure::ArmError> {
//! use platform::azure::{ArmClient, ArmClientOptions, CredentialKind, FinalStateVia};
//! use platform::azure::{api_versions, ids};
//! let arm = ArmClient::new(ArmClientOptions::azure("SUBSCRIPTION-ID", CredentialKind::Auto))?;
//! let rg = ids::resource_group(arm.subscription_id(), "k3s-rg");
//! let body = serde_json::json!({"location": "eastus"});
//! arm.put(&rg, api_versions::RESOURCES, &body, FinalStateVia::OriginalUri).await?;
//! let collection = format!("{rg}/providers/Microsoft.Network/virtualNetworks");
//! let vnets = arm.list(&collection, api_versions::NETWORK).await?; // follows nextLink
//! if let Err(e) = arm.delete(&rg, api_versions::RESOURCES).await {
//!     // Errors name the resource, the ARM code and message; some codes have a hint.
//!     let _hint = e.hint();
//! }
//! # let _ = (vnets, arm.stats().requests());
//! # Ok(()) }
//! ```

pub mod api_versions;
pub mod client;
pub mod credential;
pub mod error;
pub mod hint;
pub mod ids;
pub mod lro;
mod operations;
pub mod resources;
pub mod retry;
mod send;
pub mod states;

pub use azure_core::credentials::Secret;
pub use client::{ArmAuth, ArmClient, ArmClientOptions, ClientStats};
pub use credential::{CredentialKind, LocalCredential};
pub use error::{ArmError, ArmErrorDetail, HttpError};
pub use lro::{FinalStateVia, PollConfig};
pub use retry::RetryConfig;

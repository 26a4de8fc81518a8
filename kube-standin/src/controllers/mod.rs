//! Controllers the API core runs itself: namespace deletion, CRD deletion and the status of
//! workloads.
//! Each follows the store with its own watch (restarted from a fresh list if it breaks).

mod crds;
mod namespaces;
mod workloads;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::api::write::{self, Change};
use crate::api::{State, WriteOptions};
use crate::error::ApiError;
use crate::kinds::ResourceType;

/// The manager name controller writes carry in managedFields.
pub const MANAGER: &str = "k3s";

/// Starts every controller.
pub fn spawn(state: State) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(namespaces::run(state.clone())),
        tokio::spawn(crds::run(state.clone())),
        tokio::spawn(workloads::run(state)),
    ]
}

/// A controller's write, through a subresource (`status`, `finalize`) or the main resource
/// (`""`): `edit` changes a copy of the live object; a concurrent write makes it run again
/// on the new state. Failures (the object went away) are left to the next event.
pub async fn write_sub(
    state: &State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    sub: &str,
    edit: impl Fn(&mut Value),
) {
    let opts = WriteOptions {
        manager: MANAGER.into(),
        dry_run: false,
        subresource: Some(sub.into()),
    };
    let _ = write::update_with(state, rt, ns, name, &opts, None, &mut Vec::new(), |live| {
        let Some(live) = live else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let mut next = live.clone();
        edit(&mut next);
        Ok(Change::Replace(next))
    })
    .await;
}

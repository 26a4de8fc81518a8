//! Controllers the API core runs itself: namespace deletion, CRD deletion and the status of
//! workloads.
//! Each follows the store with its own watch (restarted from a fresh list if it breaks, and
//! retried while the store cannot answer, e.g. etcd without quorum).

mod crds;
mod namespaces;
mod workloads;

use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::api::write::{self, Change};
use crate::api::{State, WriteOptions};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::store::{Revision, Watch};

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

/// The current revision and a watch of every object from it; while the store cannot give
/// them, retried with a growing pause (at most 5 s), so a controller resumes once the store
/// is back instead of ending.
pub async fn follow(state: &State) -> (Revision, Watch) {
    let mut pause = Duration::from_millis(100);
    loop {
        match state.store.current_revision().await {
            Ok(rev) => match state.store.watch("/registry/", rev).await {
                Ok(w) => return (rev, w),
                Err(e) => tracing::debug!(error = %e, "controller watch failed; retrying"),
            },
            Err(e) => tracing::debug!(error = %e, "controller cannot read the store; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
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

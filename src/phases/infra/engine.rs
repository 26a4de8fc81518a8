//! Find-or-create over the dependency graph: every resource starts as soon as the resources
//! it depends on are done, so Postgres (minutes on Azure) never delays the scale sets.
//!
//! Per resource: GET; if it is missing or differs, PUT and wait for the operation; if it is
//! still being provisioned by an earlier (crashed) run, wait for that first. A resource that
//! exists without our tags is never modified. One failure does not stop independent
//! resources; its dependents are reported as skipped.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::azure::ArmClient;
use crate::azure::lro::{is_terminal, provisioning_state};
use crate::azure::resources::lro::lro_for;
use crate::azure::resources::{
    DesiredResource, MANAGED_BY_VALUE, Plan, ResourceKey, TAG_CLUSTER, TAG_MANAGED_BY,
};
use crate::output::Progress;

/// What `plan` would do, or `up` did, to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// Exists without our tags: reported and left alone.
    NotManaged,
    Failed,
    /// Not attempted because a resource it depends on did not converge.
    Skipped,
}

impl Action {
    /// The word in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::NotManaged => "not-managed",
            Action::Failed => "failed",
            Action::Skipped => "skipped",
        }
    }

    /// Whether the resource needs a PUT.
    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Update)
    }

    /// Whether the resource did not converge (failed, or skipped behind a failure).
    pub fn failed(self) -> bool {
        matches!(self, Action::Failed | Action::Skipped)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one resource.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub key: ResourceKey,
    pub id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    pub provisioning_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub hint: Option<String>,
    /// The resource as ARM returned it last (not serialized: may be large).
    #[serde(skip)]
    pub body: Option<serde_json::Value>,
    pub seconds: f64,
}

/// Resource types that take no tags (ARM proxy resources); they belong to their parent,
/// whose ownership is checked first because it is a dependency.
const UNTAGGABLE: &[&str] = &["Microsoft.DBforPostgreSQL/flexibleServers/databases"];

/// Whether an existing resource carries this cluster's ownership tags.
pub fn owned_by(actual: &serde_json::Value, cluster: &str) -> bool {
    let tags = &actual["tags"];
    tags[TAG_MANAGED_BY].as_str() == Some(MANAGED_BY_VALUE)
        && tags[TAG_CLUSTER].as_str() == Some(cluster)
}

/// Only reads: the plan of every resource (concurrent GETs, no writes).
pub async fn plan(client: &ArmClient, cluster: &str, desired: &[DesiredResource]) -> Vec<Outcome> {
    let futs = desired.iter().map(|d| async move {
        let t0 = Instant::now();
        let mut o = blank(d);
        match client.get(&d.id, d.api_version).await {
            Ok(actual) => classify(&mut o, &d.over(actual.as_ref()), actual.as_ref(), cluster),
            Err(e) => fail(&mut o, &e),
        }
        o.seconds = t0.elapsed().as_secs_f64();
        o
    });
    futures::future::join_all(futs).await
}

fn blank(d: &DesiredResource) -> Outcome {
    Outcome {
        key: d.key.clone(),
        id: d.id.clone(),
        resource_type: d.resource_type.to_owned(),
        action: Action::Unchanged,
        changes: Vec::new(),
        provisioning_state: None,
        error: None,
        hint: None,
        body: None,
        seconds: 0.0,
    }
}

fn fail(o: &mut Outcome, e: &crate::azure::ArmError) {
    o.action = Action::Failed;
    o.error = Some(e.to_string());
    o.hint = e.hint();
}

/// Sets the action from a GET result.
fn classify(
    o: &mut Outcome,
    d: &DesiredResource,
    actual: Option<&serde_json::Value>,
    cluster: &str,
) {
    o.provisioning_state = actual.and_then(|a| provisioning_state(a).map(str::to_owned));
    o.body = actual.cloned();
    if let Some(a) = actual
        && !UNTAGGABLE.contains(&d.resource_type)
        && !owned_by(a, cluster)
    {
        o.action = Action::NotManaged;
        return;
    }
    match d.plan(actual) {
        Plan::Create => o.action = Action::Create,
        Plan::Update { changes } => {
            o.action = Action::Update;
            o.changes = changes;
        }
        Plan::Unchanged => {
            // A resource left Failed by an earlier run is re-applied to converge.
            if o.provisioning_state.as_deref() == Some("Failed") {
                o.action = Action::Update;
                o.changes = vec!["properties.provisioningState (Failed)".into()];
            }
        }
    }
}

type Task = Shared<BoxFuture<'static, Outcome>>;

/// Applies every resource, each as soon as its dependencies are done.
pub async fn apply(
    client: &ArmClient,
    cluster: &str,
    desired: Vec<DesiredResource>,
    poll: Duration,
    progress: &Progress,
) -> Vec<Outcome> {
    let mut tasks: HashMap<ResourceKey, Task> = HashMap::new();
    let mut order = Vec::new();
    for d in desired {
        let deps: Vec<(ResourceKey, Task)> = d
            .depends_on
            .iter()
            .filter_map(|k| tasks.get(k).map(|t| (k.clone(), t.clone())))
            .collect();
        let client = client.clone();
        let cluster = cluster.to_owned();
        let progress = progress.clone();
        let key = d.key.clone();
        let task = async move {
            for (k, dep) in deps {
                let done = dep.await;
                // A resource group we do not own may still hold our resources.
                let foreign_group =
                    k == ResourceKey::ResourceGroup && done.action == Action::NotManaged;
                if (done.action.failed() || done.action == Action::NotManaged) && !foreign_group {
                    let mut o = blank(&d);
                    o.action = Action::Skipped;
                    o.error = Some(format!("{k} did not converge"));
                    return o;
                }
            }
            converge(&client, &cluster, &d, poll, &progress).await
        }
        .boxed()
        .shared();
        order.push(key.clone());
        tasks.insert(key, task);
    }
    let all = order.iter().map(|k| tasks[k].clone());
    futures::future::join_all(all).await
}

/// How many poll intervals a resource busy with another operation (409
/// `AnotherOperationInProgress`) is waited for: 45 min at Azure's 10 s, as long as the
/// slowest operation (a PostgreSQL server) may take.
const BUSY_WAIT_POLLS: u32 = 270;

/// GETs the resource and, while an operation (of an earlier, crashed run) is still running on
/// it, waits until it settles.
async fn settled(
    client: &ArmClient,
    d: &DesiredResource,
    poll: Duration,
) -> Result<Option<serde_json::Value>, crate::azure::ArmError> {
    let mut actual = client.get(&d.id, d.api_version).await?;
    while let Some(state) = actual.as_ref().and_then(|a| provisioning_state(a)) {
        if is_terminal(state) {
            break;
        }
        tracing::debug!(resource = %d.id, state, "waiting for an operation in progress");
        tokio::time::sleep(poll).await;
        actual = client.get(&d.id, d.api_version).await?;
    }
    Ok(actual)
}

async fn converge(
    client: &ArmClient,
    cluster: &str,
    d: &DesiredResource,
    poll: Duration,
    progress: &Progress,
) -> Outcome {
    let t0 = Instant::now();
    let mut o = blank(d);
    // The PUT client does not retry 409 AnotherOperationInProgress: a resource busy with an
    // operation of a crashed run (a Postgres server being created is invisible to GET until
    // done) is waited for here, then compared again, so the finished operation is not
    // followed by a second, identical one.
    let put_client = client.without_busy_retry();
    let busy_deadline = poll * BUSY_WAIT_POLLS;
    let mut step: Option<crate::output::StepHandle> = None;
    let result = async {
        loop {
            let actual = settled(client, d, poll).await?;
            o = blank(d);
            let d = d.over(actual.as_ref());
            classify(&mut o, &d, actual.as_ref(), cluster);
            if !o.action.writes() {
                if let Some(s) = step.take() {
                    s.done("settled");
                }
                return Ok(());
            }
            let s = step.get_or_insert_with(|| {
                progress.step(
                    &d.key.to_string(),
                    &format!("{}ing", o.action.as_str().trim_end_matches('e')),
                )
            });
            let final_state = lro_for(d.resource_type).map(|r| r.put).unwrap_or_default();
            match put_client
                .put(&d.id, d.api_version, d.put_body(), final_state)
                .await
            {
                Ok(body) => {
                    o.provisioning_state = provisioning_state(&body).map(str::to_owned);
                    o.body = Some(body);
                    if let Some(s) = step.take() {
                        s.done(o.action.as_str());
                    }
                    return Ok(());
                }
                Err(e)
                    if e.code() == Some("AnotherOperationInProgress")
                        && t0.elapsed() < busy_deadline =>
                {
                    s.message("busy with another operation; waiting");
                    tracing::info!(resource = %d.id, "busy with another operation; waiting for it");
                    tokio::time::sleep(poll).await;
                }
                Err(e) => {
                    if let Some(s) = step.take() {
                        s.failed(&e.to_string());
                    }
                    return Err(e);
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        fail(&mut o, &e);
    }
    o.seconds = t0.elapsed().as_secs_f64();
    o
}

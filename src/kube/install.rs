//! Installing a set of manifests the way Flux's CLI installs itself: Namespaces and CRDs
//! first, wait until every CRD is Established and discovery serves its kinds, then the rest;
//! objects of the previous set that are gone from this one are deleted (the previous set is
//! the caller's inventory); then wait until the set's Deployments are Available and its
//! StatefulSets have every replica ready (Argo CD's application controller). Every wait
//! is a watch bounded by one deadline.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::DynamicObject;
use kube::runtime::wait::{await_condition, conditions};
use tokio::time::Instant;

use super::apply::{Applier, ObjectRef, Outcome, object_ref};
use super::client::KubeError;

/// What the install did, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// Every object of the set, in apply order.
    pub inventory: Vec<ObjectRef>,
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    /// Objects of the previous set deleted because this set no longer has them.
    pub deleted: usize,
}

/// Per-object progress.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Applied(&'a ObjectRef, Outcome),
    Established(&'a str),
    Deleted(&'a ObjectRef),
    Available(&'a ObjectRef),
}

/// Installs `objs` (see the module's header); `previous` is the set a former install
/// applied; everything waits at most `timeout` in all.
pub async fn install(
    applier: &mut Applier,
    objs: &[DynamicObject],
    previous: &[ObjectRef],
    timeout: Duration,
    on: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Installed, KubeError> {
    let deadline = Instant::now() + timeout;
    let (first, rest): (Vec<&DynamicObject>, Vec<&DynamicObject>) = objs
        .iter()
        .partition(|o| object_ref(o).is_cluster_definition());
    let mut done = Installed::default();
    for obj in &first {
        apply_one(applier, obj, &mut done, on).await?;
    }
    let crds: Vec<&DynamicObject> = first
        .iter()
        .copied()
        .filter(|o| object_ref(o).kind == "CustomResourceDefinition")
        .collect();
    for crd in &crds {
        let name = object_ref(crd).name;
        let api: Api<CustomResourceDefinition> = Api::all(applier.client().clone());
        let label = format!("CustomResourceDefinition {name}");
        let cond = conditions::is_crd_established();
        let within = (deadline, timeout);
        wait_for(api, &name, cond, label, "CRDs not Established", within).await?;
        on(Event::Established(&name));
    }
    let mut wanted: Vec<ObjectRef> = crds.iter().flat_map(|c| served_kinds(c)).collect();
    wanted.extend(rest.iter().map(|o| object_ref(o)));
    wait_served(applier, &wanted, deadline, timeout).await?;
    for obj in &rest {
        apply_one(applier, obj, &mut done, on).await?;
    }
    done.deleted = prune(applier, previous, &done.inventory, on).await?;
    let deployments: Vec<&ObjectRef> = done
        .inventory
        .iter()
        .filter(|r| r.api_version == "apps/v1" && r.kind == "Deployment")
        .collect();
    for d in deployments {
        let ns = d.namespace.as_deref().unwrap_or("default");
        let api: Api<Deployment> = Api::namespaced(applier.client().clone(), ns);
        let within = (deadline, timeout);
        let what = "Deployments not Available";
        wait_for(api, &d.name, is_available, d.to_string(), what, within).await?;
        on(Event::Available(d));
    }
    let sets = done
        .inventory
        .iter()
        .filter(|r| r.api_version == "apps/v1" && r.kind == "StatefulSet");
    for s in sets {
        let ns = s.namespace.as_deref().unwrap_or("default");
        let api: Api<StatefulSet> = Api::namespaced(applier.client().clone(), ns);
        let within = (deadline, timeout);
        let what = "StatefulSets not ready";
        wait_for(api, &s.name, is_rolled_out, s.to_string(), what, within).await?;
        on(Event::Available(s));
    }
    Ok(done)
}

async fn apply_one(
    applier: &Applier,
    obj: &DynamicObject,
    done: &mut Installed,
    on: &(dyn Fn(Event<'_>) + Sync),
) -> Result<(), KubeError> {
    let (r, outcome) = applier.apply(obj).await?;
    match outcome {
        Outcome::Created => done.created += 1,
        Outcome::Configured => done.configured += 1,
        Outcome::Unchanged => done.unchanged += 1,
    }
    on(Event::Applied(&r, outcome));
    done.inventory.push(r);
    Ok(())
}

/// Deletes what `previous` has and `current` does not: other objects first, Namespaces and
/// CRDs last (deleting those takes their contents with them).
pub async fn prune(
    applier: &Applier,
    previous: &[ObjectRef],
    current: &[ObjectRef],
    on: &(dyn Fn(Event<'_>) + Sync),
) -> Result<usize, KubeError> {
    let keep: BTreeSet<&ObjectRef> = current.iter().collect();
    let (defs, others): (Vec<&ObjectRef>, Vec<&ObjectRef>) = previous
        .iter()
        .filter(|r| !keep.contains(r))
        .partition(|r| r.is_cluster_definition());
    let mut n = 0;
    for r in others.into_iter().rev().chain(defs.into_iter().rev()) {
        if applier.delete(r).await? {
            n += 1;
            on(Event::Deleted(r));
        }
    }
    Ok(n)
}

/// The kinds a CRD object serves, as references without a name.
fn served_kinds(crd: &DynamicObject) -> Vec<ObjectRef> {
    let spec = &crd.data["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .filter_map(|v| v["name"].as_str())
        .map(|v| ObjectRef {
            api_version: format!("{group}/{v}"),
            kind: kind.to_owned(),
            namespace: None,
            name: String::new(),
        })
        .collect()
}

/// Refreshes discovery until it serves every kind of `wanted`. There is no condition for
/// "discovery shows the new kind" (kube's docs on `is_crd_established`), so this polls, with
/// a growing pause, until the deadline.
async fn wait_served(
    applier: &mut Applier,
    wanted: &[ObjectRef],
    deadline: Instant,
    timeout: Duration,
) -> Result<(), KubeError> {
    let mut pause = Duration::from_millis(100);
    // The CRDs are Established by now: discovery usually serves them at once, so the first
    // refresh comes without a pause.
    let mut first = true;
    loop {
        let missing: Vec<String> = wanted
            .iter()
            .filter(|r| !applier.serves(r))
            .map(|r| format!("{} {}", r.api_version, r.kind))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut first) {
            applier.refresh().await?;
            continue;
        }
        if Instant::now() + pause > deadline {
            return Err(KubeError::Timeout {
                what: "the API does not serve these kinds".into(),
                secs: timeout.as_secs(),
                waiting: missing,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
        applier.refresh().await?;
    }
}

/// Waits until `cond` holds for `api`'s object `name` (shown as `label`), until `deadline`;
/// `what` says what a timeout means.
async fn wait_for<K>(
    api: Api<K>,
    name: &str,
    cond: impl kube::runtime::wait::Condition<K>,
    label: String,
    what: &str,
    (deadline, timeout): (Instant, Duration),
) -> Result<(), KubeError>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    match tokio::time::timeout_at(deadline, await_condition(api, name, cond)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(KubeError::Invalid(format!("watching {label}: {e}"))),
        Err(_) => Err(KubeError::Timeout {
            what: what.into(),
            secs: timeout.as_secs(),
            waiting: vec![label],
        }),
    }
}

/// Whether a Deployment's controller has seen its latest spec and reports it Available.
fn is_available(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let Some(status) = &d.status else {
        return false;
    };
    status.observed_generation >= d.metadata.generation
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Available" && c.status == "True")
}

/// Whether a StatefulSet's controller has seen its latest spec and every replica is updated
/// and ready (what `kubectl rollout status` checks; kube has no condition for it).
fn is_rolled_out(s: Option<&StatefulSet>) -> bool {
    let Some(s) = s else { return false };
    let (Some(spec), Some(status)) = (&s.spec, &s.status) else {
        return false;
    };
    let want = spec.replicas.unwrap_or(1);
    status.observed_generation >= s.metadata.generation
        && status.ready_replicas.unwrap_or(0) >= want
        && status.updated_replicas.unwrap_or(0) >= want
}

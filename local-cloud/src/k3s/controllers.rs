//! What the server's controller-manager does that a user of the stand-in sees: a `/24` pod
//! CIDR per node from `cluster-cidr`, and the node lifecycle: a node whose Lease has not
//! been renewed for the node-monitor grace period gets `Ready=Unknown` ("Kubelet stopped
//! posting node status.") and the `unreachable` taints, removed once it is back. Also k3s's
//! cleanup when a Node is deleted: its node-password Secret, and a server's etcd member.
//! They run on the server that holds the controllers' lease, writing with
//! compare-and-swap.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use kube_standin::store::etcd::EtcdStore;

use super::kubelet::now;
use super::log;

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// The `/24`s of `cluster` in order (k3s's kube-controller-manager allocates `/24`s).
fn subnets(cluster: Ipv4Net) -> impl Iterator<Item = Ipv4Net> {
    let base = u32::from(cluster.network());
    let count = 1u32 << 24u8.saturating_sub(cluster.prefix_len()).min(24);
    (0..count).filter_map(move |i| Ipv4Net::new(Ipv4Addr::from(base + (i << 8)), 24).ok())
}

/// Gives every node without one a pod CIDR.
async fn allocate_cidrs(nodes: &Api<Node>, all: &[Node], cluster: Ipv4Net) {
    let used: BTreeSet<String> = all
        .iter()
        .filter_map(|n| n.spec.as_ref()?.pod_cidr.clone())
        .collect();
    let mut free = subnets(cluster).filter(|s| !used.contains(&s.to_string()));
    // In the order the nodes registered, as the allocator sees them arrive.
    let mut by_age: Vec<&Node> = all.iter().collect();
    by_age.sort_by_key(|n| {
        let created = n.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (created, n.metadata.name.clone())
    });
    for n in by_age {
        if n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some() {
            continue;
        }
        let (Some(name), Some(cidr)) = (n.metadata.name.as_deref(), free.next()) else {
            continue;
        };
        // The resourceVersion makes the patch a compare-and-swap: a node changed meanwhile
        // (another allocation included) is left for the next round, which re-reads it.
        let patch = json!({"metadata": {"resourceVersion": n.metadata.resource_version},
            "spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
        if nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_ok()
        {
            log::info(format!("Set node {name} PodCIDR to [{cidr}]"));
        }
    }
}

/// When the node's Lease was last renewed.
fn renewed(lease: &Lease) -> Option<time::OffsetDateTime> {
    let t = lease.spec.as_ref()?.renew_time.as_ref()?;
    let text = serde_json::to_value(t).ok()?;
    time::OffsetDateTime::parse(
        text.as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}

/// Marks silent nodes unknown and unreachable; takes the taint off nodes that are back.
async fn lifecycle(client: &kube::Client, nodes: &Api<Node>, all: &[Node], grace: Duration) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now_t = time::OffsetDateTime::now_utc();
    for n in all {
        let Some(name) = n.metadata.name.as_deref() else {
            continue;
        };
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        let taints = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let tainted = taints.iter().any(|t| t.key == UNREACHABLE);
        let lease = leases.get_opt(name).await.ok().flatten();
        let silent = lease
            .as_ref()
            .and_then(renewed)
            .is_some_and(|t| now_t - t > grace);
        if silent && ready.as_deref() != Some("Unknown") {
            let t = now(false);
            let unknown = |ty: &str| {
                json!({"type": ty, "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": t, "lastTransitionTime": t})
            };
            let status = json!({"status": {"conditions": [unknown("MemoryPressure"),
                unknown("DiskPressure"), unknown("PIDPressure"), unknown("Ready")]}});
            let _ = nodes
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                .await;
            let mut with = taints.clone();
            if !tainted {
                with.push(
                    serde_json::from_value(
                        json!({"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": t}),
                    )
                    .unwrap_or_default(),
                );
                with.push(
                    serde_json::from_value(
                        json!({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": t}),
                    )
                    .unwrap_or_default(),
                );
            }
            let _ = nodes
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"spec": {"taints": with}})),
                )
                .await;
            log::info(format!(
                "node {name} hasn't been updated for more than {grace:?}: Ready set to Unknown"
            ));
        } else if !silent && ready.as_deref() == Some("True") && tainted {
            let kept: Vec<_> = taints
                .into_iter()
                .filter(|t| t.key != UNREACHABLE)
                .collect();
            let _ = nodes
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"spec": {"taints": kept}})),
                )
                .await;
        }
    }
}

/// The Node's finalizers without `finalizer`, written with a compare-and-swap (a Node
/// changed meanwhile is handled on the next round).
async fn drop_finalizer(nodes: &Api<Node>, n: &Node, finalizer: &str) {
    let (Some(name), Some(finalizers)) = (n.metadata.name.as_deref(), &n.metadata.finalizers)
    else {
        return;
    };
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
    let patch =
        json!({"metadata": {"finalizers": kept, "resourceVersion": n.metadata.resource_version}});
    let _ = nodes
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
}

/// The deleted Nodes still holding `finalizer`.
fn deleting<'a>(all: &'a [Node], finalizer: &'a str) -> impl Iterator<Item = &'a Node> {
    all.iter().filter(move |n| {
        n.metadata.deletion_timestamp.is_some()
            && n.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == finalizer)
    })
}

/// A deleted Node takes its node-password Secret with it (k3s's node controller removes the
/// Secret in its finalizer `wrangler.cattle.io/node`), so a reinstalled host can rejoin.
async fn finalize(client: &kube::Client, nodes: &Api<Node>, all: &[Node]) {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "kube-system");
    for n in deleting(all, FINALIZER) {
        let Some(name) = n.metadata.name.as_deref() else {
            continue;
        };
        let secret = super::nodepass::secret_name(name);
        match secrets.delete(&secret, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                log::warn(format!("Unable to remove node password: {e}"));
                continue;
            }
        }
        drop_finalizer(nodes, n, FINALIZER).await;
    }
}

/// A deleted server's Node takes its etcd member with it (k3s's etcd member controller,
/// finalizer `wrangler.cattle.io/managed-etcd-controller`): the member named by the Node's
/// annotations is removed from the cluster, then the finalizer.
async fn remove_members(etcd: &EtcdStore, nodes: &Api<Node>, all: &[Node]) {
    for n in deleting(all, ETCD_FINALIZER) {
        let annotation = |k: &str| {
            n.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .cloned()
                .unwrap_or_default()
        };
        let (member, address) = (annotation(ETCD_NAME), annotation(ETCD_ADDRESS));
        log::info("Removing etcd member from cluster due to node delete");
        let Ok(members) = etcd.member_list().await else {
            continue;
        };
        let found = members.iter().find(|m| {
            m.name == member
                && m.peer_urls.iter().any(|p| {
                    url::Url::parse(p)
                        .ok()
                        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']) == address))
                        .unwrap_or(false)
                })
        });
        if let Some(m) = found {
            log::info(format!(
                "Removing name={} id={} address={address} from etcd",
                m.name, m.id
            ));
            if let Err(e) = etcd.member_remove(m.id).await
                && !e.to_string().contains("member not found")
            {
                log::error(format!("Failed to remove etcd member {}: {e}", m.name));
                continue;
            }
        }
        drop_finalizer(nodes, n, ETCD_FINALIZER).await;
    }
}

/// The node controller's finalizer.
const FINALIZER: &str = "wrangler.cattle.io/node";

/// The etcd member controller's finalizer and the annotations naming a server's member.
pub const ETCD_FINALIZER: &str = "wrangler.cattle.io/managed-etcd-controller";
pub const ETCD_NAME: &str = "etcd.k3s.cattle.io/node-name";
pub const ETCD_ADDRESS: &str = "etcd.k3s.cattle.io/node-address";

/// What the controllers need.
#[derive(Clone)]
pub struct Controllers {
    pub client: kube::Client,
    pub cluster_cidr: Ipv4Net,
    /// The node-monitor grace period.
    pub grace: Duration,
    /// How often they run.
    pub every: Duration,
    /// Whether this server holds the controllers' lease (see `leader.rs`).
    pub leads: tokio::sync::watch::Receiver<bool>,
    /// The embedded etcd, whose members follow their Nodes.
    pub etcd: Option<EtcdStore>,
}

/// Runs the controllers every `every`, while this server leads, until the process ends.
pub async fn run(mut c: Controllers) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    loop {
        let leads = *c.leads.borrow_and_update();
        if leads && let Ok(list) = nodes.list(&ListParams::default()).await {
            finalize(&c.client, &nodes, &list.items).await;
            if let Some(etcd) = &c.etcd {
                remove_members(etcd, &nodes, &list.items).await;
            }
            allocate_cidrs(&nodes, &list.items, c.cluster_cidr).await;
            lifecycle(&c.client, &nodes, &list.items, c.grace).await;
        }
        // Sooner when this server has just been elected.
        tokio::select! {
            () = tokio::time::sleep(c.every) => {}
            _ = c.leads.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_cidrs_are_the_clusters_24s_in_order() {
        let s: Vec<String> = subnets("10.42.0.0/16".parse().unwrap())
            .take(3)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(s, ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"]);
        assert_eq!(subnets("10.42.0.0/16".parse().unwrap()).count(), 256);
    }
}

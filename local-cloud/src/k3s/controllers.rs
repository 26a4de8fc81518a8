//! What the server's controller-manager does that a user of the stand-in sees: a `/24` pod
//! CIDR per node from `cluster-cidr`, and the node lifecycle: a node whose Lease has not
//! been renewed for the node-monitor grace period gets `Ready=Unknown` ("Kubelet stopped
//! posting node status.") and the `unreachable` taints, removed once it is back.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

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
    for n in all {
        if n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some() {
            continue;
        }
        let (Some(name), Some(cidr)) = (n.metadata.name.as_deref(), free.next()) else {
            continue;
        };
        let patch = json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
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

/// A deleted Node takes its node-password Secret with it (k3s's node controller removes the
/// Secret in its finalizer `wrangler.cattle.io/node`), so a reinstalled host can rejoin.
async fn finalize(client: &kube::Client, nodes: &Api<Node>, all: &[Node]) {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "kube-system");
    for n in all {
        let (Some(name), Some(_)) = (
            n.metadata.name.as_deref(),
            n.metadata.deletion_timestamp.as_ref(),
        ) else {
            continue;
        };
        let finalizers = n.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            continue;
        }
        let secret = super::nodepass::secret_name(name);
        match secrets.delete(&secret, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                log::warn(format!("Unable to remove node password: {e}"));
                continue;
            }
        }
        let kept: Vec<String> = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
        let patch = json!({"metadata": {"finalizers": kept}});
        let _ = nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
    }
}

/// The node controller's finalizer.
const FINALIZER: &str = "wrangler.cattle.io/node";

/// Runs both controllers every `every` until the process ends.
pub async fn run(client: kube::Client, cluster: Ipv4Net, grace: Duration, every: Duration) {
    let nodes: Api<Node> = Api::all(client.clone());
    loop {
        if let Ok(list) = nodes.list(&ListParams::default()).await {
            finalize(&client, &nodes, &list.items).await;
            allocate_cidrs(&nodes, &list.items, cluster).await;
            lifecycle(&client, &nodes, &list.items, grace).await;
        }
        tokio::time::sleep(every).await;
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

//! Taking a node out of service the way `kubectl drain` does, through the API: cordon
//! (`spec.unschedulable`), evict every pod bound to it except DaemonSet pods and static
//! (mirror) pods, wait until they are gone; and the reverse (uncordon), and deleting the Node
//! object once its machine is to go.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams};

use super::client::KubeError;

/// Sets or clears `spec.unschedulable` on `node` (a merge patch, as `kubectl cordon`). A
/// node that has not registered yet has nothing to cordon.
pub async fn cordon(client: &kube::Client, node: &str, on: bool) -> Result<(), KubeError> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = serde_json::json!({"spec": {"unschedulable": if on { Some(true) } else { None }}});
    match api
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 && on => Ok(()),
        Err(e) => Err(KubeError::api(format!(
            "{} node {node}",
            if on { "cordoning" } else { "uncordoning" }
        ))(e)),
    }
}

/// The pods a drain evicts from `node`: bound to it, not owned by a DaemonSet, not a mirror
/// pod, not already finished.
fn evictable(pods: Vec<Pod>, node: &str) -> Vec<Pod> {
    pods.into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .filter(|p| {
            !p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "DaemonSet")
        })
        .filter(|p| {
            !p.metadata
                .annotations
                .iter()
                .flatten()
                .any(|(k, _)| k == "kubernetes.io/config.mirror")
        })
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .collect()
}

/// Cordons `node` and evicts its pods (respecting PodDisruptionBudgets: a refused eviction
/// is retried until `timeout`), then waits until none is left.
pub async fn drain(client: &kube::Client, node: &str, timeout: Duration) -> Result<(), KubeError> {
    cordon(client, node, true).await?;
    let all: Api<Pod> = Api::all(client.clone());
    let work = async {
        loop {
            let pods = all
                .list(&ListParams::default())
                .await
                .map_err(KubeError::api(format!("listing the pods of node {node}")))?;
            let left = evictable(pods.items, node);
            if left.is_empty() {
                return Ok(());
            }
            for p in &left {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                // 429: a disruption budget says not now; try again on the next round.
                if let Err(e) = api.evict(&name, &EvictParams::default()).await
                    && !matches!(&e, kube::Error::Api(s) if s.code == 429 || s.code == 404)
                {
                    return Err(KubeError::api(format!("evicting {ns}/{name} from {node}"))(
                        e,
                    ));
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| KubeError::Timeout {
            what: format!("draining node {node}"),
            secs: timeout.as_secs(),
            waiting: vec!["its pods to be evicted".into()],
        })?
}

/// Deletes the Node object `node` (gone already is fine).
pub async fn delete(client: &kube::Client, node: &str) -> Result<(), KubeError> {
    let api: Api<Node> = Api::all(client.clone());
    match api.delete(node, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(KubeError::api(format!("deleting node {node}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: &str, owner: Option<&str>, mirror: bool, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "p", "namespace": "ns",
                "ownerReferences": owner.map(|k| vec![serde_json::json!({
                    "apiVersion": "apps/v1", "kind": k, "name": "o", "uid": "u"})]),
                "annotations": if mirror { Some(serde_json::json!({"kubernetes.io/config.mirror": "x"})) } else { None },
            },
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn a_drain_evicts_what_kubectl_drain_evicts() {
        let pods = vec![
            pod("a", Some("ReplicaSet"), false, "Running"),
            pod("a", Some("DaemonSet"), false, "Running"),
            pod("a", None, true, "Running"),
            pod("a", None, false, "Succeeded"),
            pod("b", Some("ReplicaSet"), false, "Running"),
            pod("a", None, false, "Pending"),
        ];
        let left = evictable(pods, "a");
        assert_eq!(left.len(), 2, "{left:?}");
    }
}

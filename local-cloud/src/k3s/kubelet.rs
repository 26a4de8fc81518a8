//! The node side of the stand-in (what k3s's embedded kubelet and agent make visible): the
//! Node object as k3s registers and labels it, and the heartbeats (a Lease in
//! `kube-node-lease` renewed every few seconds, the `Ready` condition kept `True`). No pod
//! ever runs.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::log;
use super::settings::Settings;

/// The field manager of the kubelet's writes.
const MANAGER: &str = "k3s-kubelet";

/// The RFC 3339 time of now, whole seconds (`Time`) or with microseconds (`MicroTime`).
pub fn now(micro: bool) -> String {
    let t = time::OffsetDateTime::now_utc();
    let t = if micro {
        t.replace_nanosecond(t.microsecond() * 1000).unwrap_or(t)
    } else {
        t.replace_nanosecond(0).unwrap_or(t)
    };
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The facts of this host the Node shows (`/etc/os-release`, `uname -r`, machine id).
fn node_info(version: &str) -> Value {
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let pretty = os
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".into());
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    json!({
        "architecture": "amd64",
        "bootID": read("/proc/sys/kernel/random/boot_id"),
        "containerRuntimeVersion": "containerd://2.0.5-k3s1",
        "kernelVersion": read("/proc/sys/kernel/osrelease"),
        "kubeProxyVersion": "",
        "kubeletVersion": version,
        "machineID": read("/etc/machine-id"),
        "operatingSystem": "linux",
        "osImage": pretty,
        "systemUUID": read("/etc/machine-id"),
    })
}

/// The conditions of a healthy node, as the kubelet words them.
pub fn healthy_conditions() -> Value {
    let t = now(false);
    let c = |ty: &str, status: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": t, "lastTransitionTime": t})
    };
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

/// base32 (standard alphabet, `=` padded) as k3s writes `k3s.io/node-config-hash`.
fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(A[((n >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The Node a fresh registration creates: labels, annotations, taints and status as k3s
/// and its kubelet set them. `roles` are the server's role labels (empty for an agent).
pub fn node_object(s: &Settings, version: &str, roles: &[&str]) -> Value {
    let name = &s.node_name;
    let mut labels: BTreeMap<String, String> = BTreeMap::from([
        ("kubernetes.io/hostname".into(), name.clone()),
        ("kubernetes.io/os".into(), "linux".into()),
        ("kubernetes.io/arch".into(), "amd64".into()),
        ("beta.kubernetes.io/os".into(), "linux".into()),
        ("beta.kubernetes.io/arch".into(), "amd64".into()),
        ("node.kubernetes.io/instance-type".into(), "k3s".into()),
        ("beta.kubernetes.io/instance-type".into(), "k3s".into()),
    ]);
    for r in roles {
        labels.insert(format!("node-role.kubernetes.io/{r}"), "true".into());
    }
    for l in &s.node_labels {
        if let Some((k, v)) = l.split_once('=') {
            labels.insert(k.into(), v.into());
        }
    }
    let ips: Vec<String> = s.node_ips.iter().map(ToString::to_string).collect();
    let ext: Vec<String> = s
        .node_external_ips
        .iter()
        .map(ToString::to_string)
        .collect();
    let args = json!(s.parsed.node_args).to_string();
    let env = json!(s.parsed.node_env).to_string();
    let hash = {
        use sha2::Digest;
        base32(&sha2::Sha256::digest(format!("{args}{env}").as_bytes()))
    };
    let mut annotations = BTreeMap::from([
        ("k3s.io/hostname".to_owned(), name.clone()),
        ("k3s.io/internal-ip".to_owned(), ips.join(",")),
        ("k3s.io/node-args".to_owned(), args),
        ("k3s.io/node-env".to_owned(), env),
        ("k3s.io/node-config-hash".to_owned(), hash),
        ("node.alpha.kubernetes.io/ttl".to_owned(), "0".to_owned()),
        (
            "volumes.kubernetes.io/controller-managed-attach-detach".to_owned(),
            "true".to_owned(),
        ),
        (
            "flannel.alpha.coreos.com/backend-type".to_owned(),
            s.flannel_backend.clone(),
        ),
        (
            "flannel.alpha.coreos.com/kube-subnet-manager".to_owned(),
            "true".to_owned(),
        ),
    ]);
    if let Some(ip) = ips.first() {
        annotations.insert("flannel.alpha.coreos.com/public-ip".into(), ip.clone());
        annotations.insert("alpha.kubernetes.io/provided-node-ip".into(), ip.clone());
    }
    if s.flannel_backend == "vxlan" {
        annotations.insert(
            "flannel.alpha.coreos.com/backend-data".into(),
            json!({"VNI": 1, "VtepMAC": "02:42:ac:11:00:02"}).to_string(),
        );
    }
    if !ext.is_empty() {
        annotations.insert("k3s.io/external-ip".into(), ext.join(","));
    }
    let mut addresses: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip}))
        .collect();
    addresses.extend(
        ext.iter()
            .map(|ip| json!({"type": "ExternalIP", "address": ip})),
    );
    addresses.push(json!({"type": "Hostname", "address": name}));
    let taints: Vec<Value> = s
        .node_taints
        .iter()
        .filter_map(|t| {
            let (kv, effect) = t.rsplit_once(':')?;
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some(json!({"key": k, "value": v, "effect": effect}))
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations,
            "finalizers": ["wrangler.cattle.io/node"]},
        "spec": {"providerID": format!("k3s://{name}"), "taints": taints},
        "status": {
            "addresses": addresses,
            "capacity": {"cpu": "2", "memory": "4012300Ki", "pods": "110", "ephemeral-storage": "20470Mi"},
            "allocatable": {"cpu": "2", "memory": "4012300Ki", "pods": "110", "ephemeral-storage": "20470Mi"},
            "conditions": healthy_conditions(),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": node_info(version),
        },
    })
}

/// Registers the node (or refreshes a known one's labels, annotations and status, as the
/// agent re-applies them on every start).
pub async fn register(client: &kube::Client, node: &Value) -> kube::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    let obj: Node = serde_json::from_value(node.clone()).map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let meta = json!({"metadata": {
                "labels": node["metadata"]["labels"],
                "annotations": node["metadata"]["annotations"],
            }});
            nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&meta))
                .await?;
        }
        Err(e) => return Err(e),
    }
    let status = json!({"status": node["status"]});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// Renews the node's Lease in `kube-node-lease` (creating it, owned by the Node).
pub async fn renew_lease(client: &kube::Client, node: &str, uid: Option<&str>) -> kube::Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let mut lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now(true)},
    });
    if let Some(uid) = uid {
        lease["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid}]);
    }
    leases
        .patch(
            node,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&lease),
        )
        .await?;
    Ok(())
}

/// Keeps the node alive: renews the Lease every heartbeat and puts `Ready` back to `True`
/// when the node controller marked it unknown (as the kubelet's status loop does). Runs
/// until the process ends.
pub async fn heartbeats(client: kube::Client, node: String, every: Duration) {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut failing = false;
    loop {
        let current = nodes.get_opt(&node).await.ok().flatten();
        let ready = current
            .as_ref()
            .and_then(|n| n.status.as_ref()?.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        if current.is_some() && !ready {
            let status = json!({"status": {"conditions": healthy_conditions()}});
            let _ = nodes
                .patch_status(&node, &PatchParams::default(), &Patch::Merge(&status))
                .await;
        }
        let uid = current.and_then(|n| n.metadata.uid);
        match renew_lease(&client, &node, uid.as_deref()).await {
            Ok(()) if failing => {
                failing = false;
                log::info(format!("Lease of node {node} renewed again"));
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                log::error(format!("failed to update lease of node {node}: {e}"));
            }
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY======");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI======");
    }
}

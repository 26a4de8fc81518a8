//! Nodes as the API reports them, and waiting until the expected ones are Ready at the
//! expected version, driven by a watch (no polling loop), bounded by a timeout of our own.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;

use super::client::KubeError;

/// One node as `platform status` and the nodes phase report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub name: String,
    /// The `Ready` condition: `True`, `False` or `Unknown` (`Unknown` also when absent).
    pub ready: String,
    /// `status.nodeInfo.kubeletVersion`.
    pub version: String,
    /// From the `node-role.kubernetes.io/<role>` labels, sorted.
    pub roles: Vec<String>,
    /// Cordoned (`spec.unschedulable`).
    pub cordoned: bool,
}

impl NodeStatus {
    /// Whether the node is Ready.
    pub fn is_ready(&self) -> bool {
        self.ready == "True"
    }
}

/// What the API says of `node`.
pub fn status_of(node: &Node) -> NodeStatus {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "Unknown".into());
    let version = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default();
    let mut roles: Vec<String> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .map(str::to_owned)
        .collect();
    roles.sort();
    NodeStatus {
        name: node.metadata.name.clone().unwrap_or_default(),
        ready,
        version,
        roles,
        cordoned: node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
    }
}

/// Every node of the cluster, by name.
pub async fn list(client: &kube::Client) -> Result<Vec<NodeStatus>, KubeError> {
    let api: Api<Node> = Api::all(client.clone());
    let nodes = api
        .list(&Default::default())
        .await
        .map_err(KubeError::api("listing nodes"))?;
    let mut out: Vec<NodeStatus> = nodes.items.iter().map(status_of).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Why `expected` (name -> version) is not all Ready yet: one line per node that is not.
fn missing(
    expected: &BTreeMap<String, String>,
    seen: &BTreeMap<String, NodeStatus>,
) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(name, version)| match seen.get(name) {
            None => Some(format!("{name}: not registered")),
            Some(s) if !s.is_ready() => Some(format!("{name}: Ready={}", s.ready)),
            Some(s) if s.version != *version => {
                Some(format!("{name}: runs {} (want {version})", s.version))
            }
            Some(_) => None,
        })
        .collect()
}

/// Waits until every node of `expected` (name -> kubelet version) is Ready at its version,
/// calling `on_ready` once for each as it gets there; fails after `timeout` naming each node
/// still missing and why. Nodes not in `expected` are ignored.
pub async fn wait_ready(
    client: &kube::Client,
    expected: &BTreeMap<String, String>,
    timeout: Duration,
    on_ready: &(dyn Fn(&NodeStatus) + Send + Sync),
) -> Result<Vec<NodeStatus>, KubeError> {
    let api: Api<Node> = Api::all(client.clone());
    let mut seen: BTreeMap<String, NodeStatus> = BTreeMap::new();
    let mut reported: std::collections::BTreeSet<String> = Default::default();
    // A failed watch (a server restarting, a connection reset) is retried with backoff; the
    // last error is reported if time runs out.
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut last_error = None;
    let watch = async {
        // Until the first full list is in, a node missing from `seen` proves nothing.
        let mut listed = false;
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(e) => e,
                Err(e) => {
                    last_error = Some(e.to_string());
                    continue;
                }
            };
            match event {
                watcher::Event::Init => seen.clear(),
                watcher::Event::InitApply(n) | watcher::Event::Apply(n) => {
                    let s = status_of(&n);
                    seen.insert(s.name.clone(), s);
                }
                watcher::Event::Delete(n) => {
                    seen.remove(n.metadata.name.as_deref().unwrap_or_default());
                }
                watcher::Event::InitDone => listed = true,
            }
            for (name, version) in expected {
                if let Some(s) = seen.get(name)
                    && s.is_ready()
                    && s.version == *version
                    && reported.insert(name.clone())
                {
                    on_ready(s);
                }
            }
            if listed && missing(expected, &seen).is_empty() {
                return Ok(());
            }
        }
        Err(KubeError::Config("the node watch ended".into()))
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(Ok(())) => Ok(expected
            .keys()
            .filter_map(|n| seen.get(n).cloned())
            .collect()),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            let mut waiting = missing(expected, &seen);
            if let Some(e) = last_error {
                waiting.push(format!("(last error from the API: {e})"));
            }
            Err(KubeError::Timeout {
                what: "nodes not Ready".into(),
                secs: timeout.as_secs(),
                waiting,
            })
        }
    }
}

//! The `nodes` phase's outputs in state: the version every node runs (and the channel it was
//! resolved from), the API address, the kubeconfig's path and the nodes with their roles.
//! Never the token. Stable across no-op runs, so `gitops`'s fingerprint follows the cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::plan::Roles;
use crate::config::Config;
use crate::error::Error;
use crate::kube::{self as k8s, client::KubeError};
use crate::runner::Verification;

/// What the phase recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodesOutputs {
    /// The k3s release every node runs.
    pub version: String,
    /// The channel `version` was resolved from; `None` when `k3s.version` pins it.
    pub channel: Option<String>,
    /// `download`, `upload` or `airgap`.
    pub install: String,
    /// The API URL the kubeconfig uses.
    pub api_server: String,
    /// The admin kubeconfig (0600).
    pub kubeconfig: String,
    /// The server that initialized the cluster.
    pub init_server: String,
    pub nodes: Vec<NodeRecord>,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The Node's name (the host's `node_name`).
    pub name: String,
    /// The inventory host.
    pub host: String,
    /// `server` or `agent`.
    pub role: String,
    pub version: String,
}

impl NodesOutputs {
    /// The outputs for `roles` all at `version`; `node_name` maps an inventory host to its
    /// Node's name.
    pub fn new(
        config: &Config,
        roles: &Roles,
        node_name: &dyn Fn(&str) -> String,
        version: &str,
        api_server: &str,
    ) -> Self {
        let mut nodes: Vec<NodeRecord> = std::iter::once(&roles.init)
            .chain(&roles.servers)
            .map(|n| (n, "server"))
            .chain(roles.agents.iter().map(|n| (n, "agent")))
            .map(|(host, role)| NodeRecord {
                name: node_name(host),
                host: host.clone(),
                role: role.into(),
                version: version.into(),
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        NodesOutputs {
            version: version.into(),
            channel: config
                .k3s
                .version
                .is_none()
                .then(|| config.k3s.channel.clone()),
            install: serde_json::to_value(config.k3s.install)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            api_server: api_server.into(),
            kubeconfig: config.paths().kubeconfig().display().to_string(),
            init_server: roles.init.clone(),
            nodes,
        }
    }

    /// Each node's expected kubelet version, by name.
    pub fn expected(&self) -> BTreeMap<String, String> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.version.clone()))
            .collect()
    }

    /// As JSON for the state file.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A client from the cluster's kubeconfig in the state directory.
pub async fn client(config: &Config) -> Result<kube::Client, Error> {
    k8s::client::client(&kubeconfig(config)?)
        .await
        .map_err(kube_err)
}

/// Like [`client`], counting its requests and writes.
pub async fn counted_client(
    config: &Config,
) -> Result<(kube::Client, k8s::client::RequestCount), Error> {
    k8s::client::counted_client(&kubeconfig(config)?)
        .await
        .map_err(kube_err)
}

/// The cluster's kubeconfig document from the state directory.
fn kubeconfig(config: &Config) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let path = config.paths().kubeconfig();
    let text = crate::fsutil::read_capped(&path, crate::fsutil::caps::CONFIG)
        .map_err(|e| Error::Failed(format!("the cluster's kubeconfig: {e}")))?;
    k8s::kubeconfig::parse(&text, &path.display().to_string())
        .map_err(|e| Error::Failed(e.to_string()))
}

/// A Kubernetes error as the product's.
pub fn kube_err(e: KubeError) -> Error {
    Error::Failed(e.to_string())
}

/// The live check before a skip: every recorded node is Ready at its recorded version.
pub async fn verify(config: &Config, outputs: &serde_json::Value) -> Verification {
    let Ok(rec) = serde_json::from_value::<NodesOutputs>(outputs.clone()) else {
        return Verification::Differs("no nodes recorded".into());
    };
    let check = async {
        let client = client(config).await?;
        k8s::nodes::list(&client).await.map_err(kube_err)
    };
    let listed = match tokio::time::timeout(Duration::from_secs(30), check).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Verification::Failed(e.to_string()),
        Err(_) => return Verification::Failed("the API did not answer within 30 s".into()),
    };
    let by_name: BTreeMap<&str, &k8s::nodes::NodeStatus> =
        listed.iter().map(|n| (n.name.as_str(), n)).collect();
    for n in &rec.nodes {
        match by_name.get(n.name.as_str()) {
            None => return Verification::Differs(format!("node {} is not registered", n.name)),
            Some(s) if !s.is_ready() => {
                return Verification::Differs(format!(
                    "node {} is not Ready ({})",
                    n.name, s.ready
                ));
            }
            Some(s) if s.version != n.version => {
                return Verification::Differs(format!(
                    "node {} runs {} (recorded {})",
                    n.name, s.version, n.version
                ));
            }
            Some(_) => {}
        }
    }
    Verification::Matches
}

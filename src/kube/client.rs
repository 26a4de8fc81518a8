//! A `kube` client from the cluster's kubeconfig document: the one way the product talks to
//! a cluster's API, with the kubeconfig's own CA and client certificate.

use std::time::Duration;

use serde_json::{Map, Value};

/// What went wrong talking to a cluster.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The kubeconfig could not be turned into a client.
    #[error("cannot use the cluster's kubeconfig: {0}")]
    Config(String),
    /// A request failed (the API's status, or the connection).
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// A wait ran out of time; `waiting` says what was still missing, one item a line.
    #[error("{what} after {secs} s; still waiting for:\n  {}", waiting.join("\n  "))]
    Timeout {
        what: String,
        secs: u64,
        waiting: Vec<String>,
    },
}

impl KubeError {
    /// Wraps a `kube` error with what was being done.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> KubeError {
        let what = what.into();
        move |e| KubeError::Api {
            what,
            source: Box::new(e),
        }
    }
}

/// How long a connection may take, and a single request (watches are not bounded by it).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for the cluster `doc` describes (its current context).
pub async fn client(doc: &Map<String, Value>) -> Result<kube::Client, KubeError> {
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(Value::Object(doc.clone()))
        .map_err(|e| KubeError::Config(e.to_string()))?;
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| KubeError::Config(e.to_string()))?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    kube::Client::try_from(config).map_err(|e| KubeError::Config(e.to_string()))
}

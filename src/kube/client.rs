//! A `kube` client from the cluster's kubeconfig document: the one way the product talks to
//! a cluster's API, with the kubeconfig's own CA and client certificate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// A manifest that is not a Kubernetes object, or names a kind the API does not serve.
    #[error("{0}")]
    Invalid(String),
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
    kube::Client::try_from(config(doc).await?).map_err(|e| KubeError::Config(e.to_string()))
}

/// The client configuration for the cluster `doc` describes, with our timeouts.
async fn config(doc: &Map<String, Value>) -> Result<kube::Config, KubeError> {
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
    Ok(config)
}

/// Requests a client sent, and how many of them were writes (a create, update, patch or
/// delete that was not a dry run): how `up` shows that a re-run changed nothing.
#[derive(Clone, Debug, Default)]
pub struct RequestCount {
    requests: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

impl RequestCount {
    /// Counts one request.
    fn record<B>(&self, req: &http::Request<B>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let dry = req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "dryRun=All"));
        let write = matches!(
            *req.method(),
            http::Method::POST | http::Method::PUT | http::Method::PATCH | http::Method::DELETE
        );
        if write && !dry {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// Like [`client`], counting every request the client sends.
pub async fn counted_client(
    doc: &Map<String, Value>,
) -> Result<(kube::Client, RequestCount), KubeError> {
    let config = config(doc).await?;
    let count = RequestCount::default();
    let seen = count.clone();
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| KubeError::Config(e.to_string()))?;
    let client = builder
        .with_layer(&tower::util::MapRequestLayer::new(
            move |req: http::Request<kube::client::Body>| {
                seen.record(&req);
                req
            },
        ))
        .build();
    Ok((client, count))
}

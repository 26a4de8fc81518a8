//! HTTP/1.1 to etcd's JSON gateway on several client URLs, like etcd's own client: every
//! call is bounded by a deadline, goes to the endpoint that answered last, and moves on to
//! the next one when an endpoint cannot be reached (reads also when a member answers
//! "unavailable", e.g. `etcdserver: request timed out`); writes are never re-sent once
//! etcd may have seen them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::wire::{UnaryError, WireError};

/// gRPC status code `Unavailable`: etcd's "no leader", "request timed out", "leader changed".
pub const UNAVAILABLE: i32 = 14;

/// Go's names of gRPC status codes, as its errors print them.
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "Canceled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

/// How a call to etcd failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// etcd answered with a gRPC error. Displayed as a Go client (kube-apiserver) shows it:
    /// etcd's own errors (`etcdserver: ...`) as they are, others as `rpc error: code = ...`.
    #[error("{}", render(*.code, .message))]
    Etcd { code: i32, message: String },
    /// No answer before the deadline (no member reachable, or none could answer in time).
    #[error("no answer from etcd within {after:?} (last: {last})")]
    Timeout { after: Duration, last: String },
    /// The connection broke after a write was sent: it may or may not have been applied.
    #[error("rpc error: code = Unavailable desc = {0}")]
    Lost(String),
    #[error(transparent)]
    Wire(#[from] WireError),
}

fn render(code: i32, message: &str) -> String {
    if message.starts_with("etcdserver: ") {
        message.to_string()
    } else {
        format!("rpc error: code = {} desc = {message}", code_name(code))
    }
}

impl CallError {
    /// Whether etcd said the requested revision was compacted.
    pub fn is_compacted(&self) -> bool {
        matches!(self, CallError::Etcd { message, .. } if message.ends_with("required revision has been compacted"))
    }

    /// Whether etcd said the requested revision is in the future.
    pub fn is_future(&self) -> bool {
        matches!(self, CallError::Etcd { message, .. } if message.ends_with("required revision is a future revision"))
    }
}

/// Whether a call may be sent again to another member after etcd answered "unavailable".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// What one attempt on one endpoint gave.
pub enum Attempt {
    /// The request never left: the endpoint refused or did not accept the connection.
    Unsent(String),
    /// The connection broke after the request was sent.
    Lost(String),
    /// etcd answered with an error.
    Etcd { code: i32, message: String },
}

impl Attempt {
    fn describe(&self) -> String {
        match self {
            Attempt::Unsent(m) | Attempt::Lost(m) => m.clone(),
            Attempt::Etcd { code, message } => render(*code, message),
        }
    }
}

/// The endpoints and the pooled HTTP client.
pub struct Transport {
    endpoints: Vec<String>,
    http: Client<HttpConnector, Full<Bytes>>,
    preferred: AtomicUsize,
    /// The bound on one store call, every endpoint it tries included.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoints", &self.endpoints)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport to `endpoints` (`http://host:port`, validated by the caller).
    pub fn new(endpoints: Vec<String>, request_timeout: Duration, dial_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(dial_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            endpoints,
            http,
            preferred: AtomicUsize::new(0),
            request_timeout,
        }
    }

    /// The client URLs, in configuration order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The endpoint the next call starts with.
    pub fn preferred(&self) -> usize {
        self.preferred.load(Ordering::Relaxed) % self.endpoints.len()
    }

    /// Moves on from endpoint `idx` (unless another call already did).
    pub fn rotate(&self, idx: usize) {
        let next = (idx + 1) % self.endpoints.len();
        let _ = self
            .preferred
            .compare_exchange(idx, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Sends one POST to endpoint `idx`; `require_leader` asks the member to refuse (and to
    /// end a stream) when it has no leader, as clientv3's `WithRequireLeader`.
    pub async fn send(
        &self,
        idx: usize,
        path: &str,
        body: Bytes,
        require_leader: bool,
    ) -> Result<hyper::Response<Incoming>, Attempt> {
        let mut req = hyper::Request::post(format!("{}{path}", self.endpoints[idx]))
            .header(http::header::CONTENT_TYPE, "application/json");
        if require_leader {
            // The gateway turns `Grpc-Metadata-*` headers into gRPC metadata.
            req = req.header("Grpc-Metadata-hasleader", "true");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| Attempt::Unsent(e.to_string()))?;
        self.http.request(req).await.map_err(|e| {
            let what = format!("{}: {e}", self.endpoints[idx]);
            if e.is_connect() {
                Attempt::Unsent(what)
            } else {
                Attempt::Lost(what)
            }
        })
    }

    /// One unary call on endpoint `idx`: the answer's bytes, or what went wrong.
    async fn attempt(&self, idx: usize, path: &str, body: Bytes) -> Result<Bytes, Attempt> {
        let resp = self.send(idx, path, body, false).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Attempt::Lost(format!("{}: {e}", self.endpoints[idx])))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        match serde_json::from_slice::<UnaryError>(&bytes) {
            Ok(e) if !e.message.is_empty() || !e.error.is_empty() => Err(Attempt::Etcd {
                code: e.code,
                message: if e.message.is_empty() {
                    e.error
                } else {
                    e.message
                },
            }),
            _ => Err(Attempt::Etcd {
                code: 2,
                message: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            }),
        }
    }

    /// A unary call with failover, bounded by the request timeout.
    pub async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
        kind: Kind,
    ) -> Result<T, CallError> {
        self.call_on(None, path, body, kind).await
    }

    /// Like [`Transport::call`], on one endpoint only when `pinned` is set.
    pub async fn call_on<T: DeserializeOwned>(
        &self,
        pinned: Option<usize>,
        path: &str,
        body: &serde_json::Value,
        kind: Kind,
    ) -> Result<T, CallError> {
        let body = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        let deadline = Instant::now() + self.request_timeout;
        let mut failures = 0usize;
        let mut last = String::from("nothing tried");
        loop {
            let idx = pinned.unwrap_or_else(|| self.preferred());
            let attempt = tokio::time::timeout_at(deadline, self.attempt(idx, path, body.clone()));
            let err = match attempt.await {
                Err(_) => return Err(self.timeout(last)),
                Ok(Ok(bytes)) => {
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| CallError::Wire(WireError(format!("{path}: {e}"))));
                }
                Ok(Err(e)) => e,
            };
            last = err.describe();
            match err {
                Attempt::Unsent(_) => {}
                Attempt::Lost(_)
                | Attempt::Etcd {
                    code: UNAVAILABLE, ..
                } if kind == Kind::Read => {}
                Attempt::Lost(m) => return Err(CallError::Lost(m)),
                Attempt::Etcd { code, message } => return Err(CallError::Etcd { code, message }),
            }
            if pinned.is_none() {
                self.rotate(idx);
            }
            failures += 1;
            let round = if pinned.is_some() {
                1
            } else {
                self.endpoints.len()
            };
            if let Some(pause) = pause_after(failures, round) {
                if Instant::now() + pause >= deadline {
                    return Err(self.timeout(last));
                }
                tokio::time::sleep(pause).await;
            }
        }
    }

    fn timeout(&self, last: String) -> CallError {
        CallError::Timeout {
            after: self.request_timeout,
            last,
        }
    }
}

/// The pause after `failures` failed attempts on `n` endpoints: none inside a round, then
/// 100 ms doubling up to 800 ms after each full round (clientv3 backs off between its
/// retries too, and retries until the deadline).
pub fn pause_after(failures: usize, n: usize) -> Option<Duration> {
    failures
        .is_multiple_of(n.max(1))
        .then(|| Duration::from_millis(50 << (failures / n.max(1)).min(4)))
}

/// Shared handle.
pub type Shared = Arc<Transport>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_as_a_go_client_prints_them() {
        let known = CallError::Etcd {
            code: 14,
            message: "etcdserver: request timed out".into(),
        };
        assert_eq!(known.to_string(), "etcdserver: request timed out");
        let plain = CallError::Etcd {
            code: 2,
            message: "context deadline exceeded".into(),
        };
        assert_eq!(
            plain.to_string(),
            "rpc error: code = Unknown desc = context deadline exceeded"
        );
        let compacted = CallError::Etcd {
            code: 11,
            message: "etcdserver: mvcc: required revision has been compacted".into(),
        };
        assert!(compacted.is_compacted() && !compacted.is_future());
    }
}

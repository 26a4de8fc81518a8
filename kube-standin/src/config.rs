//! What a caller configures: address, TLS material, who may authenticate, and the few
//! cluster values the API shows (service CIDR, version, controller delays).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;

/// An authenticated user, as client certificates and tokens map to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user with the given name and groups (and `system:authenticated`).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        Self {
            name: name.into(),
            uid: String::new(),
            groups,
        }
    }
}

/// The `/version` document (`gitVersion` is what clients show).
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub major: String,
    pub minor: String,
    pub git_version: String,
    pub git_commit: String,
    pub build_date: String,
    pub go_version: String,
    pub platform: String,
}

impl Default for VersionInfo {
    fn default() -> Self {
        Self {
            major: "1".into(),
            minor: "33".into(),
            git_version: "v1.33.1+k3s1".into(),
            git_commit: "standin0000000000000000000000000000000000".into(),
            build_date: "2025-05-20T00:00:00Z".into(),
            go_version: "go1.24.2".into(),
            platform: "linux/amd64".into(),
        }
    }
}

/// The API server's configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0 picks a free one; [`crate::RunningServer::addr`] tells which).
    pub listen: SocketAddr,
    /// The serving certificate chain, PEM (its SANs are the names clients may use).
    pub serving_cert_pem: String,
    /// The serving key, PEM.
    pub serving_key_pem: String,
    /// Client certificates signed by this CA authenticate (user = CN, groups = O).
    pub client_ca_pem: Option<String>,
    /// Bearer tokens (service accounts and the like) and the users they stand for.
    pub tokens: HashMap<String, UserInfo>,
    /// ClusterIPs of Services come from here; the `kubernetes` Service takes the first.
    pub service_cidr: Ipv4Net,
    /// How long the workload controller waits before a Deployment, StatefulSet, DaemonSet or
    /// ReplicaSet reports its replicas ready (0: at once).
    pub workload_ready_delay: Duration,
    /// Revisions of history kept for watches and paged lists (older ones answer 410).
    pub compaction_window: i64,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// What `/version` answers.
    pub version: VersionInfo,
    /// `host:port` shown in `/api`'s `serverAddressByClientCIDRs` and the `kubernetes` Endpoints.
    pub advertise_address: Option<String>,
    /// Paths served on the same port before the API and its authentication (k3s's
    /// supervisor: `/cacerts`, `/ping`, `/v1-k3s/...`), or `None`.
    pub front: Option<Arc<dyn Front>>,
}

/// A request as a [`Front`] sees it: before authentication, with the verified client
/// certificate's identity when one was presented.
#[derive(Debug, Clone)]
pub struct FrontRequest {
    pub method: http::Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub cert_user: Option<UserInfo>,
    pub remote: SocketAddr,
    pub body: bytes::Bytes,
}

/// A front's answer.
#[derive(Debug, Clone)]
pub struct FrontResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Serves some paths of the API server's port itself, before the API does.
#[async_trait::async_trait]
pub trait Front: Send + Sync + std::fmt::Debug + 'static {
    /// Answers `req` when it is one of the front's paths (or the API is not to be reached
    /// yet), else `None` and the API handles it.
    async fn handle(&self, req: &FrontRequest) -> Option<FrontResponse>;
}

impl ServerConfig {
    /// A configuration with k3s's defaults: service CIDR 10.43.0.0/16, ready after 1 s,
    /// 1000 revisions of history, a bookmark a minute.
    pub fn new(listen: SocketAddr, serving_cert_pem: String, serving_key_pem: String) -> Self {
        Self {
            listen,
            serving_cert_pem,
            serving_key_pem,
            client_ca_pem: None,
            tokens: HashMap::new(),
            // k3s's default service CIDR.
            service_cidr: Ipv4Net::new_assert(std::net::Ipv4Addr::new(10, 43, 0, 0), 16),
            workload_ready_delay: Duration::from_secs(1),
            compaction_window: 1000,
            bookmark_interval: Duration::from_secs(60),
            version: VersionInfo::default(),
            advertise_address: None,
            front: None,
        }
    }
}

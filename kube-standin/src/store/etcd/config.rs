//! What the etcd backend is configured with (client URLs, timeouts, TLS material for
//! later), how a bad configuration is reported, and one member's status.

use std::time::Duration;

use super::super::Revision;

/// Client certificate and CA for etcd with mutual TLS (k3s's embedded etcd). Carried by the
/// configuration; not supported by this backend yet.
#[derive(Clone)]
pub struct EtcdTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdTls").finish_non_exhaustive()
    }
}

/// Where etcd is and how long a call may take.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// Client URLs (`http://host:port`), as many members as known; any member serves.
    pub endpoints: Vec<String>,
    /// The bound on one store call, every endpoint it tries included (kube-apiserver's
    /// request deadline plays this part). Above etcd's own 7 s proposal timeout by default,
    /// so a write that etcd cannot commit fails with etcd's answer.
    pub request_timeout: Duration,
    /// The bound on connecting to one endpoint (etcdctl's `--dial-timeout`).
    pub dial_timeout: Duration,
    /// Mutual TLS to etcd (not supported yet: `https://` endpoints and this are refused).
    pub tls: Option<EtcdTls>,
}

impl EtcdConfig {
    /// A configuration for these client URLs with a 10 s request and a 2 s dial timeout.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(10),
            dial_timeout: Duration::from_secs(2),
            tls: None,
        }
    }
}

/// A configuration this backend cannot use.
#[derive(Debug, thiserror::Error)]
pub enum EtcdConfigError {
    #[error("etcd.endpoints: at least one client URL is needed (http://host:port)")]
    NoEndpoints,
    #[error("etcd.endpoints[{index}]: {value:?} is not a client URL; expected http://host:port")]
    BadEndpoint { index: usize, value: String },
    #[error(
        "etcd.endpoints[{index}]: {value:?}: TLS to etcd is not supported yet; use an http:// client URL"
    )]
    HttpsEndpoint { index: usize, value: String },
    #[error("etcd.tls: client certificates for etcd are not supported yet")]
    TlsUnsupported,
    #[error("etcd.request_timeout: must be more than 0")]
    NoTimeout,
}

pub(super) fn check_endpoint(index: usize, value: &str) -> Result<String, EtcdConfigError> {
    let bad = || EtcdConfigError::BadEndpoint {
        index,
        value: value.to_string(),
    };
    let uri: http::Uri = value.parse().map_err(|_| bad())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(EtcdConfigError::HttpsEndpoint {
                index,
                value: value.to_string(),
            });
        }
        _ => return Err(bad()),
    }
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.port_u16().is_none() || !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad());
    }
    Ok(format!("http://{authority}"))
}

/// One member's view, from `/v3/maintenance/status`.
#[derive(Debug, Clone)]
pub struct MemberStatus {
    pub member_id: u64,
    /// The leader this member knows of; `None` while it has none.
    pub leader: Option<u64>,
    pub raft_term: u64,
    pub raft_index: u64,
    /// The member's revision.
    pub revision: Revision,
    pub is_learner: bool,
    pub version: String,
    /// Problems the member reports (`etcdserver: no leader`).
    pub errors: Vec<String>,
    /// The size of the member's database file, and how much of it is in use (bytes).
    pub db_size: i64,
    pub db_size_in_use: i64,
}

impl MemberStatus {
    /// Whether this member is the leader.
    pub fn is_leader(&self) -> bool {
        self.leader == Some(self.member_id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::EtcdStore;
    use super::*;

    #[test]
    fn endpoints_are_checked_and_named() {
        let err = |eps: &[&str]| {
            EtcdStore::new(EtcdConfig::new(eps.to_vec()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[]),
            "etcd.endpoints: at least one client URL is needed (http://host:port)"
        );
        assert_eq!(
            err(&["http://127.0.0.1:2379", "127.0.0.1"]),
            "etcd.endpoints[1]: \"127.0.0.1\" is not a client URL; expected http://host:port"
        );
        assert!(err(&["https://10.0.0.1:2379"]).contains("TLS to etcd is not supported yet"));
        let ok = EtcdStore::new(EtcdConfig::new(["http://127.0.0.1:2379/"])).unwrap();
        assert_eq!(ok.endpoints(), ["http://127.0.0.1:2379"]);
    }
}

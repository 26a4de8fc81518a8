//! k3s's managed etcd (`pkg/etcd/etcd.go`) with a real member: Debian's `etcd` as a child
//! process of the server (`process.rs`), its data in `<data-dir>/server/db/etcd`, its name
//! (`<node>-<8 hex>`) kept in `server/db/etcd/name`, client URLs on `127.0.0.1` and the node
//! IP, the peer URL on the node IP. Unlike k3s it speaks plain HTTP (kube-standin's etcd
//! client has no TLS yet). Beside it: the bootstrap and start-up order (`start.rs`), a new
//! member joining (`join.rs`), the readiness test and learner promotion (`ready.rs`); here
//! also `/db/info`'s member shape and the API server addresses k3s records in etcd.

pub mod join;
pub mod process;
mod ready;
pub mod start;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use kube_standin::store::etcd::{EtcdConfig, EtcdStore, Member};
use kube_standin::store::{Store, StoreError};
use serde_json::{Value, json};

use self::process::MemberProcess;
use super::pki::write_private;
use super::settings::{Settings, Timing};

/// The member's ports for a stand-in that is not alone on its network (tests on one
/// machine): `<client>,<peer>[,<metrics>]`. A local-cloud setting, not a k3s flag (k3s always
/// uses 2379, 2380 and 2381; unknown flags must fail).
pub const PORTS_ENV: &str = "LOCAL_CLOUD_K3S_ETCD_PORTS";

/// Where k3s keeps the API servers' `host:port` list in etcd (`pkg/etcd` `AddressKey`).
const APISERVERS_KEY: &str = "k3s/apiaddresses";

/// The member's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub client: u16,
    pub peer: u16,
    /// `None`: no metrics listener of its own (etcd still serves `/metrics` to clients).
    pub metrics: Option<u16>,
}

impl Ports {
    /// k3s's ports, or those `text` (the value of [`PORTS_ENV`]) names.
    pub fn parse(text: Option<&str>) -> Result<Ports, String> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Ports {
                client: 2379,
                peer: 2380,
                metrics: Some(2381),
            });
        };
        let bad =
            || format!("{PORTS_ENV}: {text:?} is not <client>,<peer>[,<metrics>] (ports 1-65535)");
        let ports: Vec<u16> = text
            .split(',')
            .map(|p| p.trim().parse::<u16>().ok().filter(|p| *p > 0))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        match ports[..] {
            [client, peer] => Ok(Ports {
                client,
                peer,
                metrics: None,
            }),
            [client, peer, m] => Ok(Ports {
                client,
                peer,
                metrics: Some(m),
            }),
            _ => Err(bad()),
        }
    }
}

/// This server's member of the managed etcd.
#[derive(Debug, Clone)]
pub struct ManagedEtcd {
    bin: PathBuf,
    /// `server/db/etcd`.
    pub dir: PathBuf,
    /// The member name (`<node>-<8 hex>`).
    pub name: String,
    /// The node IP the member advertises.
    pub address: IpAddr,
    pub ports: Ports,
    node_name: String,
    timing: Timing,
    /// `--etcd-arg` values, passed on as `--key=value`.
    extra: Vec<String>,
}

/// `http://host:port` (IPv6 in brackets).
fn url(ip: IpAddr, port: u16) -> String {
    format!("http://{}", SocketAddr::new(ip, port))
}

fn message(e: &StoreError) -> String {
    match e {
        StoreError::Timeout(_) => "context deadline exceeded".into(),
        other => other.to_string(),
    }
}

impl ManagedEtcd {
    /// The member of server `s`: the etcd binary must exist; the name is read from
    /// `server/db/etcd/name`, or made and written there.
    pub fn new(s: &Settings) -> Result<Self, String> {
        let bin = process::binary().ok_or_else(|| {
            "preparing server: embedded etcd needs the etcd binary of Debian's package etcd-server (apt-get install etcd-server); no etcd on PATH or at /usr/bin/etcd".to_owned()
        })?;
        let ports = Ports::parse(std::env::var(PORTS_ENV).ok().as_deref())?;
        let dir = s.server_dir().join("db").join("etcd");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        let name_file = dir.join("name");
        let name = match std::fs::read_to_string(&name_file) {
            Ok(n) if !n.trim().is_empty() => n.trim().to_owned(),
            _ => {
                let n = format!(
                    "{}-{}",
                    s.node_name,
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                );
                write_private(&name_file, n.as_bytes()).map_err(|e| e.to_string())?;
                n
            }
        };
        Ok(Self {
            bin,
            dir,
            name,
            address: s
                .node_ips
                .first()
                .copied()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ports,
            node_name: s.node_name.clone(),
            timing: s.timing,
            extra: s.parsed.list("etcd-arg"),
        })
    }

    /// Whether this member has data already (k3s: `member/wal` exists).
    pub fn initialized(&self) -> bool {
        self.dir.join("member").join("wal").is_dir()
    }

    /// The peer URL other members reach this one at.
    pub fn peer_url(&self) -> String {
        url(self.address, self.ports.peer)
    }

    /// The client URL this member advertises.
    pub fn client_url(&self) -> String {
        url(self.address, self.ports.client)
    }

    /// The loopback client URL this server's own API uses first.
    pub fn local_url(&self) -> String {
        url(IpAddr::V4(Ipv4Addr::LOCALHOST), self.ports.client)
    }

    fn listen(&self, port: u16) -> String {
        let mut urls = vec![url(IpAddr::V4(Ipv4Addr::LOCALHOST), port)];
        if self.address != IpAddr::V4(Ipv4Addr::LOCALHOST) {
            urls.push(url(self.address, port));
        }
        urls.join(",")
    }

    /// Starts the member: a new one-member cluster, a member joining `cluster` (`name=peer`
    /// entries), or (`None`) an existing member on its data.
    pub fn spawn(&self, initial: Option<(&str, &str)>) -> Result<MemberProcess, String> {
        let (heartbeat, election) = self.timing.etcd_raft();
        let mut args: Vec<String> = vec![
            "--name".into(),
            self.name.clone(),
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--listen-client-urls".into(),
            self.listen(self.ports.client),
            "--advertise-client-urls".into(),
            self.client_url(),
            "--listen-peer-urls".into(),
            self.listen(self.ports.peer),
            "--initial-advertise-peer-urls".into(),
            self.peer_url(),
            "--heartbeat-interval".into(),
            heartbeat.as_millis().to_string(),
            "--election-timeout".into(),
            election.as_millis().to_string(),
            "--snapshot-count".into(),
            "10000".into(),
            "--logger".into(),
            "zap".into(),
            "--log-outputs".into(),
            "stderr".into(),
            "--experimental-initial-corrupt-check=true".into(),
        ];
        if let Some((cluster, state)) = initial {
            args.extend([
                "--initial-cluster".into(),
                cluster.to_owned(),
                "--initial-cluster-state".into(),
                state.to_owned(),
            ]);
        }
        if let Some(m) = self.ports.metrics {
            args.extend([
                "--listen-metrics-urls".into(),
                url(IpAddr::V4(Ipv4Addr::LOCALHOST), m),
            ]);
        }
        args.extend(
            self.extra
                .iter()
                .map(|a| format!("--{}", a.trim_start_matches('-'))),
        );
        MemberProcess::spawn(&self.bin, &args)
            .map_err(|e| format!("starting etcd ({}): {e}", self.bin.display()))
    }

    /// A store on this member only, for its status (calls bounded by `timeout`).
    pub fn local_store(&self, timeout: Duration) -> Result<EtcdStore, String> {
        let mut config = EtcdConfig::new([self.local_url()]);
        config.request_timeout = timeout;
        EtcdStore::new(config).map_err(|e| e.to_string())
    }

    /// The store the API uses: this member first, then the other members' client URLs.
    pub async fn api_store(&self) -> Result<EtcdStore, String> {
        let local = self.local_store(Duration::from_secs(5))?;
        let members = local.member_list().await.map_err(|e| message(&e))?;
        let mut endpoints = vec![self.local_url()];
        for m in members.iter().filter(|m| m.name != self.name) {
            endpoints.extend(m.client_urls.iter().cloned());
        }
        EtcdStore::new(EtcdConfig::new(endpoints)).map_err(|e| e.to_string())
    }
}

/// A member as `/db/info` shows it (Go's JSON of `etcdserverpb.Member`: a numeric `ID`,
/// empty fields omitted).
pub fn member_json(m: &Member) -> Value {
    let mut v = json!({"ID": m.id});
    if !m.name.is_empty() {
        v["name"] = json!(m.name);
    }
    if !m.peer_urls.is_empty() {
        v["peerURLs"] = json!(m.peer_urls);
    }
    if !m.client_urls.is_empty() {
        v["clientURLs"] = json!(m.client_urls);
    }
    if m.is_learner {
        v["isLearner"] = json!(true);
    }
    v
}

/// The API server addresses recorded in etcd (`host:port`).
pub async fn apiservers(store: &EtcdStore) -> Result<Vec<String>, StoreError> {
    Ok(store
        .get(APISERVERS_KEY)
        .await?
        .and_then(|kv| serde_json::from_slice(&kv.value).ok())
        .unwrap_or_default())
}

/// Adds `addr` to the API server addresses in etcd (compare-and-swap, retried on conflict).
pub async fn register_apiserver(store: &EtcdStore, addr: &str) -> Result<(), StoreError> {
    loop {
        let current = store.get(APISERVERS_KEY).await?;
        let mut list: Vec<String> = current
            .as_ref()
            .and_then(|kv| serde_json::from_slice(&kv.value).ok())
            .unwrap_or_default();
        if list.iter().any(|a| a == addr) {
            return Ok(());
        }
        list.push(addr.to_owned());
        let value = Bytes::from(serde_json::to_vec(&list).unwrap_or_default());
        let written = match &current {
            None => store.create(APISERVERS_KEY, value).await.map(|_| ()),
            Some(kv) => store
                .update(APISERVERS_KEY, value, kv.mod_revision)
                .await
                .map(|_| ()),
        };
        match written {
            Ok(()) => return Ok(()),
            Err(StoreError::AlreadyExists(_) | StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_to_k3s_and_are_checked() {
        assert_eq!(
            Ports::parse(None).unwrap(),
            Ports {
                client: 2379,
                peer: 2380,
                metrics: Some(2381)
            }
        );
        assert_eq!(
            Ports::parse(Some("12379, 12380")).unwrap(),
            Ports {
                client: 12379,
                peer: 12380,
                metrics: None
            }
        );
        let err = Ports::parse(Some("1,x")).unwrap_err();
        assert!(err.starts_with(PORTS_ENV), "{err}");
        assert!(Ports::parse(Some("1")).is_err());
    }

    #[test]
    fn db_info_members_are_gos_json() {
        let m = Member {
            id: 7,
            name: String::new(),
            peer_urls: vec!["http://10.0.0.5:2380".into()],
            client_urls: vec![],
            is_learner: true,
        };
        assert_eq!(
            member_json(&m),
            json!({"ID": 7, "peerURLs": ["http://10.0.0.5:2380"], "isLearner": true})
        );
    }
}

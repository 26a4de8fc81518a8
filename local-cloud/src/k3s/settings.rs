//! The effective settings of a `k3s server` or `k3s agent`, with k3s's defaults, from the
//! parsed flags; plus the stand-in's own timing (the local cloud's time factor, handed to it
//! outside the flags, since unknown flags must fail).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;

use super::args::Parsed;
use super::critical::{CriticalArgs, Inputs};
use super::flags::{Command, DISABLE_ITEMS};

/// Where the local cloud's host tells the stand-in how fast its clock runs.
pub const HOST_INFO: &str = crate::hosts::HOST_INFO;
/// The same, for a stand-in started by hand or by a test (wins over the file).
pub const TIME_FACTOR_ENV: &str = "LOCAL_CLOUD_TIME_FACTOR";

/// Settings that make a start fail (k3s's messages where it has them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// What one start runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cmd: Command,
    pub data_dir: PathBuf,
    /// `--token`, else the contents of `--token-file`.
    pub token: Option<String>,
    pub agent_token: Option<String>,
    pub server_url: Option<String>,
    pub cluster_init: bool,
    pub node_name: String,
    pub node_ips: Vec<IpAddr>,
    pub node_external_ips: Vec<IpAddr>,
    pub tls_san: Vec<String>,
    pub bind_address: Option<IpAddr>,
    pub https_port: u16,
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    pub flannel_backend: String,
    pub flannel_iface: Option<String>,
    pub disable: Vec<String>,
    pub write_kubeconfig: PathBuf,
    pub write_kubeconfig_mode: Option<u32>,
    pub datastore_endpoint: Option<String>,
    pub node_labels: Vec<String>,
    pub node_taints: Vec<String>,
    /// The values every server must share (`CriticalControlArgs`).
    pub critical: CriticalArgs,
    pub timing: Timing,
    pub parsed: Parsed,
}

/// The stand-in's clock: k3s-shaped delays times the local cloud's time factor, with floors
/// so hundreds of agents on two cores do not flap.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub factor: f64,
}

impl Timing {
    /// `secs` of a real k3s, scaled, never under `floor_ms`.
    pub fn scaled(&self, secs: f64, floor_ms: u64) -> Duration {
        Duration::from_secs_f64(secs * self.factor).max(Duration::from_millis(floor_ms))
    }
    /// How long a server takes until its API answers (k3s: about 20 s).
    pub fn api_ready(&self) -> Duration {
        self.scaled(20.0, 50)
    }
    /// How long an agent takes to register once the server answers (k3s: about 10 s).
    pub fn agent_join(&self) -> Duration {
        self.scaled(10.0, 50)
    }
    /// Lease renewals (kubelet: every 10 s), at least every second.
    pub fn heartbeat(&self) -> Duration {
        self.scaled(10.0, 1000).min(Duration::from_secs(10))
    }
    /// The node-monitor grace period (40 s) after which a silent node is NotReady.
    pub fn grace(&self) -> Duration {
        self.scaled(40.0, 4000)
    }
    /// How often a joining agent retries (k3s: 2 s for the CA check, 5-10 s for config).
    pub fn retry(&self) -> Duration {
        self.scaled(2.0, 200)
    }
    /// etcd's heartbeat interval and election timeout (k3s: 500 ms and 5 s), never under
    /// etcd's own defaults (100 ms, 1 s).
    pub fn etcd_raft(&self) -> (Duration, Duration) {
        (self.scaled(0.5, 100), self.scaled(5.0, 1000))
    }
    /// How often the etcd readiness test runs until it passes (k3s: 5 s).
    pub fn etcd_test(&self) -> Duration {
        self.scaled(5.0, 200)
    }
    /// How often the etcd leader looks for learners to promote (k3s: 15 s).
    pub fn learner_tick(&self) -> Duration {
        self.scaled(15.0, 300)
    }
    /// How often a refused etcd join is retried (k3s: 1 s).
    pub fn join_retry(&self) -> Duration {
        self.scaled(1.0, 200)
    }
    /// Controller leader election (kube-controller-manager: lease 15 s, renewed within 10 s,
    /// tried every 2 s).
    pub fn election(&self) -> (Duration, Duration, Duration) {
        (
            self.scaled(15.0, 3000),
            self.scaled(10.0, 2000),
            self.scaled(2.0, 200),
        )
    }
}

fn time_factor() -> f64 {
    time_factor_from(
        std::env::var(TIME_FACTOR_ENV).ok(),
        std::path::Path::new(HOST_INFO),
    )
}

/// The factor from the variable when set, else from the host's `host.json`, else 1.
fn time_factor_from(from_env: Option<String>, host_info: &std::path::Path) -> f64 {
    let from_file = || {
        let text = std::fs::read_to_string(host_info).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["time_factor"].as_f64().map(|f| f.to_string())
    };
    from_env
        .or_else(from_file)
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| *f > 0.0 && f.is_finite())
        .unwrap_or(1.0)
}

fn ips(p: &Parsed, flag: &str) -> Result<Vec<IpAddr>, SettingsError> {
    p.list(flag)
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| SettingsError(format!("invalid IP address {s:?} for --{flag}")))
        })
        .collect()
}

fn cidr(p: &Parsed, flag: &str, default: &str) -> Result<Ipv4Net, SettingsError> {
    let text = p
        .list(flag)
        .into_iter()
        .next()
        .unwrap_or_else(|| default.into());
    text.parse()
        .map_err(|_| SettingsError(format!("invalid CIDR {text:?} for --{flag}")))
}

/// The first IPv4 address of a non-loopback interface: k3s takes the default route's
/// interface; a local-cloud host has exactly one.
fn default_ip() -> Option<IpAddr> {
    let text = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    let mut last: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.contains("/32 host LOCAL")
            && let Some(ip) = last.and_then(|l| l.split_whitespace().last())
            && let Ok(a) = ip.parse::<Ipv4Addr>()
            && !a.is_loopback()
        {
            return Some(IpAddr::V4(a));
        }
        last = Some(t);
    }
    None
}

impl Settings {
    /// Settings from parsed flags; `hostname` names the node unless `--node-name` does.
    pub fn new(cmd: Command, p: Parsed, hostname: &str) -> Result<Settings, SettingsError> {
        let token = match p.str("token") {
            Some(t) => Some(t.to_owned()),
            None => match p.str("token-file") {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| SettingsError(format!("failed to read token file {f}: {e}")))?
                        .trim()
                        .to_owned(),
                ),
                None => None,
            },
        };
        let agent_token = match p.str("agent-token") {
            Some(t) => Some(t.to_owned()),
            None => p
                .str("agent-token-file")
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(|t| t.trim().to_owned()),
        };
        let mut node_name = p
            .str("node-name")
            .map(str::to_owned)
            .unwrap_or_else(|| hostname.to_owned())
            .to_ascii_lowercase();
        if p.bool("with-node-id") {
            node_name = format!(
                "{node_name}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
        }
        let mut node_ips = ips(&p, "node-ip")?;
        if node_ips.is_empty() {
            node_ips.extend(default_ip());
        }
        let service_cidr = cidr(&p, "service-cidr", "10.43.0.0/16")?;
        let cluster_dns = match p.list("cluster-dns").first() {
            Some(s) => s.parse().map_err(|_| {
                SettingsError(format!("invalid IP address {s:?} for --cluster-dns"))
            })?,
            None => {
                let base = u32::from(service_cidr.network());
                Ipv4Addr::from(base + 10)
            }
        };
        let flannel_backend = p.str("flannel-backend").unwrap_or("vxlan").to_owned();
        if ![
            "none",
            "vxlan",
            "host-gw",
            "wireguard-native",
            "ipsec",
            "wireguard",
        ]
        .contains(&flannel_backend.as_str())
        {
            return Err(SettingsError(format!(
                "invalid flannel backend: {flannel_backend}"
            )));
        }
        let disable = p.list("disable");
        let write_kubeconfig_mode = match p.str("write-kubeconfig-mode") {
            Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                SettingsError(format!(
                    "invalid write-kubeconfig-mode {m:?}: an octal mode"
                ))
            })?),
            None => None,
        };
        let cluster_cidr = cidr(&p, "cluster-cidr", "10.42.0.0/16")?;
        let cluster_domain = p
            .str("cluster-domain")
            .unwrap_or("cluster.local")
            .to_owned();
        let flag = |name: &str| p.bool(name);
        let critical = CriticalArgs::new(&Inputs {
            cluster_cidr,
            service_cidr,
            cluster_dns,
            cluster_domain: &cluster_domain,
            flannel_backend: &flannel_backend,
            egress_selector_mode: p.str("egress-selector-mode").unwrap_or("agent"),
            encrypt_provider: p.str("secrets-encryption-provider").unwrap_or("aescbc"),
            flag: &flag,
            disable_service_lb: disable.iter().any(|d| d == "servicelb"),
        });
        Ok(Settings {
            cmd,
            data_dir: PathBuf::from(p.str("data-dir").unwrap_or("/var/lib/rancher/k3s")),
            token,
            agent_token,
            server_url: p.str("server").map(str::to_owned),
            cluster_init: p.bool("cluster-init"),
            node_name,
            node_ips,
            node_external_ips: ips(&p, "node-external-ip")?,
            tls_san: p.list("tls-san"),
            bind_address: match p.str("bind-address") {
                Some(a) => Some(a.parse().map_err(|_| {
                    SettingsError(format!("invalid IP address {a:?} for --bind-address"))
                })?),
                None => None,
            },
            https_port: match p.str("https-listen-port") {
                Some(s) => s.parse().map_err(|_| {
                    SettingsError(format!("invalid port {s:?} for --https-listen-port"))
                })?,
                None => 6443,
            },
            cluster_cidr,
            service_cidr,
            cluster_dns,
            cluster_domain,
            flannel_backend,
            flannel_iface: p.str("flannel-iface").map(str::to_owned),
            disable,
            write_kubeconfig: PathBuf::from(
                p.str("write-kubeconfig")
                    .unwrap_or("/etc/rancher/k3s/k3s.yaml"),
            ),
            write_kubeconfig_mode,
            datastore_endpoint: p.str("datastore-endpoint").map(str::to_owned),
            node_labels: p.list("node-label"),
            node_taints: p.list("node-taint"),
            critical,
            timing: Timing {
                factor: time_factor(),
            },
            parsed: p,
        })
    }

    /// Whether a packaged component is disabled (`--disable X`).
    pub fn disabled(&self, item: &str) -> bool {
        self.disable.iter().any(|d| d == item)
    }

    /// `--disable` values k3s does not know, for a warning.
    pub fn unknown_disables(&self) -> Vec<&str> {
        self.disable
            .iter()
            .map(String::as_str)
            .filter(|d| !DISABLE_ITEMS.contains(d))
            .collect()
    }

    /// `server/` under the data dir.
    pub fn server_dir(&self) -> PathBuf {
        self.data_dir.join("server")
    }

    /// The node password file: `/etc/rancher/node/password`, or under the data dir when it
    /// is not the default one (as k3s does in rootless mode; keeps a stand-in started by a
    /// test out of the machine's `/etc`).
    pub fn node_password_file(&self) -> PathBuf {
        if self.data_dir == std::path::Path::new("/var/lib/rancher/k3s") {
            PathBuf::from("/etc/rancher/node/password")
        } else {
            self.agent_dir().join("etc/rancher/node/password")
        }
    }

    /// Where flannel's `subnet.env` goes: `/run/flannel`, or under the data dir when it is
    /// not the default one (same rule as the node password).
    pub fn flannel_dir(&self) -> PathBuf {
        if self.data_dir == std::path::Path::new("/var/lib/rancher/k3s") {
            PathBuf::from("/run/flannel")
        } else {
            self.agent_dir().join("run/flannel")
        }
    }

    /// `agent/` under the data dir.
    pub fn agent_dir(&self) -> PathBuf {
        self.data_dir.join("agent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_factor_comes_from_the_variable_then_host_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("host.json");
        assert_eq!(time_factor_from(None, &file), 1.0);
        std::fs::write(&file, r#"{"vm": "a_1", "time_factor": 0.01}"#).unwrap();
        assert_eq!(time_factor_from(None, &file), 0.01);
        assert_eq!(time_factor_from(Some("0.5".into()), &file), 0.5);
        assert_eq!(time_factor_from(Some("-1".into()), &file), 1.0);
    }
}

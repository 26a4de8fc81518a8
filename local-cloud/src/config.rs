//! Options of the local cloud: where it keeps its data, how slow it is, which faults it injects.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct LocalCloudOptions {
    /// Holds `cloud.json` (the resources), `ca.pem` (trust this) and `ca.key`.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// How long operations and requests take.
    pub latency: LatencyModel,
    /// Faults injected from the start (changeable later).
    pub faults: FaultConfig,
    /// Items per page on every list call before a `nextLink` is given.
    pub page_size: usize,
    /// Make scale-set VMs real Linux hosts reachable over SSH (needs the crate feature
    /// `hosts`, and root, iproute2, openssh-server and sudo; see `local-cloud/README.md`).
    pub realize_hosts: bool,
    /// The executable each host runs as its init: one whose `main` first calls
    /// [`crate::multicall`]. `None`: this process's own executable if it is `platform` or
    /// `local-cloud-host`, else the newest of those beside it (cargo's test layout).
    pub host_exe: Option<PathBuf>,
}

impl LocalCloudOptions {
    /// Loopback on a free port, default latency and no faults.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            latency: LatencyModel::default(),
            faults: FaultConfig::default(),
            page_size: 100,
            realize_hosts: false,
            host_exe: None,
        }
    }
}

/// How long operations take. Base durations are shaped after Azure and multiplied by
/// `time_factor` (1.0 = Azure-like minutes, tests use 0.001-0.01).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyModel {
    /// Multiplier on every base duration (1.0 = Azure-like, tests 0.001-0.01).
    pub time_factor: f64,
    /// `Retry-After` on operation responses; `None` derives it from the ARM-typical 10 s
    /// times `time_factor` (rounded up, so 1 s for any small factor).
    pub retry_after_secs: Option<u64>,
    /// Delay added to every ARM request before it is answered, before scaling.
    pub request_ms: f64,
    /// Base seconds per resource type (lower-case `Namespace/type`) overriding the defaults.
    pub type_seconds: BTreeMap<String, f64>,
}

impl Default for LatencyModel {
    fn default() -> Self {
        Self {
            time_factor: 1.0,
            retry_after_secs: None,
            request_ms: 100.0,
            type_seconds: BTreeMap::new(),
        }
    }
}

impl LatencyModel {
    /// A model where everything is `factor` times as fast as Azure.
    pub fn scaled(factor: f64) -> Self {
        Self {
            time_factor: factor,
            ..Self::default()
        }
    }

    /// Azure-like base seconds of a create, update or delete of `rtype` (lower-case).
    pub fn base_seconds(&self, rtype: &str, delete: bool) -> f64 {
        if let Some(s) = self.type_seconds.get(rtype) {
            return *s;
        }
        let create =
            match rtype {
                "microsoft.resources/resourcegroups" => 1.0,
                "microsoft.network/publicipaddresses"
                | "microsoft.network/networksecuritygroups" => 5.0,
                "microsoft.network/networkinterfaces" => 5.0,
                "microsoft.network/virtualnetworks"
                | "microsoft.network/virtualnetworks/subnets" => 10.0,
                "microsoft.network/loadbalancers" => 15.0,
                "microsoft.network/natgateways" => 30.0,
                "microsoft.network/privatednszones"
                | "microsoft.network/privatednszones/virtualnetworklinks" => 30.0,
                "microsoft.compute/virtualmachinescalesets" => 180.0,
                "microsoft.compute/virtualmachines" => 120.0,
                "microsoft.dbforpostgresql/flexibleservers" => 600.0,
                t if t.starts_with("microsoft.dbforpostgresql/flexibleservers/") => 30.0,
                _ => 10.0,
            };
        // Resource group deletes wait for everything inside; model them as a few minutes.
        match (rtype, delete) {
            ("microsoft.resources/resourcegroups", true) => 300.0,
            _ => create,
        }
    }

    /// Scaled duration of an operation on `rtype`.
    pub fn duration(&self, rtype: &str, delete: bool) -> Duration {
        Duration::from_secs_f64((self.base_seconds(rtype, delete) * self.time_factor).max(0.0))
    }

    /// The `Retry-After` value put on 201/202 responses and on running operation polls.
    pub fn retry_after(&self) -> u64 {
        self.retry_after_secs
            .unwrap_or_else(|| (10.0 * self.time_factor).ceil().clamp(0.0, 60.0) as u64)
    }

    /// The scaled per-request delay.
    pub fn request_delay(&self) -> Duration {
        Duration::from_secs_f64((self.request_ms / 1000.0 * self.time_factor).max(0.0))
    }
}

/// Injected faults. Random ones draw from one generator seeded with `seed` (entropy if none),
/// so a seeded run answers the same request sequence the same way.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultConfig {
    /// Fraction of ARM requests answered 429 `TooManyRequests` with `Retry-After`.
    pub throttle_rate: f64,
    /// Fraction of ARM requests answered 500 `InternalServerError`.
    pub server_error_rate: f64,
    /// Operations that end `Failed`.
    pub fail_operations: Vec<FailRule>,
    /// `Retry-After` seconds on 429 answers.
    pub retry_after_secs: u64,
    /// Seed of the fault generator; `None` draws from entropy.
    pub seed: Option<u64>,
    /// ARM token buckets enforced per subscription; `None` tracks ARM's default buckets for
    /// the `x-ms-ratelimit-remaining-*` headers but never throttles on them.
    pub rate_limits: Option<RateLimits>,
}

/// Makes matching long-running operations end `Failed` with an ARM error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailRule {
    /// Full resource type, case-insensitive (`Microsoft.DBforPostgreSQL/flexibleServers`);
    /// `None` matches every type.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// Resource name pattern, `*` matches any run of characters; `None` matches every name.
    #[serde(default)]
    pub name: Option<String>,
    /// Which operations fail; `None` means any.
    #[serde(default)]
    pub operation: Option<OpKind>,
    /// ARM error code and message the operation reports.
    pub code: String,
    /// The error message of the failed operation.
    pub message: String,
    /// Fire only this many times, then stop matching (a transient failure).
    #[serde(default)]
    pub times: Option<u32>,
}

/// The kind of a long-running operation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// PUT of a resource that did not exist.
    Create,
    /// PUT of an existing resource.
    Update,
    /// DELETE.
    Delete,
    /// POST action such as a VM power change.
    Action,
}

/// Token buckets for one subscription, shaped after ARM's regional limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RateLimits {
    /// GET and HEAD.
    pub reads: Bucket,
    /// PUT, PATCH, POST.
    pub writes: Bucket,
    /// DELETE.
    pub deletes: Bucket,
}

/// One token bucket: `size` tokens, `refill_per_sec` added back each second.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Bucket {
    /// Tokens when full.
    pub size: f64,
    /// Tokens added back per second.
    pub refill_per_sec: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            reads: Bucket {
                size: 250.0,
                refill_per_sec: 25.0,
            },
            writes: Bucket {
                size: 200.0,
                refill_per_sec: 10.0,
            },
            deletes: Bucket {
                size: 200.0,
                refill_per_sec: 10.0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_scale_with_the_factor() {
        let m = LatencyModel::scaled(0.01);
        assert_eq!(
            m.duration("microsoft.compute/virtualmachinescalesets", false),
            Duration::from_millis(1800)
        );
        assert_eq!(m.retry_after(), 1);
        let fast = LatencyModel {
            retry_after_secs: Some(0),
            ..LatencyModel::scaled(0.001)
        };
        assert_eq!(fast.retry_after(), 0);
        assert_eq!(LatencyModel::default().retry_after(), 10);
    }

    #[test]
    fn faults_deserialize_with_defaults() {
        let f: FaultConfig = serde_json::from_str(r#"{"throttle_rate":0.5}"#).unwrap();
        assert_eq!(f.throttle_rate, 0.5);
        assert!(f.fail_operations.is_empty());
    }
}

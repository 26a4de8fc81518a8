//! The cluster's hosts: listed from the two Flexible scale sets ([`arm`]) or read from a
//! bring-your-own static file ([`static_file`]), rendered as Ansible inventories
//! ([`render`]), and kept in state as the `inventory` phase's outputs.
//!
//! Hosts are always sorted (servers before agents, then by name), so an unchanged cluster
//! gives byte-identical files and an unchanged fingerprint for the `nodes` phase.

pub mod arm;
pub mod render;
pub mod static_file;
pub mod targets;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::azure::states::{PowerState, ProvisioningState};
use crate::config::{CloudKind, Config};
use crate::error::Error;
use crate::fsutil::write_atomic;

/// The k3s role of a host, from the scale set (or static group) it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Agent,
}

impl Role {
    /// The role's name in hostvars (`server`, `agent`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }

    /// The Ansible group of this role.
    pub fn group(self) -> &'static str {
        match self {
            Role::Server => "servers",
            Role::Agent => "agents",
        }
    }
}

/// One host of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Inventory name: the VM name (`<vmss>_<suffix>`) or the static file's host key.
    pub name: String,
    /// The host's name on the network and as a Kubernetes Node: the VM's computer name (a
    /// scale-set VM's name has a `_`, which neither allows), the static host's `node_name`,
    /// else the inventory name made a valid DNS label ([`node_name_of`]).
    #[serde(default)]
    pub node_name: String,
    pub role: Role,
    /// The VM's ARM id (cloud hosts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    /// The address SSH uses (`ansible_host`), per `nodes.ssh_address`.
    pub ssh_address: Option<String>,
    /// ProxyJump host for `ssh_address`, when `nodes.jump_host` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump_host: Option<String>,
    /// The cluster's `known_hosts` (`<state_dir>/known_hosts`), where `platform` pins host
    /// keys: Ansible is pointed at it with strict checking, so both trust the same keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<String>,
    pub ssh_user: String,
    pub ssh_private_key_file: String,
    pub zone: Option<String>,
    pub vm_size: Option<String>,
    /// ARM provisioning state (`Succeeded`, `Creating`, `Failed`, ...; `static` for
    /// bring-your-own hosts).
    pub provisioning_state: ProvisioningState,
    /// Power state from the instance view (`running`, `stopped`, `deallocated`, ...).
    pub power_state: PowerState,
    /// The server that initialises the cluster (`cluster-init`): the first usable server.
    pub init_server: bool,
    /// Why the host is left out of the groups; `None` for hosts in the groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
    /// Further host variables from a static inventory (`ansible_port`, ...), passed through.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, Value>,
}

impl Host {
    /// Whether the host is in the groups.
    pub fn included(&self) -> bool {
        self.excluded.is_none()
    }
}

/// Where the hosts came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// ARM list calls (Azure or the local cloud).
    Cloud,
    /// A static inventory file.
    Static,
}

/// Every host of the cluster, sorted, with the excluded ones and their reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub cluster: String,
    pub source: Source,
    pub hosts: Vec<Host>,
}

/// What one cloud listing cost, for logs, tests and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListStats {
    /// List calls made (one per collection, however many pages each had).
    pub lists: u64,
    /// ARM requests sent (pages, plus retries).
    pub requests: u64,
    /// Throttled answers among them.
    pub throttled: u64,
}

impl Inventory {
    /// Sorts hosts (servers first, then by name) and marks the init server: the first
    /// server in the groups. Called by every source so the rules are the same.
    pub fn finish(cluster: &str, source: Source, mut hosts: Vec<Host>) -> Inventory {
        hosts.sort_by(|a, b| (a.role, &a.name).cmp(&(b.role, &b.name)));
        for h in &mut hosts {
            h.init_server = false;
        }
        if let Some(first) = hosts
            .iter_mut()
            .find(|h| h.role == Role::Server && h.included())
        {
            first.init_server = true;
        }
        Inventory {
            cluster: cluster.to_owned(),
            source,
            hosts,
        }
    }

    /// Hosts in the groups.
    pub fn included(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(|h| h.included())
    }

    /// Hosts left out, with their reasons.
    pub fn excluded(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(|h| !h.included())
    }

    /// The phase outputs in state (no timings: stable across no-op runs).
    pub fn to_outputs(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Reads the phase outputs back from state; `None` when they are not an inventory.
    pub fn from_outputs(v: &Value) -> Option<Inventory> {
        serde_json::from_value(v.clone()).ok()
    }
}

/// The cluster's `known_hosts`: the very file the SSH engine pins host keys in.
pub fn known_hosts_file(config: &Config) -> String {
    config.paths().known_hosts().display().to_string()
}

/// Collects the hosts: from the cloud (constant number of paged list calls) or from the
/// static file, as the config says.
pub async fn collect(config: &Config) -> Result<(Inventory, ListStats), Error> {
    match config.cloud.kind {
        CloudKind::Static => Ok((static_file::load(config)?, ListStats::default())),
        CloudKind::Azure | CloudKind::Local => {
            let conn = crate::cloud::CloudConn::connect(config).await?;
            let result = arm::collect(&conn.client, config).await;
            conn.close().await;
            result
        }
    }
}

/// The live check before a skip: the same list calls (or static file read) as the phase;
/// matches when the hosts equal the recorded ones and both inventory files are on disk as
/// the phase would write them.
pub async fn verify(config: &Config, recorded: &Value) -> crate::runner::Verification {
    use crate::runner::Verification;
    let inv = match collect(config).await {
        Ok((inv, _)) => inv,
        Err(e) => return Verification::Failed(e.to_string()),
    };
    if Inventory::from_outputs(recorded).as_ref() != Some(&inv) {
        return Verification::Differs("the cluster's hosts changed".into());
    }
    let paths = config.paths();
    let files = [
        (paths.inventory_yaml(), render::yaml(&inv)),
        (
            paths.inventory_json(),
            render::json_text(&render::dynamic(&inv)),
        ),
    ];
    for (path, want) in files {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            return Verification::Differs(format!("{} is missing or edited", path.display()));
        }
    }
    Verification::Matches
}

/// Writes `hosts.yml` and `hosts.json` atomically into the inventory directory; returns
/// their paths.
pub fn write_files(config: &Config, inv: &Inventory) -> Result<[PathBuf; 2], Error> {
    let paths = config.paths();
    let d = paths.inventory_dir();
    std::fs::create_dir_all(&d).map_err(|e| Error::io("cannot create", &d, e))?;
    let (yaml, json) = (paths.inventory_yaml(), paths.inventory_json());
    write_atomic(&yaml, render::yaml(inv).as_bytes())?;
    write_atomic(&json, render::json_text(&render::dynamic(inv)).as_bytes())?;
    Ok([yaml, json])
}

/// Runs the `inventory` phase: collect, write the files, return the outputs for state.
/// Fails when no server is usable, since nothing after this phase could work.
pub async fn run_phase(
    config: &Config,
    progress: &crate::output::Progress,
) -> Result<Value, Error> {
    let started = std::time::Instant::now();
    let (inv, stats) = collect(config).await?;
    let [yaml, _] = write_files(config, &inv)?;
    for h in inv.excluded() {
        progress.warn(format!(
            "{} ({}) left out of the inventory: {}",
            h.name,
            h.role.name(),
            h.excluded.as_deref().unwrap_or_default()
        ));
    }
    let counts = |r: Role| {
        let all = inv.hosts.iter().filter(|h| h.role == r).count();
        let ok = inv.included().filter(|h| h.role == r).count();
        (ok, all)
    };
    let (s_ok, s_all) = counts(Role::Server);
    let (a_ok, a_all) = counts(Role::Agent);
    if config.cloud.kind != CloudKind::Static {
        for (r, found, want) in [
            (Role::Server, s_all, config.nodes.servers.count as usize),
            (Role::Agent, a_all, config.nodes.agents.count as usize),
        ] {
            if found != want {
                progress.warn(format!(
                    "found {found} {}s, the config asks for {want}; `platform up --only infra` converges the scale set",
                    r.name()
                ));
            }
        }
    }
    progress.info(format!(
        "inventory: {s_ok}/{s_all} servers and {a_ok}/{a_all} agents in the groups, {} list requests, {} ms; wrote {}",
        stats.requests,
        started.elapsed().as_millis(),
        yaml.display()
    ));
    tracing::info!(
        lists = stats.lists,
        requests = stats.requests,
        throttled = stats.throttled,
        "inventory ARM requests"
    );
    if s_ok == 0 {
        let why: Vec<String> = inv
            .hosts
            .iter()
            .filter(|h| h.role == Role::Server)
            .map(|h| format!("{}: {}", h.name, h.excluded.as_deref().unwrap_or("?")))
            .collect();
        return Err(Error::Failed(format!(
            "no usable server in the inventory ({} found{}{})",
            s_all,
            if why.is_empty() { "" } else { ": " },
            why.join("; ")
        )));
    }
    Ok(inv.to_outputs())
}

/// `name` as a valid node and host name (RFC 1123: lowercase letters, digits, `-` and `.`,
/// alphanumeric at both ends, at most 63 characters): other characters become `-`.
pub fn node_name_of(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut out: String = trimmed.chars().take(63).collect();
    while out.ends_with(['-', '.']) {
        out.pop();
    }
    if out.is_empty() { "node".into() } else { out }
}

#[cfg(test)]
mod node_name_tests {
    use super::node_name_of;

    #[test]
    fn inventory_names_become_valid_node_names() {
        assert_eq!(
            node_name_of("demo-servers_a80cec77"),
            "demo-servers-a80cec77"
        );
        assert_eq!(node_name_of("Web_01."), "web-01");
        assert_eq!(node_name_of("_x_"), "x");
        assert_eq!(node_name_of("___"), "node");
        assert_eq!(node_name_of(&"a".repeat(80)).len(), 63);
    }
}

//! End-to-end helpers for the nodes tests: a cluster on the local cloud with REAL hosts
//! (`cloud.local_hosts: true`), driven only through the `platform` binary; the local cloud's
//! control API (from `<state_dir>/local-cloud/serve.json`); the system `ssh` client pinned to
//! the cluster's `known_hosts`; and the leftovers checks run when a cluster is torn down.
//!
//! Every cluster gets an address space of its own (`10.<octet>.0.0/16`): two clouds with
//! hosts cannot route the same addresses at once, and other test binaries may run at the
//! same time with theirs.

#![allow(clippy::print_stderr)] // the skip reason must reach the person running the tests

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::procs::{alive, netns_with, procs_with};
use super::{LocalCloudGuard, Run, run};

/// Whether this test may run: real hosts need root. Under CI a missing root is a failure.
pub fn root_or_skip(test: &str) -> bool {
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if root {
        return true;
    }
    let why = "the local cloud's real hosts need root (namespaces, mounts, sshd)";
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {why}; CI must run this test as root"
    );
    eprintln!("skipping {test}: {why}");
    false
}

/// A cluster in a temporary directory. Dropping it stops its local cloud (which removes the
/// hosts' processes, namespaces and mounts) before the directory goes.
pub struct Cluster {
    /// The cluster name (`cluster:`).
    pub name: String,
    // Field order is drop order: the cloud stops before its data dir is deleted.
    guard: Option<LocalCloudGuard>,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

/// One host of the inventory.
#[derive(Clone, Debug)]
pub struct NodeHost {
    /// Inventory name (the VM name).
    pub name: String,
    /// The address SSH uses.
    pub ip: String,
}

impl Cluster {
    /// Writes `platform.yaml` for `servers` + `agents` real hosts in `10.<octet>.0.0/16`,
    /// without Postgres (the nodes phase does not need it), latencies scaled down 500 times.
    pub fn new(name: &str, octet: u8, servers: u32, agents: u32) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "cluster: {name}
cloud:
  kind: local
  local_time_factor: 0.002
  local_hosts: true
network:
  address_space: 10.{octet}.0.0/16
  node_subnet: 10.{octet}.1.0/24
  postgres_subnet: 10.{octet}.2.0/24
  admin_cidrs: [127.0.0.0/8]
nodes:
  servers: {{count: {servers}}}
  agents: {{count: {agents}}}
postgres:
  enabled: false
gitops:
  controller: none
"
        );
        std::fs::write(dir.path().join("platform.yaml"), text).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Cluster {
            name: name.to_owned(),
            guard: Some(LocalCloudGuard::new(dir.path())),
            dir,
            rt,
        }
    }

    /// The directory holding `platform.yaml`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/.platform`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir().join(".platform")
    }

    /// The cluster's `known_hosts`, where `platform` pins host keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.state_dir().join("known_hosts")
    }

    /// The generated SSH private key.
    pub fn key(&self) -> PathBuf {
        self.state_dir().join("secrets/id_ed25519")
    }

    /// `inventories/<cluster>/hosts.yml`.
    pub fn inventory_yaml(&self) -> PathBuf {
        self.dir()
            .join("inventories")
            .join(&self.name)
            .join("hosts.yml")
    }

    /// `platform ARGS` in the cluster's directory.
    pub fn platform(&self, args: &[&str]) -> Run {
        run(self.dir(), args)
    }

    /// The hosts of the inventory (`hosts.json`, written by the inventory phase), by name.
    pub fn hosts(&self) -> Vec<NodeHost> {
        let path = self
            .dir()
            .join("inventories")
            .join(&self.name)
            .join("hosts.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut hosts: Vec<NodeHost> = v["_meta"]["hostvars"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, vars)| NodeHost {
                name: name.clone(),
                ip: vars["ansible_host"].as_str().unwrap().to_owned(),
            })
            .collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        hosts
    }

    /// The local cloud's `serve.json`: (endpoint with a trailing slash, CA path).
    fn serve(&self) -> (String, PathBuf) {
        let path = self.state_dir().join("local-cloud/serve.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut endpoint = v["endpoint"].as_str().unwrap().to_owned();
        if !endpoint.ends_with('/') {
            endpoint.push('/');
        }
        (endpoint, PathBuf::from(v["ca_path"].as_str().unwrap()))
    }

    /// One call of the local cloud's control API (`/_local/PATH`); panics unless 2xx.
    pub fn control(&self, method: &str, path: &str) -> Value {
        let (endpoint, ca) = self.serve();
        let pem = std::fs::read(ca).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .build()
            .unwrap();
        let url = format!("{endpoint}_local/{path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.block_on(async {
            let resp = http
                .request(method, &url)
                .send()
                .await
                .expect("control call");
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert!(status.is_success(), "{url}: {status} {text}");
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    /// `GET /_local/vms/{name}`: the VM with its `host` (state, netns, sshd_pid, key).
    pub fn vm(&self, name: &str) -> Value {
        self.control("GET", &format!("vms/{name}"))
    }

    /// Polls `GET /_local/vms/{name}` until its host is in `state` (the control API's power
    /// actions return at once; the host's actor applies them in the background). Returns
    /// the VM.
    pub fn wait_host_state(&self, name: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let vm = self.vm(name);
            if vm["host"]["state"] == state {
                return vm;
            }
            assert!(Instant::now() < deadline, "{name} never {state}: {vm}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A VM's data directory in the local cloud (`hosts/<vm>/`, holding its host key).
    pub fn vm_dir(&self, name: &str) -> PathBuf {
        self.state_dir().join("local-cloud/hosts").join(name)
    }

    /// The system `ssh` client to `host` as the admin user, with the cluster's key and ONLY
    /// the cluster's `known_hosts` (StrictHostKeyChecking=yes: an unknown or changed key
    /// fails).
    pub fn ssh(&self, host: &NodeHost, command: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-i"])
            .arg(self.key())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5"])
            .args(["-o", "LogLevel=ERROR", "-l", "azureuser"])
            .arg(&host.ip)
            .arg(command);
        c
    }

    /// Runs `command` on `host` over `ssh`, asserting success; returns stdout.
    pub fn ssh_ok(&self, host: &NodeHost, command: &str) -> String {
        let out = self.ssh(host, command).output().unwrap();
        assert!(
            out.status.success(),
            "ssh {} {command:?}: {}",
            host.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The fingerprint `known_hosts` records for `ip` (`ssh-keygen -l -F`), if any.
    pub fn pinned_fingerprint(&self, ip: &str) -> Option<String> {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-F", ip, "-f"])
            .arg(self.known_hosts())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.split_whitespace().find(|w| w.starts_with("SHA256:")))
            .map(str::to_owned)
    }

    /// The local cloud's instance prefix (its namespaces, links and sshd configs carry it).
    pub fn instance(&self) -> Option<String> {
        std::fs::read_to_string(self.state_dir().join("local-cloud/hosts/.instance"))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Stops the cluster's local cloud and asserts that its hosts left nothing behind: no
    /// network namespace and no sshd of this cloud's instance. Also runs on drop (without
    /// the checks) when a test fails earlier.
    pub fn teardown(mut self) {
        let instance = self.instance();
        // Every process of the hosts (sshd listeners, sessions, what they ran), seen before
        // the stop: none may outlive it.
        let host_pids: Vec<u32> = instance
            .iter()
            .flat_map(|i| netns_with(i))
            .flat_map(|ns| netns_pids(&ns))
            .collect();
        drop(self.guard.take());
        let Some(instance) = instance else { return };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let netns = netns_with(&instance);
            let sshd = procs_with(&format!("sshd_config.{instance}"));
            let alive: Vec<u32> = host_pids.iter().copied().filter(|p| alive(*p)).collect();
            if netns.is_empty() && sshd.is_empty() && alive.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after the local cloud stopped: network namespaces {netns:?}, sshd pids {sshd:?}, host processes {alive:?} remain"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The pids in network namespace `netns` (`ip netns pids`).
pub fn netns_pids(netns: &str) -> Vec<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A process's `comm` (empty when it is gone).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The recap counters of `host` in a text PLAY RECAP: `ok=.. changed=.. unreachable=..
/// failed=..` as (name, value) pairs.
pub fn recap(stdout: &str, host: &str) -> Vec<(String, u64)> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(host) && l.contains("ok="))
        .unwrap_or_else(|| panic!("no recap line for {host} in:\n{stdout}"));
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// One counter of a recap (see [`recap`]).
pub fn count(recap: &[(String, u64)], key: &str) -> u64 {
    recap
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {key} in {recap:?}"))
}

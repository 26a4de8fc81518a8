//! Clusters whose VMs are real SSH hosts ([`Cluster::with_hosts`], root needed), driven only
//! through the `platform` binary: the inventory's hosts, the system `ssh` client pinned to
//! the cluster's `known_hosts`, PLAY RECAP counters, and the leftovers check run when a
//! cluster is torn down. [`Ssh`] is that pinned client for any host.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::Cluster;
use super::procs::{alive, netns_with, procs_with};

/// One host of the inventory.
#[derive(Clone, Debug)]
pub struct NodeHost {
    /// Inventory name (the VM name).
    pub name: String,
    /// The address SSH uses.
    pub ip: String,
}

impl Cluster {
    /// The cluster's `known_hosts`, where `platform` pins host keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.state_dir().join("known_hosts")
    }

    /// The generated SSH private key.
    pub fn key(&self) -> PathBuf {
        self.state_dir().join("secrets/id_ed25519")
    }

    /// The hosts of the inventory (`hosts.json`, written by the inventory phase), by name.
    pub fn hosts(&self) -> Vec<NodeHost> {
        let path = self.inventory_file("hosts.json");
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

    /// A VM's data directory in the local cloud (`hosts/<vm>/`, holding its host key).
    pub fn vm_dir(&self, name: &str) -> PathBuf {
        self.state_dir().join("local-cloud/hosts").join(name)
    }

    /// The system `ssh` client as the admin user, with the cluster's key and ONLY the
    /// cluster's `known_hosts`.
    pub fn ssh_client(&self) -> Ssh {
        Ssh {
            key: self.key(),
            known_hosts: self.known_hosts(),
            user: "azureuser".into(),
        }
    }

    /// `ssh` to `host` running `command` (see [`Cluster::ssh_client`]), not started yet.
    pub fn ssh(&self, host: &NodeHost, command: &str) -> Command {
        self.ssh_client().command(&host.ip, &[], command)
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
    /// network namespace and no sshd of this cloud's instance. (Dropping the cluster stops
    /// the cloud too, without the checks, when a test fails earlier.)
    pub fn teardown(mut self) {
        let instance = self.instance();
        // Every process of the hosts (sshd listeners, sessions, what they ran), seen before
        // the stop: none may outlive it.
        let host_pids: Vec<u32> = instance
            .iter()
            .flat_map(|i| netns_with(i))
            .flat_map(|ns| netns_pids(&ns))
            .collect();
        self.stop_own_cloud();
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

/// The system `ssh` client to a host as `user`, with `key` and ONLY `known_hosts`
/// (StrictHostKeyChecking=yes: an unknown or changed host key fails).
#[derive(Debug)]
pub struct Ssh {
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub user: String,
}

impl Ssh {
    /// Pins `host_public_key` for `ip` (the cloud's word, checked by sshd's answer).
    pub fn pin(&self, ip: &str, host_public_key: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.known_hosts)
            .unwrap();
        writeln!(f, "{ip} {host_public_key}").unwrap();
    }

    /// `ssh [EXTRA] user@ip CMD`, not started yet.
    pub fn command(&self, ip: &str, extra: &[&str], cmd: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-i"])
            .arg(&self.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5"])
            .args(["-o", "LogLevel=ERROR"])
            .args(extra)
            .arg(format!("{}@{ip}", self.user))
            .arg(cmd);
        c
    }

    /// Runs `cmd` on the host; returns (exit success, stdout, stderr), trimmed.
    pub fn run(&self, ip: &str, cmd: &str) -> (bool, String, String) {
        let out = self.command(ip, &[], cmd).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    }

    /// Runs `cmd`, asserting success; returns stdout, trimmed.
    pub fn ok(&self, ip: &str, cmd: &str) -> String {
        let (ok, out, err) = self.run(ip, cmd);
        assert!(ok, "ssh {ip} {cmd:?} failed: {err}");
        out
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

impl Cluster {
    /// Writes `password` for every PostgreSQL server into `host`'s `~/.pgpass` (0600), so
    /// `psql` there logs in without the password on a command line.
    pub fn write_pgpass(&self, host: &NodeHost, password: &str) {
        let entry = password
            .trim()
            .replace('\\', "\\\\")
            .replace(':', "\\:")
            .replace('\'', "'\\''");
        self.ssh_ok(
            host,
            &format!("umask 077 && printf '%s\\n' '*:*:*:*:{entry}' > ~/.pgpass"),
        );
    }

    /// `kubectl get nodes -o json`, the real `kubectl` through the cluster's own kubeconfig
    /// (`<state_dir>/kubeconfig`).
    pub fn kubectl_nodes(&self) -> Value {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.state_dir().join("kubeconfig"))
            .args(["get", "nodes", "-o", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl get nodes: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `(name, kubelet version)` of every Node whose Ready condition is True
    /// ([`Cluster::kubectl_nodes`]).
    pub fn ready_nodes(&self) -> Vec<(String, String)> {
        self.kubectl_nodes()["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .map(|n| {
                (
                    n["metadata"]["name"].as_str().unwrap().to_owned(),
                    n["status"]["nodeInfo"]["kubeletVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }
}

//! Helpers for the tests whose local cloud realizes VMs as real SSH hosts: the root check,
//! a client key, a network on an address space of the test's own, `ssh` with a pinned host
//! key, and leftovers checks.
#![allow(dead_code, clippy::print_stderr)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

#[path = "../local_cloud_support/mod.rs"]
pub mod cloud;
#[path = "../support/procs.rs"]
mod procs;
#[allow(unused_imports)] // not every test file uses every helper
pub use cloud::{Env, res_path, rg_path};
#[allow(unused_imports)] // each test binary uses a different subset
pub use procs::{alive, links_with, netns_with, procs_with};

/// Whether this test may run: root is needed. Under CI a missing root is a failure.
pub fn root_or_skip(test: &str) -> bool {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))?
                .split_whitespace()
                .nth(2)?
                .parse::<u32>()
                .ok()
        });
    if uid == Some(0) {
        return true;
    }
    let why = "realizing local-cloud VMs as hosts needs root (namespaces, mounts, sshd)";
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {why}; CI must run this test as root");
    }
    eprintln!("skipping {test}: {why}");
    false
}

/// A fresh ed25519 client key in `dir`: (private key path, public key line).
pub fn client_key(dir: &Path) -> (PathBuf, String) {
    let key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let path = dir.join("id_ed25519");
    key.write_openssh_file(&path, ssh_key::LineEnding::LF)
        .unwrap();
    (path, key.public_key().to_openssh().unwrap())
}

/// Resource group + VNet `vnet` (`prefix`.0.0/16) with subnet `nodes` (`prefix`.1.0/24).
pub async fn network(env: &Env, rg: &str, prefix: &str) {
    env.create_group(rg).await;
    let r = env
        .put(
            &res_path(rg, "Microsoft.Network/virtualNetworks", "vnet"),
            json!({"location": "eastus", "properties": {
                "addressSpace": {"addressPrefixes": [format!("{prefix}.0.0/16")]},
                "subnets": [{"name": "nodes", "properties": {"addressPrefix": format!("{prefix}.1.0/24")}}]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
}

/// A Flexible scale set body of `capacity` VMs admitting `public_key` for `azureuser`.
pub fn vmss(env: &Env, rg: &str, capacity: u64, public_key: &str) -> Value {
    let mut body = env.vmss_body(rg, capacity);
    body["properties"]["virtualMachineProfile"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"]
        [0]["keyData"] = public_key.into();
    body
}

/// PUTs the scale set and waits for its operation; returns the final status word.
pub async fn put_vmss(env: &Env, rg: &str, name: &str, body: Value) -> String {
    let r = env
        .put(
            &res_path(rg, "Microsoft.Compute/virtualMachineScaleSets", name),
            body,
        )
        .await;
    assert!(r.status().is_success(), "VMSS PUT: {}", r.status());
    let (status, body) = env.wait(&r).await;
    if status != "Succeeded" {
        eprintln!("scale set {name}: {status}: {body}");
    }
    status
}

/// `GET /_local/vms`: every VM with its host.
pub async fn vms(env: &Env) -> Vec<Value> {
    let url = format!("{}_local/vms", env.cloud.endpoint);
    let body: Value = env
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["value"].as_array().cloned().unwrap_or_default()
}

/// POSTs a control-API power action for VM `name`.
pub async fn power(env: &Env, name: &str, action: &str) {
    let url = format!("{}_local/vms/{name}/{action}", env.cloud.endpoint);
    let r = env.http.post(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{action} {name}");
}

/// `ssh` to a host as its admin user, trusting only the host key in `known_hosts`.
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

    pub fn command(&self, ip: &str, extra: &[&str], cmd: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-i"])
            .arg(&self.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
            ])
            .args(extra)
            .arg(format!("{}@{ip}", self.user))
            .arg(cmd);
        c
    }

    /// Runs `cmd` on the host; returns (exit success, stdout, stderr).
    pub fn run(&self, ip: &str, cmd: &str) -> (bool, String, String) {
        let out = self.command(ip, &[], cmd).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    }

    /// Runs `cmd`, asserting success; returns stdout.
    pub fn ok(&self, ip: &str, cmd: &str) -> String {
        let (ok, out, err) = self.run(ip, cmd);
        assert!(ok, "ssh {ip} {cmd:?} failed: {err}");
        out
    }
}

/// Mount points of this namespace below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(str::to_string)
        .collect()
}

/// The interface prefix of the hosts of the cloud in `data_dir`.
pub fn instance_prefix(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("hosts/.instance"))
        .unwrap()
        .trim()
        .to_string()
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

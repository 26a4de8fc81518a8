//! Helpers for this crate's tests that realize VMs as real hosts (root needed): a local
//! cloud started in-process with hosts, a scale set made over its ARM API, and `ssh` to a
//! host as its admin user with the host key pinned (the system OpenSSH client).
#![allow(dead_code, clippy::print_stderr)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use local_cloud::{HostInfo, LatencyModel, LocalCloudHandle, LocalCloudOptions, api_versions};
use serde_json::{Value, json};

const SUB: &str = "00000000-0000-0000-0000-0000000b0575";

/// Whether this test may run: root is needed. Under CI a missing root is a failure.
pub fn root_or_skip(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1));
    if uid == Some("0") {
        return true;
    }
    let why = "realizing local-cloud VMs as hosts needs root (namespaces, mounts, sshd)";
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {why}; CI must run this test as root"
    );
    eprintln!("skipping {test}: {why}");
    false
}

/// A local cloud with hosts, a resource group and a VNet `10.<net>.0.0/16` of its own
/// (tests running at once must not share an address space).
pub struct Cloud {
    pub handle: LocalCloudHandle,
    http: reqwest::Client,
    net: u8,
    /// The cloud's data dir (its hosts' disks are under `hosts/`).
    pub data: tempfile::TempDir,
    /// The client's files: key, known_hosts.
    pub client: tempfile::TempDir,
    public_key: String,
}

fn version(rtype: &str) -> &'static str {
    api_versions::versions(rtype)
        .and_then(|v| v.first())
        .copied()
        .unwrap_or("2025-04-01")
}

impl Cloud {
    /// Starts the cloud (fast operations) and creates group `rg` with VNet `vnet`.
    pub async fn start(net: u8) -> Cloud {
        let data = tempfile::tempdir().unwrap();
        Self::start_in(data, net).await
    }

    /// Like `start`, on an existing data dir (a restart keeps the hosts' disks).
    pub async fn start_in(data: tempfile::TempDir, net: u8) -> Cloud {
        let cloud = Self::open(data, net).await;
        let group = format!("/subscriptions/{SUB}/resourceGroups/rg");
        cloud
            .put(
                &group,
                "Microsoft.Resources/resourceGroups",
                json!({"location": "eastus"}),
            )
            .await;
        let n = cloud.net;
        cloud
            .put(
                &format!("{group}/providers/Microsoft.Network/virtualNetworks/vnet"),
                "Microsoft.Network/virtualNetworks",
                json!({"location": "eastus", "properties": {
                    "addressSpace": {"addressPrefixes": [format!("10.{n}.0.0/16")]},
                    "subnets": [{"name": "nodes", "properties": {"addressPrefix": format!("10.{n}.1.0/24")}}]}}),
            )
            .await;
        cloud
    }

    /// A cloud with hosts started on `data` as it is (no group or VNet PUT): what a restart
    /// after a crash does. The client is new.
    pub async fn open(data: tempfile::TempDir, net: u8) -> Cloud {
        let handle = Self::serve(data.path()).await;
        let client = tempfile::tempdir().unwrap();
        let key = ssh_key::PrivateKey::random(
            &mut ssh_key::rand_core::OsRng,
            ssh_key::Algorithm::Ed25519,
        )
        .unwrap();
        key.write_openssh_file(&client.path().join("id"), ssh_key::LineEnding::LF)
            .unwrap();
        let public_key = key.public_key().to_openssh().unwrap();
        Self::assemble(handle, net, data, client, public_key)
    }

    /// Shuts the cloud down and starts it again on the same data dir, as a restart of the
    /// machine's local cloud would; the client (its SSH key) stays.
    pub async fn restart(self) -> Cloud {
        let Cloud {
            handle,
            net,
            data,
            client,
            public_key,
            ..
        } = self;
        handle.shutdown().await;
        let handle = Self::serve(data.path()).await;
        Self::assemble(handle, net, data, client, public_key)
    }

    fn assemble(
        handle: LocalCloudHandle,
        net: u8,
        data: tempfile::TempDir,
        client: tempfile::TempDir,
        public_key: String,
    ) -> Cloud {
        let ca = reqwest::Certificate::from_pem(handle.ca_pem.as_bytes()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        Cloud {
            http,
            handle,
            net,
            data,
            client,
            public_key,
        }
    }

    /// A local cloud with hosts on `data` (fast operations), as the tests run it.
    pub async fn serve(data: &Path) -> LocalCloudHandle {
        let mut opts = LocalCloudOptions::new(data);
        opts.latency = LatencyModel {
            retry_after_secs: Some(0),
            ..LatencyModel::scaled(0.001)
        };
        opts.realize_hosts = true;
        opts.host_exe = Some(env!("CARGO_BIN_EXE_local-cloud-host").into());
        local_cloud::start(opts)
            .await
            .expect("local cloud with hosts starts")
    }

    /// The resource group's id.
    pub fn group(&self) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/rg")
    }

    /// The `nodes` subnet's id (`10.<net>.1.0/24`).
    pub fn subnet(&self) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/nodes",
            self.group()
        )
    }

    fn url(&self, path: &str, rtype: &str) -> String {
        format!(
            "{}{}?api-version={}",
            self.handle.endpoint,
            &path[1..],
            version(rtype)
        )
    }

    /// GETs the resource at `path`.
    pub async fn get(&self, path: &str, rtype: &str) -> Value {
        let r = self
            .http
            .get(self.url(path, rtype))
            .bearer_auth(self.handle.token())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// DELETEs the resource at `path` and follows `Location` until it is gone.
    pub async fn delete(&self, path: &str, rtype: &str) {
        let r = self
            .http
            .delete(self.url(path, rtype))
            .bearer_auth(self.handle.token())
            .send()
            .await
            .unwrap();
        if !r.status().is_success() {
            panic!(
                "DELETE {path}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        let Some(loc) = r.headers().get("location").and_then(|v| v.to_str().ok()) else {
            return;
        };
        let loc = loc.to_string();
        let start = Instant::now();
        loop {
            let s = self
                .http
                .get(&loc)
                .bearer_auth(self.handle.token())
                .send()
                .await
                .unwrap()
                .status();
            match s.as_u16() {
                202 => {}
                200 | 204 => return,
                other => panic!("DELETE {path} ended {other}"),
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "DELETE {path} never finished"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// PUTs `body` at `path` and follows the operation to its end; panics unless it succeeds.
    pub async fn put(&self, path: &str, rtype: &str, body: Value) {
        let r = self
            .http
            .put(self.url(path, rtype))
            .bearer_auth(self.handle.token())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PUT {path}: {}", r.status());
        let Some(op) = r
            .headers()
            .get("azure-asyncoperation")
            .and_then(|v| v.to_str().ok())
        else {
            return; // synchronous
        };
        follow(&self.http, self.handle.token(), op, path).await;
    }

    /// Creates (or resizes) scale set `name` with `count` VMs; returns their hosts, running.
    pub async fn scale_set(&self, name: &str, count: u64) -> Vec<Host> {
        self.scale_set_in_pools(name, count, &[]).await
    }

    /// Like `scale_set`, with the VMs' ipConfiguration in the load balancer backend pools
    /// `pools` (ids).
    pub async fn scale_set_in_pools(&self, name: &str, count: u64, pools: &[String]) -> Vec<Host> {
        let group = self.group();
        let subnet = self.subnet();
        let pools: Vec<Value> = pools.iter().map(|p| json!({"id": p})).collect();
        let body = json!({"location": "eastus", "sku": {"name": "Standard_D2s_v5", "capacity": count},
            "properties": {"orchestrationMode": "Flexible", "platformFaultDomainCount": 1,
                "virtualMachineProfile": {
                    "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}},
                    "osProfile": {"computerNamePrefix": name, "adminUsername": "azureuser",
                        "linuxConfiguration": {"disablePasswordAuthentication": true, "ssh": {"publicKeys": [
                            {"path": "/home/azureuser/.ssh/authorized_keys", "keyData": self.public_key}]}}},
                    "networkProfile": {"networkApiVersion": "2022-11-01", "networkInterfaceConfigurations": [
                        {"name": "nic", "properties": {"primary": true, "ipConfigurations": [
                            {"name": "ip", "properties": {"primary": true, "subnet": {"id": subnet},
                                "loadBalancerBackendAddressPools": pools}}]}}]}}}});
        self.put(
            &format!("{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"),
            "Microsoft.Compute/virtualMachineScaleSets",
            body,
        )
        .await;
        let prefix = format!("{name}_");
        let mut hosts: Vec<Host> = self
            .handle
            .hosts()
            .into_iter()
            .filter(|h| h.name.starts_with(&prefix))
            .map(|h| self.host_of(&h))
            .collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(hosts.len() as u64, count, "hosts of {name}");
        hosts
    }

    /// The host of VM `vm`, as the cloud tells it now.
    pub fn host(&self, vm: &str) -> Host {
        self.host_of(&self.handle.host(vm).expect("the VM has a host"))
    }

    fn host_of(&self, info: &HostInfo) -> Host {
        let known_hosts = self
            .client
            .path()
            .join(format!("known_hosts_{}", info.name));
        let key = info.host_public_key.clone().expect("a host key");
        std::fs::write(&known_hosts, format!("{} {key}\n", info.address)).unwrap();
        Host {
            name: info.name.clone(),
            ip: info.address.clone(),
            netns: info.netns.clone(),
            known_hosts,
            key: self.client.path().join("id"),
        }
    }

    /// The cloud's directory of VM `vm`'s disk.
    pub fn vm_dir(&self, vm: &str) -> PathBuf {
        self.data.path().join("hosts").join(vm.to_ascii_lowercase())
    }

    /// Stops or starts VM `vm` (`stop`, `start`) through the cloud.
    pub fn power(&self, vm: &str, action: &str) {
        self.handle
            .set_vm_power(vm, action)
            .expect("power action accepted");
    }
}

/// One realized host reached as `azureuser` over SSH.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub ip: String,
    pub netns: String,
    known_hosts: PathBuf,
    key: PathBuf,
}

/// What a remote command did.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Host {
    /// Runs `cmd` (a shell command line) on the host; the host key must be the pinned one.
    pub fn run(&self, cmd: &str) -> Out {
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(&self.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("azureuser@{}", self.ip))
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        }
    }

    /// Runs `cmd`, which must succeed; returns its stdout.
    pub fn ok(&self, cmd: &str) -> String {
        let o = self.run(cmd);
        assert_eq!(
            o.code,
            Some(0),
            "{}: `{cmd}` failed: {}\n{}",
            self.name,
            o.stderr,
            o.stdout
        );
        o.stdout
    }

    /// The SSH client options that reach this host, for other SSH clients (Ansible).
    pub fn ssh_args(&self) -> String {
        format!(
            "-F /dev/null -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
            self.key.display(),
            self.known_hosts.display()
        )
    }
}

/// Follows operation `op` (its `Azure-AsyncOperation` URL) until it is over; panics unless
/// it succeeds within 120 s (`what` names it).
pub async fn follow(http: &reqwest::Client, token: &str, op: &str, what: &str) {
    let start = Instant::now();
    loop {
        let s: Value = http
            .get(op)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match s["status"].as_str() {
            Some("InProgress") => {}
            Some("Succeeded") => return,
            other => panic!("PUT {what} ended {other:?}: {s}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "PUT {what} never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` every 50 ms until it holds; fails after `secs` seconds (a bound against a
/// hang, not a timing assertion).
pub async fn until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let polling = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(secs), polling)
        .await
        .is_err()
    {
        panic!("never happened within {secs} s: {what}");
    }
}

/// Pids of processes on this machine whose command line contains `needle`.
pub fn machine_pids_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) && pid != std::process::id() {
            pids.push(pid);
        }
    }
    pids
}

/// A path of this machine that exists nowhere else (a marker the hosts must not see).
pub fn machine_marker(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(format!("{name}-{}", std::process::id()));
    std::fs::write(&p, "machine").unwrap();
    p
}

//! Helpers for the inventory tests: a local cloud served from the test process (so the test
//! can stop VMs and read request counts) and the real `platform` binary pointed at it.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use local_cloud::{self, LatencyModel, LocalCloudHandle, LocalCloudOptions, RequestStats};
use serde_json::Value;

/// One cluster in a temp dir: its config, its local cloud, a runtime serving the cloud.
pub struct Cluster {
    pub name: String,
    pub dir: tempfile::TempDir,
    cloud: Option<LocalCloudHandle>,
    rt: tokio::runtime::Runtime,
}

/// What a `platform` run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cluster {
    /// Starts a local cloud with `page_size` items per page and writes a config whose
    /// `nodes` section is `nodes_yaml` (indented under `nodes:`), Postgres off for speed.
    pub fn start(name: &str, page_size: usize, nodes_yaml: &str, network_yaml: &str) -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut opts = LocalCloudOptions::new(dir.path().join("cloud"));
        opts.latency = LatencyModel {
            retry_after_secs: Some(0),
            ..LatencyModel::scaled(0.001)
        };
        opts.page_size = page_size;
        let cloud = rt
            .block_on(local_cloud::start(opts))
            .expect("local cloud starts");
        let config = format!(
            "cluster: {name}\ncloud:\n  kind: local\n  arm_endpoint: {}\n  local_ca: {}\n  local_time_factor: 0.001\nnetwork:\n  admin_cidrs: [192.0.2.0/24]\n{network_yaml}gitops:\n  controller: none\npostgres:\n  enabled: false\nnodes:\n{nodes_yaml}",
            cloud.endpoint,
            cloud.ca_path.display()
        );
        std::fs::write(dir.path().join("platform.yaml"), config).unwrap();
        Cluster {
            name: name.to_owned(),
            dir,
            cloud: Some(cloud),
            rt,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `platform ARGS` in the cluster's directory.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = platform_cmd(self.path())
            .args(args)
            .output()
            .expect("run platform");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "platform {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    }

    fn cloud(&self) -> &LocalCloudHandle {
        self.cloud.as_ref().expect("cloud running")
    }

    /// Stops a VM in the local cloud (like `POST /_local/vms/{name}/stop`).
    pub fn stop_vm(&self, name: &str) {
        self.cloud().set_vm_power(name, "stop").expect("stop VM");
    }

    pub fn stats(&self) -> RequestStats {
        self.cloud().stats()
    }

    pub fn reset_stats(&self) {
        self.cloud().reset_stats();
    }

    /// `inventories/<cluster>/<file>`.
    pub fn inventory_file(&self, file: &str) -> PathBuf {
        self.path().join("inventories").join(&self.name).join(file)
    }

    /// The `inventory` phase's outputs in state.
    pub fn state_outputs(&self) -> Value {
        let text = std::fs::read_to_string(self.path().join(".platform/state.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        v["phases"]["inventory"]["outputs"].clone()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(c) = self.cloud.take() {
            self.rt.block_on(c.shutdown());
        }
    }
}

/// The `platform` binary in `dir`, with a clean environment for the variables it reads.
pub fn platform_cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_platform"));
    c.current_dir(dir)
        .env_remove("PLATFORM_CONFIG")
        .env_remove("PLATFORM_STATE_DIR")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

/// Group name -> sorted host names, and host -> vars, from a `--list` document (ours or
/// `ansible-inventory`'s); groups without hosts are left out, `all`/`ungrouped` too.
pub fn groups_and_hosts(
    v: &Value,
) -> (
    std::collections::BTreeMap<String, Vec<String>>,
    std::collections::BTreeMap<String, Value>,
) {
    let mut groups = std::collections::BTreeMap::new();
    for (g, body) in v.as_object().unwrap() {
        if g == "_meta" || g == "all" || g == "ungrouped" {
            continue;
        }
        let mut hosts: Vec<String> = body["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect();
        hosts.sort();
        if !hosts.is_empty() {
            groups.insert(g.clone(), hosts);
        }
    }
    let hostvars = v["_meta"]["hostvars"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    (groups, hostvars)
}

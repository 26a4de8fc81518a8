//! The one test cluster: a temporary directory holding a `platform.yaml` written from a
//! [`Spec`], the real `platform` binary run in it, and its state read back. When the config
//! gives the cluster a local cloud of its own (`cloud.kind: local` without `arm_endpoint`,
//! started in the background by `platform` itself), dropping the cluster stops that cloud,
//! and with it every host it realized, before the directory goes.
//!
//! Starting points: [`Cluster::local`] (its own cloud, VMs as records),
//! [`Cluster::with_hosts`] (its own cloud, VMs as real SSH hosts, see `nodes`),
//! [`Cluster::on`] (a [`LocalCloud`] the test started), [`Cluster::static_hosts`]
//! (bring-your-own hosts) and [`Cluster::azure`]; [`Cluster::bare`] is a directory for
//! `platform init`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::cloud::{CloudApi, LocalCloud};
use super::{Run, platform};

/// What `platform.yaml` says. Made by the constructors of [`Cluster`], changed by the methods
/// below, written by [`Spec::build`] (or [`Cluster::reconfigure`]).
#[derive(Clone, Debug)]
pub struct Spec {
    name: String,
    cloud: CloudSpec,
    admin_cidrs: String,
    network: String,
    postgres: bool,
    sections: String,
    /// `cloud.resource_group`; `None` leaves the default `<cluster>-rg`.
    resource_group: Option<String>,
}

/// The `cloud:` section.
#[derive(Clone, Debug)]
enum CloudSpec {
    /// The cluster's own local cloud, run in the background by `platform`.
    Own { time_factor: f64, hosts: bool },
    /// A `platform local-cloud serve` the test started.
    Served {
        endpoint: String,
        ca: PathBuf,
        time_factor: f64,
    },
    /// Bring-your-own hosts (`inventories/<cluster>.yml`, or `inventory`).
    Static { inventory: Option<String> },
    /// Azure, with credential source `credential` (the chain's default when `None`).
    Azure { credential: Option<String> },
}

impl Spec {
    fn new(name: &str, cloud: CloudSpec) -> Spec {
        Spec {
            name: name.to_owned(),
            cloud,
            admin_cidrs: "[192.0.2.0/24]".to_owned(),
            network: String::new(),
            postgres: true,
            sections: String::new(),
            resource_group: None,
        }
    }

    /// Another cluster name.
    pub fn named(mut self, name: &str) -> Spec {
        self.name = name.to_owned();
        self
    }

    /// `network.admin_cidrs` (YAML flow list; default `[192.0.2.0/24]`).
    pub fn admin_cidrs(mut self, cidrs: &str) -> Spec {
        cidrs.clone_into(&mut self.admin_cidrs);
        self
    }

    /// `cloud.resource_group` (any cloud with resource groups).
    pub fn resource_group(mut self, name: &str) -> Spec {
        self.resource_group = Some(name.to_owned());
        self
    }

    /// More lines of the `network:` section (indented by two spaces, each ending in `\n`).
    pub fn network(mut self, lines: &str) -> Spec {
        self.network.push_str(lines);
        self
    }

    /// `postgres.enabled: false` (the nodes and inventory phases do not need it).
    pub fn without_postgres(mut self) -> Spec {
        self.postgres = false;
        self
    }

    /// `postgres.enabled` left at its default (true): infra creates the Flexible Server.
    pub fn with_postgres(mut self) -> Spec {
        self.postgres = true;
        self
    }

    /// Top-level sections appended as they are (`nodes:`, `postgres:`, ...).
    pub fn yaml(mut self, sections: &str) -> Spec {
        self.sections.push_str(sections);
        self
    }

    /// `cloud.local_hosts: true` for a cluster with a local cloud of its own (no address
    /// space of its own: see [`Cluster::with_hosts`] for clusters that really start hosts).
    pub fn realize_hosts(mut self) -> Spec {
        if let CloudSpec::Own { hosts, .. } = &mut self.cloud {
            *hosts = true;
        } else {
            panic!("cloud.local_hosts is for clusters with a local cloud of their own");
        }
        self
    }

    /// `cloud.credential` of an Azure cluster (`service-principal`, `azure-cli`, ...).
    pub fn credential(mut self, source: &str) -> Spec {
        if let CloudSpec::Azure { credential } = &mut self.cloud {
            *credential = Some(source.to_owned());
        } else {
            panic!("cloud.credential is for Azure clusters");
        }
        self
    }

    /// `cloud.inventory` of a static cluster.
    pub fn inventory(mut self, file: &str) -> Spec {
        if let CloudSpec::Static { inventory } = &mut self.cloud {
            *inventory = Some(file.to_owned());
        } else {
            panic!("cloud.inventory is for static clusters");
        }
        self
    }

    /// Writes `platform.yaml` in a new temporary directory.
    pub fn build(self) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster {
            spec: None,
            guard: None,
            dir,
        };
        c.write(self);
        c
    }

    /// The text of `platform.yaml`.
    fn text(&self) -> String {
        let mut cloud = String::new();
        match &self.cloud {
            CloudSpec::Own { time_factor, hosts } => cloud.push_str(&format!(
                "  kind: local\n  local_time_factor: {time_factor}\n  local_hosts: {hosts}\n"
            )),
            CloudSpec::Served {
                endpoint,
                ca,
                time_factor,
            } => cloud.push_str(&format!(
                "  kind: local\n  arm_endpoint: {}\n  local_ca: {}\n  local_time_factor: {time_factor}\n",
                endpoint.trim_end_matches('/'),
                ca.display()
            )),
            CloudSpec::Azure { credential } => {
                cloud.push_str(
                    "  kind: azure\n  subscription_id: 00000000-0000-0000-0000-000000000001\n  location: westeurope\n",
                );
                if let Some(c) = credential {
                    cloud.push_str(&format!("  credential: {c}\n"));
                }
            }
            CloudSpec::Static { inventory } => {
                cloud.push_str("  kind: static\n");
                if let Some(i) = inventory {
                    cloud.push_str(&format!("  inventory: {i}\n"));
                }
            }
        }
        if let Some(rg) = &self.resource_group {
            cloud.push_str(&format!("  resource_group: \"{rg}\"\n"));
        }
        let postgres = if self.postgres {
            ""
        } else {
            "postgres:\n  enabled: false\n"
        };
        format!(
            "cluster: {}\ncloud:\n{cloud}network:\n{}  admin_cidrs: {}\n{postgres}gitops:\n  controller: none\n{}",
            self.name, self.network, self.admin_cidrs, self.sections
        )
    }
}

/// A cluster directory (see the module header). Dropping it stops its own local cloud.
#[derive(Debug)]
pub struct Cluster {
    spec: Option<Spec>,
    // Field order is drop order: the cloud stops before its data dir is deleted.
    guard: Option<LocalCloudGuard>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A cluster with a local cloud of its own whose VMs are records only, latencies scaled
    /// down 1,000 times.
    pub fn local(name: &str) -> Spec {
        Spec::new(
            name,
            CloudSpec::Own {
                time_factor: 0.001,
                hosts: false,
            },
        )
    }

    /// A cluster with a local cloud of its own whose `servers` + `agents` VMs are real SSH
    /// hosts (root needed) in `10.<octet>.0.0/16`: two clouds with hosts cannot route the
    /// same addresses at once, so every test takes an octet of its own. No Postgres (the
    /// nodes phase does not need it), latencies scaled down 500 times.
    pub fn with_hosts(name: &str, octet: u8, servers: u32, agents: u32) -> Spec {
        Spec::new(
            name,
            CloudSpec::Own {
                time_factor: 0.002,
                hosts: true,
            },
        )
        .network(&format!(
            "  address_space: 10.{octet}.0.0/16\n  node_subnet: 10.{octet}.1.0/24\n  postgres_subnet: 10.{octet}.2.0/24\n"
        ))
        .admin_cidrs("[127.0.0.0/8]")
        .without_postgres()
        .yaml(&format!(
            "nodes:\n  servers: {{count: {servers}}}\n  agents: {{count: {agents}}}\n"
        ))
    }

    /// A cluster on `cloud`, a local cloud the test started, as a deployment points at Azure.
    pub fn on(cloud: &LocalCloud, name: &str) -> Spec {
        Spec::new(
            name,
            CloudSpec::Served {
                endpoint: cloud.endpoint.clone(),
                ca: cloud.ca.clone(),
                time_factor: cloud.time_factor,
            },
        )
    }

    /// A cluster of bring-your-own hosts (`cloud.kind: static`).
    pub fn static_hosts(name: &str) -> Spec {
        Spec::new(name, CloudSpec::Static { inventory: None })
    }

    /// A cluster on Azure (a subscription nobody has): for what happens before any Azure
    /// request.
    pub fn azure(name: &str) -> Spec {
        Spec::new(name, CloudSpec::Azure { credential: None })
    }

    /// A directory without `platform.yaml`, for `platform init`; the local cloud a later
    /// command starts there is stopped on drop all the same.
    pub fn bare() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Cluster {
            spec: None,
            guard: Some(LocalCloudGuard(dir.path().to_owned())),
            dir,
        }
    }

    /// Rewrites `platform.yaml` with `change` applied to its spec (same directory, same
    /// state).
    pub fn reconfigure(&mut self, change: impl FnOnce(Spec) -> Spec) {
        let spec = self.spec.take().expect("a cluster with a platform.yaml");
        self.write(change(spec));
    }

    fn write(&mut self, spec: Spec) {
        std::fs::write(self.path().join("platform.yaml"), spec.text()).unwrap();
        if matches!(spec.cloud, CloudSpec::Own { .. }) && self.guard.is_none() {
            self.guard = Some(LocalCloudGuard(self.path().to_owned()));
        }
        self.spec = Some(spec);
    }

    /// The cluster name (`cluster:`).
    pub fn name(&self) -> &str {
        &self.spec.as_ref().expect("a configured cluster").name
    }

    /// The directory holding `platform.yaml`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/.platform`.
    pub fn state_dir(&self) -> PathBuf {
        self.path().join(".platform")
    }

    /// The resource group the config uses (`cloud.resource_group`, else `<cluster>-rg`).
    pub fn rg(&self) -> String {
        self.spec
            .as_ref()
            .and_then(|s| s.resource_group.clone())
            .unwrap_or_else(|| format!("{}-rg", self.name()))
    }

    /// The `platform` binary in the cluster's directory, not started yet.
    pub fn command(&self) -> Command {
        platform(self.path())
    }

    /// Runs `platform ARGS` for this cluster.
    pub fn run(&self, args: &[&str]) -> Run {
        super::run(self.path(), args)
    }

    /// Runs `platform ARGS` and asserts that it succeeded.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "platform {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    }

    /// The state file as JSON, if any.
    pub fn state(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.state_dir().join("state.json")).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }

    /// A phase's recorded status (`succeeded`, `failed`, `running`), if any.
    pub fn phase_status(&self, phase: &str) -> Option<String> {
        let s = self.state()?;
        s["phases"][phase]["status"].as_str().map(str::to_owned)
    }

    /// A phase's recorded outputs (`Null` when it has none).
    pub fn outputs(&self, phase: &str) -> Value {
        let s = self.state().expect("a state file");
        s["phases"][phase]["outputs"].clone()
    }

    /// `inventories/<cluster>/<file>`.
    pub fn inventory_file(&self, file: &str) -> PathBuf {
        self.path().join("inventories").join(self.name()).join(file)
    }

    /// The cluster's own local cloud, as its `serve.json` names it.
    pub fn cloud(&self) -> CloudApi {
        let path = self.state_dir().join("local-cloud/serve.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        CloudApi::new(
            v["endpoint"].as_str().unwrap(),
            Path::new(v["ca_path"].as_str().unwrap()),
        )
    }

    /// Stops the cluster's own local cloud now (no-op when it has none).
    pub(crate) fn stop_own_cloud(&mut self) {
        drop(self.guard.take());
    }
}

/// Stops the background local cloud of the state directory `<dir>/.platform` when dropped
/// (tests clean up every process they start, even when they fail).
#[derive(Debug)]
struct LocalCloudGuard(PathBuf);

impl Drop for LocalCloudGuard {
    fn drop(&mut self) {
        let _ = platform::cloud::daemon::stop(&self.0.join(".platform/local-cloud"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_write_the_config_their_tests_expect() {
        let local = Cluster::local("demo").yaml("postgres: {enabled: false}\n");
        assert_eq!(
            local.text(),
            "cluster: demo\ncloud:\n  kind: local\n  local_time_factor: 0.001\n  local_hosts: false\nnetwork:\n  admin_cidrs: [192.0.2.0/24]\ngitops:\n  controller: none\npostgres: {enabled: false}\n"
        );
        let hosts = Cluster::with_hosts("e2e", 241, 1, 2).text();
        for line in [
            "  local_hosts: true\n",
            "  address_space: 10.241.0.0/16\n",
            "  node_subnet: 10.241.1.0/24\n",
            "  admin_cidrs: [127.0.0.0/8]\n",
            "postgres:\n  enabled: false\n",
            "nodes:\n  servers: {count: 1}\n  agents: {count: 2}\n",
        ] {
            assert!(hosts.contains(line), "{line:?} not in:\n{hosts}");
        }
        let served = Spec::new(
            "inv",
            CloudSpec::Served {
                endpoint: "https://127.0.0.1:4443/".into(),
                ca: PathBuf::from("/tmp/ca.pem"),
                time_factor: 0.002,
            },
        )
        .network("  node_subnet: 10.0.4.0/22\n")
        .without_postgres();
        assert_eq!(
            served.text(),
            "cluster: inv\ncloud:\n  kind: local\n  arm_endpoint: https://127.0.0.1:4443\n  local_ca: /tmp/ca.pem\n  local_time_factor: 0.002\nnetwork:\n  node_subnet: 10.0.4.0/22\n  admin_cidrs: [192.0.2.0/24]\npostgres:\n  enabled: false\ngitops:\n  controller: none\n"
        );
        let byo = Cluster::static_hosts("byo").inventory("byo.yml").text();
        assert!(
            byo.contains("cloud:\n  kind: static\n  inventory: byo.yml\n"),
            "{byo}"
        );
    }
}

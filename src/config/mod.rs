//! The config schema (`platform.yaml`), its defaults, and validation with field paths.
//!
//! Loading never stops at the first problem: the file is parsed into a positioned YAML tree
//! ([`yaml`]), decoded field by field ([`sections`]), then checked as a whole ([`validate`]);
//! every issue found on the way is reported together.

mod decode;
mod sections;
mod validate;
mod validate_gitops;

use ipnet::Ipv4Net;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The default config file name.
pub const DEFAULT_FILE: &str = "platform.yaml";

/// Default `nodes.ssh_fanout`: hosts worked on at once over SSH. Enough for hundreds of
/// hosts, bounded so file descriptors and ssh processes stay reasonable.
pub const DEFAULT_SSH_FANOUT: usize = 256;

/// The whole config.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Cluster name: prefix of every Azure resource name and the kubeconfig context.
    pub cluster: String,
    pub cloud: Cloud,
    pub network: Network,
    pub nodes: Nodes,
    pub k3s: K3s,
    pub postgres: Postgres,
    pub gitops: Gitops,
    /// Where state, known_hosts, generated keys and the local cloud live (absolute).
    pub state_dir: PathBuf,
    /// The directory of the config file; relative paths in the config are resolved here.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Which cloud provisions the infrastructure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudKind {
    /// Azure Resource Manager.
    Azure,
    /// The local ARM-compatible cloud started in-process (no Azure account needed).
    Local,
    /// Bring-your-own hosts from a static inventory file (`cloud.inventory`); no `infra`.
    Static,
}

/// How to obtain Azure credentials (`cloud.credential`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialChoice {
    Auto,
    ServicePrincipal,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
}

/// The `cloud` section.
#[derive(Clone, Debug, Serialize)]
pub struct Cloud {
    pub kind: CloudKind,
    pub subscription_id: String,
    pub location: String,
    pub resource_group: String,
    /// ARM endpoint; `None` means the public cloud's (or the in-process local cloud's).
    pub arm_endpoint: Option<String>,
    pub credential: CredentialChoice,
    /// Local cloud only: latencies are Azure-shaped times multiplied by this factor.
    pub local_time_factor: f64,
    /// Local cloud with `arm_endpoint` (a `platform local-cloud serve` elsewhere): the CA
    /// file to trust for it. Default `<state_dir>/local-cloud/ca.pem`.
    pub local_ca: Option<PathBuf>,
    /// The cluster's own local cloud: realize scale-set VMs as real SSH hosts (network
    /// namespaces with sshd; needs root, openssh-server, sudo, iproute2). `None` = auto:
    /// when running as root with those installed.
    pub local_hosts: Option<bool>,
    /// `cloud.kind: static` only: the inventory file listing the hosts (absolute).
    /// Default `inventories/<cluster>.yml` beside the config.
    pub inventory: Option<PathBuf>,
}

/// The `network` section.
#[derive(Clone, Debug, Serialize)]
pub struct Network {
    pub address_space: Ipv4Net,
    pub node_subnet: Ipv4Net,
    pub postgres_subnet: Ipv4Net,
    /// Networks allowed to reach SSH (22) and the k3s API (6443). Never defaulted.
    pub admin_cidrs: Vec<Ipv4Net>,
    /// Explicit consent to `0.0.0.0/0` in `admin_cidrs`.
    pub allow_public_admin: bool,
    /// Open 80/443 to the internet for an ingress controller.
    pub ingress: bool,
}

/// Where the SSH key pair comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SshKey {
    /// Generate an ed25519 key pair in the state directory on first use.
    Generate,
    /// An existing private key; its public key is `<path>.pub`.
    Path(PathBuf),
}

/// One VM pool (scale set).
#[derive(Clone, Debug, Serialize)]
pub struct Pool {
    pub count: u32,
    pub vm_size: String,
    /// Marketplace image URN `publisher:offer:sku:version`.
    pub image: String,
    /// Give every VM its own public IP (needed to SSH without a jump host).
    pub public_ip: bool,
}

/// Which address of a VM SSH (and the inventory's `ansible_host`) uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SshAddress {
    /// The VM's public IP (needs `public_ip: true` on the pool).
    Public,
    /// The VM's private IP in the node subnet, directly or through `nodes.jump_host`.
    Private,
}

/// The `nodes` section.
#[derive(Clone, Debug, Serialize)]
pub struct Nodes {
    pub ssh_user: String,
    pub ssh_key: SshKey,
    /// The address SSH uses. Default: `public` for Azure, `private` for the local cloud.
    pub ssh_address: SshAddress,
    /// How many hosts SSH work runs on at once (`nodes.ssh_fanout`, default 256).
    pub ssh_fanout: usize,
    /// `ProxyJump` host (`[user@]host[:port]`) for nodes without a public address.
    pub jump_host: Option<String>,
    pub servers: Pool,
    pub agents: Pool,
}

/// Where k3s keeps cluster state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Datastore {
    /// Embedded etcd (`cluster-init` on the first server); needs an odd server count.
    Etcd,
    /// The PostgreSQL Flexible Server as external datastore.
    Postgres,
}

/// Air-gap install files, verified on the controller and pushed to the nodes.
#[derive(Clone, Debug, Serialize)]
pub struct Airgap {
    /// The `k3s` binary of the release.
    pub binary: PathBuf,
    /// The images archive (`k3s-airgap-images-amd64.tar.zst` or `.tar`/`.tar.gz`).
    pub images: PathBuf,
    /// The release's `sha256sum-amd64.txt` (`<hex>  <name>` lines) naming both.
    pub checksums: PathBuf,
}

/// Where the nodes' k3s binary comes from (`k3s.install`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Install {
    /// Each node downloads the release asset and checks it against the release's checksums.
    Download,
    /// The controller downloads once, verifies, and pushes the binary to every node.
    Upload,
    /// The user's files from `k3s.airgap`, verified and pushed.
    Airgap,
}

/// The `k3s` section.
#[derive(Clone, Debug, Serialize)]
pub struct K3s {
    /// An exact release such as `v1.31.4+k3s1`; wins over `channel`.
    pub version: Option<String>,
    /// A release channel (`stable`, `latest`, `testing`, or `v1.31`-style).
    pub channel: String,
    pub datastore: Datastore,
    pub flannel_backend: String,
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub disable: Vec<String>,
    pub install: Install,
    /// Base of the release downloads (`<url>/download/<tag>/k3s`); `None`: GitHub's, or the
    /// local cloud's mirror for `cloud.kind: local`.
    pub release_url: Option<String>,
    /// Base of the channel server (`<url>/<channel>` redirects to a release); `None`:
    /// update.k3s.io's, or the local cloud's mirror.
    pub channel_url: Option<String>,
    /// The address the kubeconfig uses for the API (a DNS name or an IP); `None`: the API
    /// load balancer's (public or internal per `nodes.ssh_address`).
    pub api_address: Option<String>,
    /// More names and addresses for the API's serving certificate.
    pub tls_san: Vec<String>,
    /// How long one node's k3s may take to start (seconds) before the phase fails naming it.
    pub start_timeout: u64,
    pub airgap: Option<Airgap>,
}

/// The `postgres` section.
#[derive(Clone, Debug, Serialize)]
pub struct Postgres {
    pub enabled: bool,
    pub server_name: String,
    pub version: String,
    pub sku: String,
    pub tier: String,
    pub storage_gb: u32,
    pub admin_user: String,
    pub databases: Vec<String>,
    /// A PEM file with the CA certificates that sign the server's certificate (absolute), for
    /// sovereign clouds or private CAs; `None`: Azure's documented roots, or the local cloud's
    /// CA. Left out of the serialized inputs when unset, so a config without it keeps the
    /// fingerprints it had before the field existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Connection Secrets for the applications; the `gitops` phase writes them, so they are
    /// not part of `infra`'s inputs (serialized only in `gitops`'s fingerprint view).
    #[serde(skip)]
    pub secrets: Vec<PgSecret>,
}

/// One `postgres.secrets` entry: a Secret `name` in `namespace` for `database`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PgSecret {
    pub namespace: String,
    pub database: String,
    pub name: String,
}

/// The GitOps controller to bootstrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    Flux,
    Argocd,
    None,
}

/// The `gitops` section.
#[derive(Clone, Debug, Serialize)]
pub struct Gitops {
    pub controller: Controller,
    pub repository: Option<String>,
    pub branch: String,
    pub path: String,
    pub flux: Release,
    pub argocd: Release,
    /// An offline copy of the controller's install manifests (used instead of a download).
    pub manifests: Option<PathBuf>,
    /// How often the controller polls the repository and reapplies (`1m`, `30s`, `1h`).
    pub interval: String,
    /// The name of the environment variable holding an HTTPS token; the token itself is read
    /// when the phase runs and never stored.
    pub token_env: Option<String>,
    /// For an SSH repository: a known_hosts file with the Git host's keys (pinned into the
    /// source Secret).
    pub known_hosts: Option<PathBuf>,
}

/// The `gitops.flux` and `gitops.argocd` sections: which release of the controller to
/// install and where its `install.yaml` comes from.
#[derive(Clone, Debug, Serialize)]
pub struct Release {
    /// A release tag (`v2.6.4` for Flux, `v3.5.1` for Argo CD).
    pub version: String,
    /// Base URL of the releases: Flux `<url>/download/<version>/install.yaml`, Argo CD
    /// `<url>/<version>/manifests/install.yaml`.
    pub manifests_url: String,
    /// The sha256 of that `install.yaml`; required for a version `platform` carries no
    /// checksum for.
    pub sha256: Option<String>,
}

/// Reads the PEM file `postgres.ca_bundle` names: a regular file under the size cap whose
/// every PEM section is a certificate, at least one. The one reader of that file, for
/// validation and for `infra`, which records what it reads.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<crate::certs::Certificate>, String> {
    let text = crate::fsutil::read_capped(path, crate::fsutil::caps::CA_BUNDLE)
        .map_err(|e| e.to_string())?;
    crate::certs::parse_bundle(&text).map_err(|e| format!("{} {e}", path.display()))
}

/// One problem in a config file.
pub use crate::yaml::Issue as ConfigIssue;
pub use sections::{
    ARGOCD_RELEASES, ARGOCD_VERSION, FLUX_RELEASES, FLUX_VERSION, argocd_checksum, flux_checksum,
};
pub use validate::overlap;

/// Every problem found in a config file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "{} has {n} error{}:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for i in &self.issues {
            write!(f, "\n  - ")?;
            if let Some(p) = i.pos {
                write!(f, "{}:{}:{}: ", self.file.display(), p.line, p.column)?;
            }
            if !i.path.is_empty() {
                write!(f, "{}: ", i.path)?;
            }
            write!(f, "{}", i.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads, decodes and validates a config file. Paths in it are resolved against its
    /// directory; `state_dir_override` (from `--state-dir`) wins over `state_dir`.
    pub fn load(path: &Path, state_dir_override: Option<&Path>) -> Result<Config, ConfigError> {
        let text = crate::fsutil::read_capped(path, crate::fsutil::caps::CONFIG).map_err(|e| {
            ConfigError {
                file: path.to_owned(),
                issues: vec![ConfigIssue {
                    path: String::new(),
                    pos: None,
                    message: if e.is_not_found() {
                        "file not found; create one with `platform init`".into()
                    } else {
                        e.source.to_string()
                    },
                }],
            }
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        Self::from_str(&text, &base, state_dir_override).map_err(|issues| ConfigError {
            file: path.to_owned(),
            issues,
        })
    }

    /// Decodes and validates config text; `base_dir` resolves relative paths.
    pub fn from_str(
        text: &str,
        base_dir: &Path,
        state_dir_override: Option<&Path>,
    ) -> Result<Config, Vec<ConfigIssue>> {
        let root = crate::yaml::parse(text).map_err(|e| vec![e])?;
        let mut issues = Vec::new();
        let mut config = sections::decode(&root, base_dir, &mut issues);
        if let Some(dir) = state_dir_override {
            config.state_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        }
        // Fields that failed to decode hold their defaults; semantic checks still run so that
        // every problem is reported at once, but not twice for the same field.
        let mut semantic = Vec::new();
        validate::check(&config, &root, &mut semantic);
        semantic.retain(|s| !issues.iter().any(|i| i.path == s.path));
        issues.extend(semantic);
        // In file order; problems with no place in the file (missing fields) last.
        issues.sort_by_key(|i| i.pos.map_or((u64::MAX, 0), |p| (p.line, p.column)));
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(issues)
        }
    }

    /// Every file and directory of this cluster.
    pub fn paths(&self) -> crate::paths::Paths {
        crate::paths::Paths::new(&self.state_dir, &self.base_dir, &self.cluster)
    }

    /// The private key SSH uses for the cluster's nodes: the configured one, or the one
    /// `up` generates in the state directory.
    pub fn ssh_private_key(&self) -> PathBuf {
        match &self.nodes.ssh_key {
            SshKey::Path(p) => p.clone(),
            SshKey::Generate => self.paths().generated_ssh_key(),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_gitops;

//! Decoding each config section with its defaults. Type errors and unknown keys are
//! recorded; semantic checks across fields live in `validate.rs`.

use std::path::Path;

use super::decode::{boolean, cidr, int, issue, number, one_of, parse_cidr, string, strings};
use super::*;
use crate::yaml::{MapDecoder, Node, Value};

/// Default ARM location when none is given for the local cloud.
pub const LOCAL_LOCATION: &str = "westeurope";
/// The subscription id the local cloud uses when none is given.
pub const LOCAL_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
/// The default marketplace image: Ubuntu 24.04 LTS.
pub const DEFAULT_IMAGE: &str = "Canonical:ubuntu-24_04-lts:server:latest";

#[allow(
    clippy::expect_used,
    reason = "only called with the built-in default CIDRs, which the config tests decode"
)]
fn net(s: &str) -> Ipv4Net {
    s.parse().expect("built-in CIDR")
}

/// Decodes the whole document. Problems are recorded in `issues`; a field that fails to
/// decode takes its default so the cross-field checks can still run.
pub fn decode(root: &Node, base: &Path, issues: &mut Vec<ConfigIssue>) -> Config {
    let mut d = MapDecoder::new(Some(root), "", issues);
    let cluster = string(&mut d, "cluster", issues).map(|(s, _)| s);
    if cluster.is_none() && d.get("cluster").is_none() {
        issue(
            issues,
            "cluster".into(),
            None,
            "required: the cluster name (3-24 lowercase letters, digits and '-')".into(),
        );
    }
    let name = cluster.clone().unwrap_or_default();
    let cloud = cloud(d.get("cloud"), &name, base, issues);
    let network = network(d.get("network"), issues);
    let nodes = nodes(d.get("nodes"), base, cloud.kind, issues);
    let k3s = k3s(d.get("k3s"), base, issues);
    let postgres = postgres(d.get("postgres"), &name, base, issues);
    let gitops = gitops(d.get("gitops"), &name, base, issues);
    let state_dir = string(&mut d, "state_dir", issues)
        .map(|(s, _)| s)
        .unwrap_or_else(|| ".platform".into());
    d.finish(issues);
    Config {
        cluster: cluster.unwrap_or_default(),
        cloud,
        network,
        nodes,
        k3s,
        postgres,
        gitops,
        state_dir: base.join(state_dir),
        base_dir: base.to_owned(),
    }
}

fn cloud(node: Option<&Node>, cluster: &str, base: &Path, issues: &mut Vec<ConfigIssue>) -> Cloud {
    let mut d = MapDecoder::new(node, "cloud", issues);
    let kind = match one_of(&mut d, "kind", &["azure", "local", "static"], issues) {
        Some("local") => CloudKind::Local,
        Some("static") => CloudKind::Static,
        _ => CloudKind::Azure,
    };
    let sub = string(&mut d, "subscription_id", issues).map(|(s, _)| s);
    let location = string(&mut d, "location", issues).map(|(s, _)| s);
    let rg = string(&mut d, "resource_group", issues).map(|(s, _)| s);
    let endpoint = string(&mut d, "arm_endpoint", issues).map(|(s, _)| s);
    let credential = match one_of(
        &mut d,
        "credential",
        &[
            "auto",
            "service-principal",
            "workload-identity",
            "managed-identity",
            "azure-cli",
        ],
        issues,
    ) {
        Some("service-principal") => CredentialChoice::ServicePrincipal,
        Some("workload-identity") => CredentialChoice::WorkloadIdentity,
        Some("managed-identity") => CredentialChoice::ManagedIdentity,
        Some("azure-cli") => CredentialChoice::AzureCli,
        _ => CredentialChoice::Auto,
    };
    let time_factor = number(&mut d, "local_time_factor", 0.0, 10.0, issues).unwrap_or(0.01);
    let local_ca = string(&mut d, "local_ca", issues).map(|(s, _)| expand_path(&s, base));
    let local_hosts = match d.get("local_hosts").map(|n| &n.value) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Str(s)) if s == "auto" => None,
        Some(_) => {
            let node = d.get("local_hosts");
            issue(
                issues,
                d.child_path("local_hosts"),
                node.and_then(|n| n.pos),
                format!(
                    "{} is not allowed; use auto, true or false",
                    node.map(super::decode::show).unwrap_or_default()
                ),
            );
            None
        }
    };
    let inventory = string(&mut d, "inventory", issues).map(|(s, _)| expand_path(&s, base));
    d.finish(issues);
    // The static inventory defaults to `inventories/<cluster>.yml`; other kinds have none.
    let inventory = match kind {
        CloudKind::Static => {
            Some(inventory.unwrap_or_else(|| crate::paths::static_inventory_default(base, cluster)))
        }
        _ => inventory,
    };
    let (sub, location) = match kind {
        CloudKind::Local => (
            sub.unwrap_or_else(|| LOCAL_SUBSCRIPTION.into()),
            location.unwrap_or_else(|| LOCAL_LOCATION.into()),
        ),
        // Required for Azure; validate.rs reports them when empty. Static needs neither.
        CloudKind::Azure | CloudKind::Static => {
            (sub.unwrap_or_default(), location.unwrap_or_default())
        }
    };
    Cloud {
        kind,
        subscription_id: sub,
        location,
        resource_group: rg.unwrap_or_else(|| format!("{cluster}-rg")),
        arm_endpoint: endpoint,
        credential,
        local_time_factor: time_factor,
        local_ca,
        local_hosts,
        inventory,
    }
}

fn network(node: Option<&Node>, issues: &mut Vec<ConfigIssue>) -> Network {
    let mut d = MapDecoder::new(node, "network", issues);
    let address_space = cidr(&mut d, "address_space", issues).map(|(n, _)| n);
    let node_subnet = cidr(&mut d, "node_subnet", issues).map(|(n, _)| n);
    let postgres_subnet = cidr(&mut d, "postgres_subnet", issues).map(|(n, _)| n);
    let path = d.child_path("admin_cidrs");
    let admin = strings(&mut d, "admin_cidrs", issues).map(|items| {
        items
            .iter()
            .filter_map(|(s, p, pos)| parse_cidr(s, p, *pos, issues))
            .collect::<Vec<_>>()
    });
    if admin.is_none() && !issues.iter().any(|i| i.path == path) {
        issue(
            issues,
            path,
            d.pos,
            "required: the networks allowed to reach SSH and the k3s API, e.g. [\"203.0.113.4/32\"]; never defaulted to 0.0.0.0/0".into(),
        );
    }
    let allow_public_admin = boolean(&mut d, "allow_public_admin", issues).unwrap_or(false);
    let ingress = boolean(&mut d, "ingress", issues).unwrap_or(false);
    d.finish(issues);
    Network {
        address_space: address_space.unwrap_or_else(|| net("10.0.0.0/16")),
        node_subnet: node_subnet.unwrap_or_else(|| net("10.0.1.0/24")),
        postgres_subnet: postgres_subnet.unwrap_or_else(|| net("10.0.2.0/24")),
        admin_cidrs: admin.unwrap_or_default(),
        allow_public_admin,
        ingress,
    }
}

fn pool(
    node: Option<&Node>,
    path: &str,
    default_count: u32,
    issues: &mut Vec<ConfigIssue>,
) -> Pool {
    let mut d = MapDecoder::new(node, path, issues);
    let count = int(&mut d, "count", 0, 1000, issues);
    let vm_size = string(&mut d, "vm_size", issues).map(|(s, _)| s);
    let image = string(&mut d, "image", issues).map(|(s, _)| s);
    let public_ip = boolean(&mut d, "public_ip", issues);
    d.finish(issues);
    Pool {
        count: count.map(|c| c as u32).unwrap_or(default_count),
        vm_size: vm_size.unwrap_or_else(|| "Standard_D2s_v5".into()),
        image: image.unwrap_or_else(|| DEFAULT_IMAGE.into()),
        public_ip: public_ip.unwrap_or(true),
    }
}

fn nodes(
    node: Option<&Node>,
    base: &Path,
    kind: CloudKind,
    issues: &mut Vec<ConfigIssue>,
) -> Nodes {
    let mut d = MapDecoder::new(node, "nodes", issues);
    let ssh_user = string(&mut d, "ssh_user", issues).map(|(s, _)| s);
    let ssh_key = string(&mut d, "ssh_key", issues).map(|(s, _)| s);
    // The local cloud's public IPs are documentation ranges nobody routes; its VMs are
    // reachable on their private addresses only.
    let ssh_address = match one_of(&mut d, "ssh_address", &["public", "private"], issues) {
        Some("public") => SshAddress::Public,
        Some("private") => SshAddress::Private,
        _ if kind == CloudKind::Local => SshAddress::Private,
        _ => SshAddress::Public,
    };
    let jump_host = string(&mut d, "jump_host", issues)
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty());
    let ssh_fanout = int(&mut d, "ssh_fanout", 1, 4096, issues);
    let servers = pool(d.get("servers"), "nodes.servers", 3, issues);
    let agents = pool(d.get("agents"), "nodes.agents", 2, issues);
    d.finish(issues);
    let ssh_key = match ssh_key.as_deref() {
        None | Some("generate") => SshKey::Generate,
        Some(p) => SshKey::Path(expand_path(p, base)),
    };
    Nodes {
        ssh_user: ssh_user.unwrap_or_else(|| "azureuser".into()),
        ssh_key,
        ssh_address,
        ssh_fanout: ssh_fanout.map_or(super::DEFAULT_SSH_FANOUT, |n| n as usize),
        jump_host,
        servers,
        agents,
    }
}

/// Resolves `~/` and relative paths (against the config file's directory).
fn expand_path(p: &str, base: &Path) -> std::path::PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return Path::new(&home).join(rest);
    }
    base.join(p)
}

fn k3s(node: Option<&Node>, base: &Path, issues: &mut Vec<ConfigIssue>) -> K3s {
    let mut d = MapDecoder::new(node, "k3s", issues);
    let version = string(&mut d, "version", issues).map(|(s, _)| s);
    let channel = string(&mut d, "channel", issues).map(|(s, _)| s);
    let datastore = match one_of(&mut d, "datastore", &["etcd", "postgres"], issues) {
        Some("postgres") => Datastore::Postgres,
        _ => Datastore::Etcd,
    };
    let flannel = one_of(
        &mut d,
        "flannel_backend",
        &["vxlan", "host-gw", "wireguard-native", "none"],
        issues,
    );
    let cluster_cidr = cidr(&mut d, "cluster_cidr", issues).map(|(n, _)| n);
    let service_cidr = cidr(&mut d, "service_cidr", issues).map(|(n, _)| n);
    let disable = strings(&mut d, "disable", issues);
    if let Some(items) = &disable {
        const ALLOWED: &[&str] = &[
            "coredns",
            "servicelb",
            "traefik",
            "local-storage",
            "metrics-server",
        ];
        for (s, p, pos) in items {
            if !ALLOWED.contains(&s.as_str()) {
                issue(
                    issues,
                    p.clone(),
                    *pos,
                    format!(
                        "{s:?} is not a k3s packaged component; use any of: {}",
                        ALLOWED.join(", ")
                    ),
                );
            }
        }
    }
    let install = match one_of(&mut d, "install", &["download", "upload", "airgap"], issues) {
        Some("upload") => Install::Upload,
        Some("airgap") => Install::Airgap,
        _ => Install::Download,
    };
    let release_url = string(&mut d, "release_url", issues).map(|(s, _)| s);
    let channel_url = string(&mut d, "channel_url", issues).map(|(s, _)| s);
    let api_address = string(&mut d, "api_address", issues).map(|(s, _)| s);
    let tls_san = strings(&mut d, "tls_san", issues);
    let start_timeout = int(&mut d, "start_timeout", 10, 86_400, issues);
    let airgap = airgap(d.get("airgap"), base, issues);
    d.finish(issues);
    K3s {
        version,
        channel: channel.unwrap_or_else(|| "stable".into()),
        datastore,
        flannel_backend: flannel.unwrap_or("vxlan").into(),
        cluster_cidr: cluster_cidr.unwrap_or_else(|| net("10.42.0.0/16")),
        service_cidr: service_cidr.unwrap_or_else(|| net("10.43.0.0/16")),
        disable: disable
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _, _)| s)
            .collect(),
        install,
        release_url,
        channel_url,
        api_address,
        tls_san: tls_san
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _, _)| s)
            .collect(),
        start_timeout: start_timeout.map_or(300, |t| t.unsigned_abs()),
        airgap,
    }
}

fn airgap(node: Option<&Node>, base: &Path, issues: &mut Vec<ConfigIssue>) -> Option<Airgap> {
    node?;
    let mut d = MapDecoder::new(node, "k3s.airgap", issues);
    let mut file = |key: &'static str, d: &mut MapDecoder<'_>| {
        let path = d.child_path(key);
        match string(d, key, issues) {
            Some((s, _)) => Some(expand_path(&s, base)),
            None => {
                if !issues.iter().any(|i| i.path == path) {
                    issue(
                        issues,
                        path,
                        d.pos,
                        "required when k3s.airgap is set: binary, images and checksums".into(),
                    );
                }
                None
            }
        }
    };
    let binary = file("binary", &mut d);
    let images = file("images", &mut d);
    let checksums = file("checksums", &mut d);
    d.finish(issues);
    Some(Airgap {
        binary: binary?,
        images: images?,
        checksums: checksums?,
    })
}

fn postgres(
    node: Option<&Node>,
    cluster: &str,
    base: &Path,
    issues: &mut Vec<ConfigIssue>,
) -> Postgres {
    let mut d = MapDecoder::new(node, "postgres", issues);
    let enabled = boolean(&mut d, "enabled", issues).unwrap_or(true);
    let server_name = string(&mut d, "server_name", issues).map(|(s, _)| s);
    let version = one_of(&mut d, "version", &["13", "14", "15", "16", "17"], issues);
    let sku = string(&mut d, "sku", issues).map(|(s, _)| s);
    let tier = one_of(
        &mut d,
        "tier",
        &["Burstable", "GeneralPurpose", "MemoryOptimized"],
        issues,
    );
    let storage_gb = int(&mut d, "storage_gb", 32, 32767, issues);
    let admin_user = string(&mut d, "admin_user", issues).map(|(s, _)| s);
    let databases = strings(&mut d, "databases", issues);
    let ca_bundle = string(&mut d, "ca_bundle", issues).map(|(s, _)| expand_path(&s, base));
    let secrets = pg_secrets(&mut d, issues);
    d.finish(issues);
    Postgres {
        enabled,
        server_name: server_name.unwrap_or_else(|| format!("{cluster}-pg")),
        version: version.unwrap_or("16").into(),
        sku: sku.unwrap_or_else(|| "Standard_B1ms".into()),
        tier: tier.unwrap_or("Burstable").into(),
        storage_gb: storage_gb.map(|s| s as u32).unwrap_or(32),
        admin_user: admin_user.unwrap_or_else(|| "platformadmin".into()),
        databases: databases
            .map(|v| v.into_iter().map(|(s, _, _)| s).collect())
            .unwrap_or_else(|| vec!["app".into()]),
        ca_bundle,
        secrets,
    }
}

/// `postgres.secrets`: a list of `{namespace, database, name}`, each field required.
fn pg_secrets(d: &mut MapDecoder<'_>, issues: &mut Vec<ConfigIssue>) -> Vec<PgSecret> {
    let path = d.child_path("secrets");
    let Some(node) = d.get("secrets") else {
        return Vec::new();
    };
    let Value::Seq(items) = &node.value else {
        issue(
            issues,
            path,
            node.pos,
            format!(
                "expected a list of {{namespace, database, name}}, found {}",
                node.value.kind()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let mut e = MapDecoder::new(Some(item), &p, issues);
        let mut field = |key: &'static str, e: &mut MapDecoder<'_>| {
            let fp = e.child_path(key);
            let v = string(e, key, issues).map(|(s, _)| s);
            if v.is_none() && !issues.iter().any(|x| x.path == fp) {
                issue(
                    issues,
                    fp,
                    item.pos,
                    "required: each postgres.secrets entry has namespace, database and name".into(),
                );
            }
            v
        };
        let namespace = field("namespace", &mut e);
        let database = field("database", &mut e);
        let name = field("name", &mut e);
        e.finish(issues);
        if let (Some(namespace), Some(database), Some(name)) = (namespace, database, name) {
            out.push(PgSecret {
                namespace,
                database,
                name,
            });
        }
    }
    out
}

fn gitops(
    node: Option<&Node>,
    cluster: &str,
    base: &Path,
    issues: &mut Vec<ConfigIssue>,
) -> Gitops {
    let mut d = MapDecoder::new(node, "gitops", issues);
    let controller = match one_of(&mut d, "controller", &["flux", "argocd", "none"], issues) {
        Some("argocd") => Controller::Argocd,
        Some("none") => Controller::None,
        _ => Controller::Flux,
    };
    let repository = string(&mut d, "repository", issues).map(|(s, _)| s);
    let branch = string(&mut d, "branch", issues).map(|(s, _)| s);
    let path = string(&mut d, "path", issues).map(|(s, _)| s);
    let flux = release(
        d.get("flux"),
        "gitops.flux",
        FLUX_VERSION,
        FLUX_RELEASES,
        issues,
    );
    let argocd = release(
        d.get("argocd"),
        "gitops.argocd",
        ARGOCD_VERSION,
        ARGOCD_RELEASES,
        issues,
    );
    let manifests = string(&mut d, "manifests", issues).map(|(s, _)| expand_path(&s, base));
    let interval = string(&mut d, "interval", issues).map(|(s, _)| s);
    let token_env = string(&mut d, "token_env", issues).map(|(s, _)| s);
    let known_hosts = string(&mut d, "known_hosts", issues).map(|(s, _)| expand_path(&s, base));
    d.finish(issues);
    Gitops {
        controller,
        repository: repository.filter(|r| !r.is_empty()),
        branch: branch.unwrap_or_else(|| "main".into()),
        path: path.unwrap_or_else(|| format!("clusters/{cluster}")),
        flux,
        argocd,
        manifests,
        interval: interval.unwrap_or_else(|| "1m".into()),
        token_env,
        known_hosts,
    }
}

/// The Flux release `platform` installs by default.
pub const FLUX_VERSION: &str = "v2.9.4";
/// The sha256 of `install.yaml` per Flux release, each taken from that release's published
/// checksums. Empty: no release's checksum file could be read where this was written, and a
/// checksum is never made up, so a download needs `gitops.flux.sha256` (docs/gitops.md).
pub const FLUX_CHECKSUMS: &[(&str, &str)] = &[];

/// The carried sha256 of `install.yaml` for `version`, if any.
pub fn flux_checksum(version: &str) -> Option<&'static str> {
    FLUX_CHECKSUMS
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, h)| *h)
}

/// Where Flux's release assets are published.
pub const FLUX_RELEASES: &str = "https://github.com/fluxcd/flux2/releases";

/// The Argo CD release `platform` installs by default.
pub const ARGOCD_VERSION: &str = "v3.5.1";
/// The sha256 of `manifests/install.yaml` per Argo CD release. Argo CD publishes no
/// checksum for that file (its release checksums cover the CLI binaries), so there is
/// nothing to carry: a download needs `gitops.argocd.sha256` (docs/gitops.md).
pub const ARGOCD_CHECKSUMS: &[(&str, &str)] = &[];

/// The carried sha256 of Argo CD's `install.yaml` for `version`, if any.
pub fn argocd_checksum(version: &str) -> Option<&'static str> {
    ARGOCD_CHECKSUMS
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, h)| *h)
}

/// Where Argo CD's manifests are published per tag.
pub const ARGOCD_RELEASES: &str = "https://raw.githubusercontent.com/argoproj/argo-cd";

fn release(
    node: Option<&Node>,
    section: &str,
    default_version: &str,
    default_url: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Release {
    let mut d = MapDecoder::new(node, section, issues);
    let version = string(&mut d, "version", issues).map(|(s, _)| s);
    let manifests_url = string(&mut d, "manifests_url", issues).map(|(s, _)| s);
    let sha256 = string(&mut d, "sha256", issues).map(|(s, _)| s);
    d.finish(issues);
    Release {
        version: version.unwrap_or_else(|| default_version.into()),
        manifests_url: manifests_url
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| default_url.into()),
        sha256: sha256
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase()),
    }
}

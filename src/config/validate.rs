//! Checks across fields: names Azure would reject, CIDR containment and overlaps, server
//! counts that break etcd quorum, files that must exist. Runs on a fully decoded config.

use ipnet::Ipv4Net;

use super::*;
use crate::yaml::{Node, node_at, pos_at};

/// Azure's reserved Linux admin user names (VM osProfile.adminUsername).
const RESERVED_USERS: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "test",
    "user2",
    "test1",
    "user3",
    "admin1",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin2",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test2",
    "test3",
    "user4",
    "user5",
];

/// PostgreSQL Flexible Server's reserved administrator names.
const RESERVED_PG_USERS: &[&str] = &[
    "azure_superuser",
    "azure_pg_admin",
    "admin",
    "administrator",
    "root",
    "guest",
    "public",
];

/// Azure's allowed storage sizes for Flexible Server, in GiB.
const PG_STORAGE_SIZES: &[u32] = &[32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767];

pub(super) struct Checker<'a> {
    pub(super) root: &'a Node,
    pub(super) issues: &'a mut Vec<ConfigIssue>,
}

impl Checker<'_> {
    pub(super) fn fail(&mut self, path: &str, message: String) {
        let pos = pos_at(self.root, path);
        self.issues.push(ConfigIssue {
            path: path.to_owned(),
            pos,
            message,
        });
    }

    pub(super) fn pattern(&mut self, path: &str, value: &str, ok: bool, allowed: &str) {
        if !ok {
            self.fail(path, format!("{value:?} is not allowed; {allowed}"));
        }
    }
}

fn chars_ok(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Runs every cross-field check, appending issues.
pub fn check(c: &Config, root: &Node, issues: &mut Vec<ConfigIssue>) {
    let mut k = Checker { root, issues };
    names(c, &mut k);
    cloud(c, &mut k);
    networks(c, &mut k);
    nodes(c, &mut k);
    ssh_access(c, &mut k);
    k3s(c, &mut k);
    postgres(c, &mut k);
    super::validate_gitops::check(c, &mut k);
}

fn names(c: &Config, k: &mut Checker<'_>) {
    let n = &c.cluster;
    let ok = (3..=24).contains(&n.len())
        && chars_ok(n, "-")
        && n.starts_with(|ch: char| ch.is_ascii_lowercase())
        && !n.ends_with('-');
    k.pattern(
        "cluster",
        n,
        ok,
        "use 3-24 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-' (it prefixes Azure resource names and DNS labels)",
    );
}

fn cloud(c: &Config, k: &mut Checker<'_>) {
    let cl = &c.cloud;
    if cl.kind == CloudKind::Azure {
        if cl.subscription_id.is_empty() {
            k.fail(
                "cloud.subscription_id",
                "required for cloud.kind azure: the subscription GUID (see `az account show --query id`)".into(),
            );
        }
        if cl.location.is_empty() {
            k.fail(
                "cloud.location",
                "required for cloud.kind azure: an Azure region name such as westeurope".into(),
            );
        }
    }
    if !cl.subscription_id.is_empty() && !is_guid(&cl.subscription_id) {
        k.fail(
            "cloud.subscription_id",
            format!(
                "{:?} is not a subscription GUID like 00000000-0000-0000-0000-000000000000",
                cl.subscription_id
            ),
        );
    }
    if !cl.location.is_empty() {
        k.pattern(
            "cloud.location",
            &cl.location,
            chars_ok(&cl.location, ""),
            "use an Azure region name: lowercase letters and digits, such as westeurope",
        );
    }
    let rg = &cl.resource_group;
    let rg_ok = (1..=90).contains(&rg.chars().count())
        && rg
            .chars()
            .all(|ch| ch.is_alphanumeric() || "-_.()".contains(ch))
        && !rg.ends_with('.');
    k.pattern(
        "cloud.resource_group",
        rg,
        rg_ok,
        "use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
    );
    if let Some(e) = &cl.arm_endpoint {
        let ok = url::Url::parse(e).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
        k.pattern(
            "cloud.arm_endpoint",
            e,
            ok,
            "use an https URL such as https://management.azure.com",
        );
    }
}

/// Whether two networks share any address.
pub fn overlap(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn networks(c: &Config, k: &mut Checker<'_>) {
    let n = &c.network;
    for (path, sub) in [
        ("network.node_subnet", n.node_subnet),
        ("network.postgres_subnet", n.postgres_subnet),
    ] {
        if !n.address_space.contains(&sub) {
            k.fail(
                path,
                format!(
                    "{sub} is not inside network.address_space {}",
                    n.address_space
                ),
            );
        }
    }
    let named = [
        ("network.node_subnet", n.node_subnet),
        ("network.postgres_subnet", n.postgres_subnet),
        ("k3s.cluster_cidr", c.k3s.cluster_cidr),
        ("k3s.service_cidr", c.k3s.service_cidr),
    ];
    for (i, (pa, a)) in named.iter().enumerate() {
        for (pb, b) in &named[i + 1..] {
            if overlap(a, b) {
                k.fail(
                    pb,
                    format!("{b} overlaps {pa} ({a}); they must be disjoint"),
                );
            }
        }
    }
    for (p, net) in [
        ("k3s.cluster_cidr", c.k3s.cluster_cidr),
        ("k3s.service_cidr", c.k3s.service_cidr),
    ] {
        if overlap(&net, &n.address_space) {
            k.fail(
                p,
                format!("{net} overlaps network.address_space {}: pod and service traffic would be routed into the VNet", n.address_space),
            );
        }
    }
    // Azure reserves 5 addresses in every subnet.
    let needed = u64::from(c.nodes.servers.count + c.nodes.agents.count) + 5;
    let size = 1u64 << (32 - u32::from(n.node_subnet.prefix_len()));
    if size < needed {
        k.fail(
            "network.node_subnet",
            format!(
                "{} has {size} addresses, fewer than the {needed} needed for {} nodes plus the 5 Azure reserves",
                n.node_subnet,
                needed - 5
            ),
        );
    }
    if n.postgres_subnet.prefix_len() > 28 {
        k.fail(
            "network.postgres_subnet",
            format!(
                "{} is too small; a delegated Flexible Server subnet needs at least a /28",
                n.postgres_subnet
            ),
        );
    }
    if n.admin_cidrs.is_empty() && !k.issues.iter().any(|i| i.path == "network.admin_cidrs") {
        k.fail(
            "network.admin_cidrs",
            "must list at least one network allowed to reach SSH and the k3s API".into(),
        );
    }
    if !n.allow_public_admin {
        let whole = n.admin_cidrs.iter().position(|c| c.prefix_len() == 0);
        let public = public_addresses(&n.admin_cidrs);
        if let Some(i) = whole {
            k.fail(
                &format!("network.admin_cidrs[{i}]"),
                format!("{} opens SSH and the k3s API to the whole internet; list your own networks, or set network.allow_public_admin: true to accept that", n.admin_cidrs[i]),
            );
        } else if public > PUBLIC_ADMIN_LIMIT {
            k.fail(
                "network.admin_cidrs",
                format!("together these ranges open SSH and the k3s API to {public} public addresses, more than a /8 ({PUBLIC_ADMIN_LIMIT}); list your own networks, or set network.allow_public_admin: true to accept that"),
            );
        }
    }
}

/// The most public IPv4 addresses `admin_cidrs` may cover without `allow_public_admin`: a /8.
const PUBLIC_ADMIN_LIMIT: u64 = 1 << 24;

/// Ranges that are not reachable from the internet (RFC 6890 special-purpose blocks that
/// are not globally routable): they never count as public.
const NOT_PUBLIC: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
];

/// How many public addresses the union of `nets` covers (overlaps counted once).
fn public_addresses(nets: &[Ipv4Net]) -> u64 {
    let span = |n: &Ipv4Net| {
        (
            u64::from(u32::from(n.network())),
            u64::from(u32::from(n.broadcast())),
        )
    };
    let mut ranges: Vec<(u64, u64)> = nets.iter().map(span).collect();
    ranges.sort_unstable();
    let mut union: Vec<(u64, u64)> = Vec::new();
    for (a, b) in ranges {
        match union.last_mut() {
            Some((_, end)) if a <= *end + 1 => *end = (*end).max(b),
            _ => union.push((a, b)),
        }
    }
    let private: Vec<(u64, u64)> = NOT_PUBLIC
        .iter()
        .filter_map(|s| s.parse::<Ipv4Net>().ok())
        .map(|n| span(&n))
        .collect();
    union
        .iter()
        .map(|&(a, b)| {
            let overlap: u64 = private
                .iter()
                .map(|&(pa, pb)| {
                    let (lo, hi) = (a.max(pa), b.min(pb));
                    if lo <= hi { hi - lo + 1 } else { 0 }
                })
                .sum();
            (b - a + 1) - overlap
        })
        .sum()
}

fn nodes(c: &Config, k: &mut Checker<'_>) {
    let u = &c.nodes.ssh_user;
    let ok = (1..=32).contains(&u.len())
        && chars_ok(u, "-_")
        && u.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
        && !RESERVED_USERS.contains(&u.as_str());
    k.pattern(
        "nodes.ssh_user",
        u,
        ok,
        "use 1-32 lowercase letters, digits, '-' or '_', starting with a letter, and not a name Azure reserves (root, admin, administrator, user, test, guest, ...)",
    );
    if let SshKey::Path(p) = &c.nodes.ssh_key {
        let public = PathBuf::from(format!("{}.pub", p.display()));
        if !p.is_file() {
            k.fail(
                "nodes.ssh_key",
                format!(
                    "private key {} does not exist; give an existing key or \"generate\"",
                    p.display()
                ),
            );
        } else if !public.is_file() {
            k.fail(
                "nodes.ssh_key",
                format!(
                    "public key {} is missing next to the private key",
                    public.display()
                ),
            );
        }
    }
    let servers = c.nodes.servers.count;
    if servers == 0 {
        k.fail(
            "nodes.servers.count",
            "0 is not allowed; a cluster needs at least 1 server".into(),
        );
    }
    if c.k3s.datastore == Datastore::Etcd {
        if servers > 7 {
            k.fail(
                "nodes.servers.count",
                format!("{servers} is too many for embedded etcd; allowed: 1, 3, 5 or 7"),
            );
        } else if servers.is_multiple_of(2) && servers > 0 {
            k.fail(
                "nodes.servers.count",
                format!("{servers} servers with embedded etcd tolerate no more failures than {} would; use an odd number (1, 3, 5 or 7) or k3s.datastore: postgres", servers - 1),
            );
        }
    }
    for (p, pool) in [
        ("nodes.servers", &c.nodes.servers),
        ("nodes.agents", &c.nodes.agents),
    ] {
        let size_ok = (pool.vm_size.starts_with("Standard_") || pool.vm_size.starts_with("Basic_"))
            && pool
                .vm_size
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        k.pattern(
            &format!("{p}.vm_size"),
            &pool.vm_size,
            size_ok,
            "use an Azure VM size such as Standard_D2s_v5",
        );
        let parts: Vec<&str> = pool.image.split(':').collect();
        k.pattern(
            &format!("{p}.image"),
            &pool.image,
            parts.len() == 4 && parts.iter().all(|s| !s.is_empty()),
            "use a marketplace image URN publisher:offer:sku:version such as Canonical:ubuntu-24_04-lts:server:latest",
        );
    }
}

fn k3s(c: &Config, k: &mut Checker<'_>) {
    let k3 = &c.k3s;
    if let Some(v) = &k3.version {
        let ok = v
            .strip_prefix('v')
            .and_then(|r| r.split_once("+k3s"))
            .is_some_and(|(semver, rel)| {
                semver.split('.').count() == 3
                    && semver
                        .split('.')
                        .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()))
                    && !rel.is_empty()
                    && rel.chars().all(|ch| ch.is_ascii_digit())
            });
        k.pattern(
            "k3s.version",
            v,
            ok,
            "use a k3s release such as v1.31.4+k3s1",
        );
    }
    let ch = &k3.channel;
    let ch_ok = ["stable", "latest", "testing"].contains(&ch.as_str())
        || ch.strip_prefix('v').is_some_and(|r| {
            r.split_once('.')
                .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
        });
    k.pattern(
        "k3s.channel",
        ch,
        ch_ok,
        "use stable, latest, testing or a minor version channel such as v1.31",
    );
    if k3.datastore == Datastore::Postgres && !c.postgres.enabled {
        k.fail(
            "k3s.datastore",
            "postgres needs postgres.enabled: true (the Flexible Server is the datastore)".into(),
        );
    }
    match (k3.install, &k3.airgap) {
        (Install::Airgap, None) => k.fail(
            "k3s.install",
            "airgap needs k3s.airgap: binary, images and checksums".into(),
        ),
        (Install::Download | Install::Upload, Some(_)) => k.fail(
            "k3s.airgap",
            "is used only with k3s.install: airgap; set it, or remove k3s.airgap".into(),
        ),
        _ => {}
    }
    // Plain HTTP only for a local cloud's own mirror, on the hosts' private network.
    let http_ok = c.cloud.kind == CloudKind::Local;
    for (key, value) in [
        ("release_url", &k3.release_url),
        ("channel_url", &k3.channel_url),
    ] {
        let Some(u) = value else { continue };
        let ok = url::Url::parse(u).is_ok_and(|p| {
            p.host().is_some()
                && p.username().is_empty()
                && p.password().is_none()
                && (p.scheme() == "https" || (http_ok && p.scheme() == "http"))
        });
        let allowed = if http_ok {
            "use an http(s) URL without credentials"
        } else {
            "use an https URL without credentials, such as https://github.com/k3s-io/k3s/releases"
        };
        k.pattern(&format!("k3s.{key}"), u, ok, allowed);
    }
    if let Some(a) = &k3.api_address {
        k.pattern(
            "k3s.api_address",
            a,
            crate::hostname::is_ip_or_dns_name(a),
            &format!("use {}", crate::hostname::ALLOWED),
        );
    }
    for (i, san) in k3.tls_san.iter().enumerate() {
        k.pattern(
            &format!("k3s.tls_san[{i}]"),
            san,
            crate::hostname::is_ip_or_dns_name(san),
            &format!("use {}", crate::hostname::ALLOWED),
        );
    }
    if let Some(a) = &k3.airgap {
        for (key, p) in [
            ("binary", &a.binary),
            ("images", &a.images),
            ("checksums", &a.checksums),
        ] {
            if !p.is_file() {
                k.fail(
                    &format!("k3s.airgap.{key}"),
                    format!("{} does not exist", p.display()),
                );
            }
        }
    }
}

fn postgres(c: &Config, k: &mut Checker<'_>) {
    let pg = &c.postgres;
    let n = &pg.server_name;
    // A default derived from a bad cluster name would only repeat the cluster's error.
    let derived_from_bad_name = node_at(k.root, "postgres.server_name").is_none()
        && k.issues.iter().any(|i| i.path == "cluster");
    let ok = derived_from_bad_name
        || (3..=63).contains(&n.len())
            && chars_ok(n, "-")
            && !n.starts_with('-')
            && !n.ends_with('-');
    k.pattern(
        "postgres.server_name",
        n,
        ok,
        "use 3-63 lowercase letters, digits and '-', not starting or ending with '-' (it becomes <name>.postgres.database.azure.com)",
    );
    let sku_ok = pg.sku.starts_with("Standard_")
        && pg
            .sku
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    k.pattern(
        "postgres.sku",
        &pg.sku,
        sku_ok,
        "use a compute SKU such as Standard_B1ms or Standard_D2ds_v5",
    );
    if !PG_STORAGE_SIZES.contains(&pg.storage_gb) {
        let allowed: Vec<String> = PG_STORAGE_SIZES.iter().map(u32::to_string).collect();
        k.fail(
            "postgres.storage_gb",
            format!(
                "{} is not a Flexible Server storage size; allowed: {}",
                pg.storage_gb,
                allowed.join(", ")
            ),
        );
    }
    let u = &pg.admin_user;
    let ok = (1..=63).contains(&u.len())
        && chars_ok(u, "_")
        && u.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
        && !u.starts_with("pg_")
        && !RESERVED_PG_USERS.contains(&u.as_str());
    k.pattern(
        "postgres.admin_user",
        u,
        ok,
        "use 1-63 lowercase letters, digits or '_', not starting with pg_ and not a reserved name (azure_superuser, admin, administrator, root, guest, public)",
    );
    for (i, db) in pg.databases.iter().enumerate() {
        let path = format!("postgres.databases[{i}]");
        let ok = (1..=63).contains(&db.len())
            && db.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && db.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_');
        k.pattern(
            &path,
            db,
            ok,
            "use 1-63 letters, digits or '_', starting with a letter",
        );
        if pg.databases[..i].contains(db) {
            k.fail(&path, format!("{db:?} is listed twice"));
        }
        if ["postgres", "azure_maintenance", "azure_sys"].contains(&db.as_str()) {
            k.fail(&path, format!("{db:?} is a system database of the server"));
        }
    }
}

/// Whether SSH can reach the nodes the way `nodes.ssh_address` says, and the static
/// inventory option only where it applies.
fn ssh_access(c: &Config, k: &mut Checker<'_>) {
    if c.cloud.kind != CloudKind::Static && c.cloud.inventory.is_some() {
        k.fail(
            "cloud.inventory",
            "only applies with cloud.kind: static (bring-your-own hosts); remove it or set the kind".into(),
        );
    }
    let n = &c.nodes;
    if let Some(j) = &n.jump_host {
        let (user, rest) = j
            .rsplit_once('@')
            .map_or((None, j.as_str()), |(u, r)| (Some(u), r));
        let (host, port) = rest
            .rsplit_once(':')
            .map_or((rest, None), |(h, p)| (h, Some(p)));
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-._".contains(ch))
            && user.is_none_or(|u| !u.is_empty() && chars_ok(u, "-_."))
            && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        k.pattern(
            "nodes.jump_host",
            j,
            ok,
            "use [user@]host[:port], for example azureuser@bastion.example.com:22",
        );
        if n.ssh_address == SshAddress::Public {
            k.fail(
                "nodes.jump_host",
                "only applies with nodes.ssh_address: private (public addresses are reached directly)".into(),
            );
        }
    }
    if c.cloud.kind == CloudKind::Static || n.ssh_address != SshAddress::Public {
        return;
    }
    for (p, pool) in [("nodes.servers", &n.servers), ("nodes.agents", &n.agents)] {
        if pool.count > 0 && !pool.public_ip {
            k.fail(
                &format!("{p}.public_ip"),
                "is false, but nodes.ssh_address is public: these VMs would have no address to SSH to; set nodes.ssh_address: private (with nodes.jump_host if this machine is outside the VNet)".into(),
            );
        }
    }
}

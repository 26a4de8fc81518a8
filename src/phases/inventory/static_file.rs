//! Bring-your-own hosts (`cloud.kind: static`): an Ansible YAML inventory the user writes,
//! in the same shape `platform` generates (see `inventories/example.yml`):
//!
//! ```yaml
//! all:
//!   vars: {ansible_user: ubuntu}          # optional, for every host
//!   children:
//!     k3s_cluster:
//!       children:
//!         servers:
//!           hosts:
//!             cp-1: {ansible_host: 192.0.2.10, private_ip: 10.0.0.10}
//!         agents:
//!           hosts:
//!             worker-1: {ansible_host: 192.0.2.20}
//! ```
//!
//! `servers` and `agents` may also sit directly under `all.children`. Every problem is
//! reported at once with its line, the host and the field (missing address, duplicate
//! host, unknown group, bad YAML), as config errors are.

use crate::yaml::to_json;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Host, Inventory, Role, Source};
use crate::azure::states::{PowerState, ProvisioningState};
use crate::config::{Config, ConfigError, ConfigIssue};
use crate::error::Error;
use crate::yaml::{self, Node, Value as Y};

/// Reads and validates the static inventory named by `cloud.inventory`.
pub fn load(config: &Config) -> Result<Inventory, Error> {
    let path = config.cloud.inventory.clone().unwrap_or_else(|| {
        crate::paths::static_inventory_default(&config.base_dir, &config.cluster)
    });
    let text = crate::fsutil::read_capped(&path, crate::fsutil::caps::INVENTORY).map_err(|e| {
        ConfigError {
            file: path.clone(),
            issues: vec![issue(
                "",
                None,
                format!(
                    "cannot read the static inventory (cloud.inventory): {}",
                    e.source
                ),
            )],
        }
    })?;
    parse(&text, config).map_err(|issues| Error::Config(ConfigError { file: path, issues }))
}

fn issue(path: &str, pos: Option<yaml::Pos>, message: String) -> ConfigIssue {
    ConfigIssue {
        path: path.to_owned(),
        pos,
        message,
    }
}

fn entries(n: &Node) -> &[(String, Option<yaml::Pos>, Node)] {
    match &n.value {
        Y::Map(m) => m,
        _ => &[],
    }
}

/// A mapping node (or null, read as empty); anything else is an issue.
fn expect_map(n: &Node, path: &str, issues: &mut Vec<ConfigIssue>) -> bool {
    match &n.value {
        Y::Map(_) | Y::Null => true,
        other => {
            issues.push(issue(
                path,
                n.pos,
                format!("expected a mapping, found {}", other.kind()),
            ));
            false
        }
    }
}

/// A group's `vars` merged over inherited ones.
fn vars(
    node: &Node,
    path: &str,
    inherited: &Map<String, Value>,
    issues: &mut Vec<ConfigIssue>,
) -> Map<String, Value> {
    let mut out = inherited.clone();
    if let Some((_, _, v)) = entries(node).iter().find(|(k, _, _)| k == "vars")
        && expect_map(v, &format!("{path}.vars"), issues)
    {
        for (k, _, x) in entries(v) {
            out.insert(k.clone(), to_json(x));
        }
    }
    out
}

/// One host entry before validation of the whole file.
struct Raw {
    name: String,
    role: Role,
    path: String,
    pos: Option<yaml::Pos>,
    vars: Map<String, Value>,
}

struct Walker<'a> {
    issues: &'a mut Vec<ConfigIssue>,
    hosts: Vec<Raw>,
}

impl Walker<'_> {
    /// A group node at `path`: `servers`/`agents` hold hosts, `k3s_cluster` holds them.
    fn group(
        &mut self,
        name: &str,
        node: &Node,
        path: &str,
        pos: Option<yaml::Pos>,
        inherited: &Map<String, Value>,
    ) {
        if !expect_map(node, path, self.issues) {
            return;
        }
        let vars = vars(node, path, inherited, self.issues);
        let role = match name {
            "servers" => Some(Role::Server),
            "agents" => Some(Role::Agent),
            "k3s_cluster" => None,
            other => {
                let hosts: Vec<&str> = entries(node)
                    .iter()
                    .filter(|(k, _, _)| k == "hosts")
                    .flat_map(|(_, _, h)| entries(h).iter().map(|(n, _, _)| n.as_str()))
                    .collect();
                let which = if hosts.is_empty() {
                    String::new()
                } else {
                    format!(" (hosts: {})", hosts.join(", "))
                };
                self.issues.push(issue(
                    path,
                    pos,
                    format!("unknown group `{other}`{which}; allowed: servers, agents, k3s_cluster (k3s needs to know each host's role)"),
                ));
                return;
            }
        };
        for (k, kpos, v) in entries(node) {
            let p = format!("{path}.{k}");
            match (k.as_str(), role) {
                ("vars", _) => {}
                ("children", None) => {
                    if expect_map(v, &p, self.issues) {
                        for (g, gpos, gn) in entries(v) {
                            self.group(g, gn, &format!("{p}.{g}"), *gpos, &vars);
                        }
                    }
                }
                ("hosts", Some(role)) => {
                    if expect_map(v, &p, self.issues) {
                        for (h, hpos, hn) in entries(v) {
                            let hp = format!("{p}.{h}");
                            if !expect_map(hn, &hp, self.issues) {
                                continue;
                            }
                            let mut hv = vars.clone();
                            for (vk, _, vv) in entries(hn) {
                                hv.insert(vk.clone(), to_json(vv));
                            }
                            self.hosts.push(Raw {
                                name: h.clone(),
                                role,
                                path: hp,
                                pos: *hpos,
                                vars: hv,
                            });
                        }
                    }
                }
                _ => {
                    let allowed = if role.is_some() {
                        "hosts, vars"
                    } else {
                        "children, vars"
                    };
                    self.issues.push(issue(
                        &p,
                        *kpos,
                        format!("unknown key `{k}` in group `{name}`; allowed here: {allowed}"),
                    ));
                }
            }
        }
    }
}

fn text_var(r: &Raw, key: &str, issues: &mut Vec<ConfigIssue>) -> Option<String> {
    match r.vars.get(key)? {
        Value::String(s)
            if !s.trim().is_empty() && !s.contains(char::is_whitespace) && !s.starts_with('-') =>
        {
            Some(s.clone())
        }
        Value::Null => None,
        other => {
            issues.push(issue(
                &format!("{}.{key}", r.path),
                r.pos,
                format!(
                    "host {}: {other} is not an address (a host name or IP without spaces, not starting with '-')",
                    r.name
                ),
            ));
            None
        }
    }
}

/// Parses and validates the file's text.
pub fn parse(text: &str, config: &Config) -> Result<Inventory, Vec<ConfigIssue>> {
    let root = yaml::parse(text).map_err(|mut e| {
        // The parser's wording names its own option; say what it means here.
        if let Some((key, rest)) = e
            .message
            .strip_prefix('`')
            .and_then(|m| m.split_once("` is given twice in the same mapping"))
        {
            let first = rest.trim_end_matches("; keep one");
            e.message = format!(
                "duplicate host or variable `{key}` in the same mapping{first}; list each host once"
            );
        }
        vec![e]
    })?;
    let mut issues = Vec::new();
    let mut w = Walker {
        issues: &mut issues,
        hosts: Vec::new(),
    };
    let all = entries(&root).iter().find(|(k, _, _)| k == "all");
    for (k, kpos, _) in entries(&root).iter().filter(|(k, _, _)| k != "all") {
        w.issues.push(issue(
            k,
            *kpos,
            format!("unknown top-level key `{k}`; the inventory starts with `all:`"),
        ));
    }
    match all {
        None => w.issues.push(issue(
            "all",
            root.pos,
            "required: `all:` with children servers and agents (see inventories/example.yml)"
                .into(),
        )),
        Some((_, _, all)) if expect_map(all, "all", w.issues) => {
            let top = vars(all, "all", &Map::new(), w.issues);
            for (k, kpos, v) in entries(all) {
                match k.as_str() {
                    "vars" => {}
                    "children" if expect_map(v, "all.children", w.issues) => {
                        for (g, gpos, gn) in entries(v) {
                            w.group(g, gn, &format!("all.children.{g}"), *gpos, &top);
                        }
                    }
                    "children" => {}
                    "hosts" => w.issues.push(issue("all.hosts", *kpos, "hosts directly under `all` have no role; list them under servers or agents".into())),
                    _ => w.issues.push(issue(&format!("all.{k}"), *kpos, format!("unknown key `{k}`; allowed here: children, vars"))),
                }
            }
        }
        Some(_) => {}
    }
    let raws = std::mem::take(&mut w.hosts);
    let mut seen: BTreeMap<String, &Raw> = BTreeMap::new();
    let mut hosts = Vec::new();
    let key_file = config.ssh_private_key().display().to_string();
    for r in &raws {
        if !r
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            || r.name.is_empty()
        {
            issues.push(issue(
                &r.path,
                r.pos,
                format!(
                    "host name {:?} is not allowed; use letters, digits, '-', '_' and '.'",
                    r.name
                ),
            ));
        }
        if let Some(first) = seen.get(&r.name) {
            let at = first
                .pos
                .map(|p| format!(" (line {})", p.line))
                .unwrap_or_default();
            issues.push(issue(
                &r.path,
                r.pos,
                format!(
                    "duplicate host {}: already listed at {}{at}; a host has one role",
                    r.name, first.path
                ),
            ));
            continue;
        }
        seen.insert(r.name.clone(), r);
        let address = text_var(r, "ansible_host", &mut issues);
        if address.is_none() && !r.vars.contains_key("ansible_host") {
            issues.push(issue(
                &format!("{}.ansible_host", r.path),
                r.pos,
                format!(
                    "host {}: required: the address SSH connects to (an IP or DNS name)",
                    r.name
                ),
            ));
        }
        let mut ip_var = |key: &str| {
            let v = text_var(r, key, &mut issues)?;
            if v.parse::<IpAddr>().is_err() {
                issues.push(issue(
                    &format!("{}.{key}", r.path),
                    r.pos,
                    format!("host {}: {v:?} is not an IP address", r.name),
                ));
            }
            Some(v)
        };
        let private_ip = ip_var("private_ip");
        let public_ip = ip_var("public_ip");
        let mut vars: BTreeMap<String, Value> =
            r.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        fn take(vars: &mut BTreeMap<String, Value>, k: &str) -> Option<String> {
            vars.remove(k).and_then(|v| match v {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        }
        let ssh_user =
            take(&mut vars, "ansible_user").unwrap_or_else(|| config.nodes.ssh_user.clone());
        let ssh_key =
            take(&mut vars, "ansible_ssh_private_key_file").unwrap_or_else(|| key_file.clone());
        for k in [
            "ansible_host",
            "private_ip",
            "public_ip",
            "role",
            "init_server",
        ] {
            vars.remove(k);
        }
        let zone = take(&mut vars, "zone");
        let vm_size = take(&mut vars, "vm_size");
        let node_name = match take(&mut vars, "node_name") {
            Some(n) if super::node_name_of(&n) == n => n,
            Some(n) => {
                issues.push(issue(
                    &format!("{}.node_name", r.path),
                    r.pos,
                    format!(
                        "host {}: {n:?} is not a valid node name (lowercase letters, digits, '-' and '.', alphanumeric at both ends, at most 63 characters)",
                        r.name
                    ),
                ));
                n
            }
            None => super::node_name_of(&r.name),
        };
        hosts.push(Host {
            node_name,
            name: r.name.clone(),
            role: r.role,
            id: None,
            private_ip: private_ip.or_else(|| address.clone()),
            public_ip,
            ssh_address: address,
            jump_host: config.nodes.jump_host.clone(),
            known_hosts_file: Some(super::known_hosts_file(config)),
            ssh_user,
            ssh_private_key_file: ssh_key,
            zone,
            vm_size,
            provisioning_state: ProvisioningState::Other("static".into()),
            power_state: PowerState::Unknown,
            init_server: false,
            excluded: None,
            vars,
        });
    }
    if issues.is_empty() && !hosts.iter().any(|h| h.role == Role::Server) {
        issues.push(issue(
            "all.children.k3s_cluster.children.servers",
            None,
            "no server: list at least one host under servers (k3s needs a server)".into(),
        ));
    }
    if issues.is_empty() {
        Ok(Inventory::finish(&config.cluster, Source::Static, hosts))
    } else {
        issues.sort_by_key(|i| i.pos.map_or((u64::MAX, 0), |p| (p.line, p.column)));
        Err(issues)
    }
}

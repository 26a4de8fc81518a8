//! Reading a cluster's hosts back from an Ansible dynamic-inventory JSON document (the
//! inventory phase's `hosts.json`, or anything `ansible-inventory --list` prints), and
//! selecting them with Ansible host patterns.
//!
//! The JSON is what `ansible-inventory --list` prints (and what the inventory phase writes to
//! `inventories/<cluster>/hosts.json`): groups with `hosts`/`children` (or a plain list of
//! hosts), and `_meta.hostvars.<host>.ansible_host/ansible_user/ansible_port`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use crate::ssh::Target;

/// An inventory host: where SSH reaches it and the groups patterns select it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryHost {
    pub target: Target,
    /// Every group the host belongs to, directly or through `children`, `all` included.
    pub groups: BTreeSet<String>,
}

impl InventoryHost {
    /// The inventory name.
    pub fn name(&self) -> &str {
        &self.target.name
    }
}

/// Why an inventory or a pattern was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("inventory: {0}")]
    Inventory(String),
    #[error("--limit {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

/// Reads targets from a dynamic-inventory JSON document, in the order hosts first appear.
pub fn from_inventory_json(text: &str) -> Result<Vec<InventoryHost>, TargetError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| TargetError::Inventory(e.to_string()))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| TargetError::Inventory("the document is not a JSON object".into()))?;
    let hostvars = doc.pointer("/_meta/hostvars").and_then(Value::as_object);
    // Direct members and children of every group.
    let mut direct: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (group, body) in obj.iter().filter(|(k, _)| *k != "_meta") {
        let hosts = match body {
            Value::Array(_) => strs(Some(body)),
            _ => strs(body.get("hosts")),
        };
        for h in &hosts {
            if !order.contains(h) {
                order.push(h);
            }
        }
        direct.insert(group, hosts);
        children.insert(group, strs(body.get("children")));
    }
    if let Some(hv) = hostvars {
        for h in hv.keys() {
            if !order.contains(&h.as_str()) {
                order.push(h);
            }
        }
    }
    let mut targets = Vec::new();
    for name in order {
        let vars = hostvars.and_then(|hv| hv.get(name));
        let var = |k: &str| vars.and_then(|v| v.get(k));
        let port = match var("ansible_port") {
            None => 22,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| {
                    TargetError::Inventory(format!("{name}: ansible_port {v} is not a port"))
                })?,
        };
        let mut groups: BTreeSet<String> = BTreeSet::from(["all".to_owned()]);
        for g in direct.keys() {
            if contains(&direct, &children, g, name, 0) {
                groups.insert((*g).to_owned());
            }
        }
        let target = Target {
            name: name.to_owned(),
            address: var("ansible_host")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned(),
            port,
            user: var("ansible_user")
                .and_then(Value::as_str)
                .map(str::to_owned),
            keyfile: var("ansible_ssh_private_key_file")
                .or_else(|| var("ansible_private_key_file"))
                .and_then(Value::as_str)
                .map(std::path::PathBuf::from)
                .filter(|p| p.is_file()),
        };
        target
            .check()
            .map_err(|m| TargetError::Inventory(format!("{}: {m}", target.name)))?;
        targets.push(InventoryHost { target, groups });
    }
    Ok(targets)
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether `group` holds `host` directly or through its children (depth-bounded: a cycle in
/// a hand-written inventory must not hang).
fn contains(
    direct: &BTreeMap<&str, Vec<&str>>,
    children: &BTreeMap<&str, Vec<&str>>,
    group: &str,
    host: &str,
    depth: usize,
) -> bool {
    if depth > 32 {
        return false;
    }
    direct.get(group).is_some_and(|h| h.contains(&host))
        || children.get(group).is_some_and(|c| {
            c.iter()
                .any(|child| contains(direct, children, child, host, depth + 1))
        })
}

impl crate::pattern::Member for InventoryHost {
    fn name(&self) -> &str {
        &self.target.name
    }
    fn groups(&self) -> Vec<&str> {
        self.groups.iter().map(String::as_str).collect()
    }
}

/// Selects targets with an Ansible host pattern (see [`crate::pattern`]), in inventory
/// order.
pub fn select<'a>(
    targets: &'a [InventoryHost],
    pattern: &str,
) -> Result<Vec<&'a InventoryHost>, TargetError> {
    let chosen = crate::pattern::select(pattern, targets).map_err(|e| TargetError::Pattern {
        pattern: e.pattern,
        message: e.message,
    })?;
    Ok(chosen.into_iter().map(|i| &targets[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = r#"{
      "_meta": {"hostvars": {
        "s1": {"ansible_host": "10.0.0.4", "ansible_user": "azureuser"},
        "s2": {"ansible_host": "10.0.0.5", "ansible_port": "2222"},
        "a1": {"ansible_host": "10.0.1.4"},
        "a2": {}
      }},
      "all": {"children": ["k3s", "ungrouped"]},
      "k3s": {"children": ["servers", "agents"]},
      "servers": {"hosts": ["s1", "s2"]},
      "agents": {"hosts": ["a1", "a2"], "vars": {}},
      "staging": ["s2", "a1"],
      "ungrouped": {"hosts": []}
    }"#;

    fn names(t: &[InventoryHost], p: &str) -> Vec<String> {
        select(t, p)
            .unwrap()
            .into_iter()
            .map(|t| t.name().to_owned())
            .collect()
    }

    #[test]
    fn reads_hostvars_and_nested_groups() {
        let t = from_inventory_json(INV).unwrap();
        assert_eq!(t.len(), 4);
        let s1 = &t[0].target;
        assert_eq!(
            (s1.name.as_str(), s1.address.as_str(), s1.port),
            ("s1", "10.0.0.4", 22)
        );
        assert_eq!(s1.user.as_deref(), Some("azureuser"));
        assert!(t[0].groups.contains("k3s") && t[0].groups.contains("servers"));
        assert_eq!(t[1].target.port, 2222);
        let a2 = t.iter().find(|x| x.name() == "a2").unwrap();
        assert_eq!(a2.target.address, "a2");
        assert!(!a2.groups.contains("staging"));
        assert!(
            from_inventory_json(r#"{"_meta":{"hostvars":{"x":{"ansible_port":"no"}}}}"#).is_err()
        );
        assert!(from_inventory_json("[1]").is_err());
        let hostile = r#"{"_meta":{"hostvars":{"x":{"ansible_host":"-oProxyCommand=id"}}}}"#;
        let e = from_inventory_json(hostile).unwrap_err().to_string();
        assert!(e.contains("x: ansible_host") && e.contains("option"), "{e}");
    }

    #[test]
    fn selects_through_the_shared_pattern_engine() {
        let t = from_inventory_json(INV).unwrap();
        assert_eq!(names(&t, "k3s:&staging"), ["s2", "a1"]);
        assert_eq!(names(&t, "!servers"), ["a1", "a2"]);
        assert!(select(&t, "~s.*").is_err());
    }
}

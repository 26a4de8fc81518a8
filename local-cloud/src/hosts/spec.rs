//! From the store's VM records to host specs: name, admin user and keys from the VM's
//! `osProfile`, address and subnet from its primary NIC, routes and private DNS names from
//! its VNet (`pgspec`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

use super::HostSpec;
use crate::arm::store::{Res, Store};

const VM: &str = "Microsoft.Compute/virtualMachines";

/// A spec for every VM in the store (records that cannot be realized carry `problem`).
pub fn specs(store: &Store) -> Vec<HostSpec> {
    store
        .resources
        .values()
        .filter(|r| r.rtype == VM && !r.hidden)
        .map(|vm| spec(store, vm))
        .collect()
}

fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_string)
}

/// A Linux user name `useradd` accepts, and not root: Azure never provisions root.
fn valid_user(u: &str) -> bool {
    let mut chars = u.chars();
    u != "root"
        && u.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn primary(items: &[Value]) -> Option<&Value> {
    items
        .iter()
        .find(|i| i.pointer("/properties/primary") == Some(&Value::Bool(true)))
        .or_else(|| items.first())
}

fn address(store: &Store, vm: &Res) -> Result<(Ipv4Addr, Ipv4Net, String), String> {
    let nics = vm
        .body
        .pointer("/properties/networkProfile/networkInterfaces")
        .and_then(Value::as_array)
        .ok_or("the VM has no network interface")?;
    let nic_id = primary(nics)
        .and_then(|n| n["id"].as_str())
        .ok_or("the VM has no network interface")?;
    let nic = store
        .get(nic_id)
        .ok_or_else(|| format!("network interface {nic_id} not found"))?;
    let cfgs = nic
        .body
        .pointer("/properties/ipConfigurations")
        .and_then(Value::as_array)
        .ok_or("the NIC has no IP configuration")?;
    let cfg = primary(cfgs).ok_or("the NIC has no IP configuration")?;
    let ip: Ipv4Addr = text(cfg, "/properties/privateIPAddress")
        .and_then(|s| s.parse().ok())
        .ok_or("the NIC has no private IPv4 address")?;
    let sid = text(cfg, "/properties/subnet/id").ok_or("the NIC has no subnet")?;
    let subnet = store
        .inline_child(&sid)
        .and_then(crate::arm::types::subnet_prefix)
        .ok_or_else(|| format!("subnet {sid} not found or without an IPv4 prefix"))?;
    Ok((ip, subnet.trunc(), sid))
}

fn spec(store: &Store, vm: &Res) -> HostSpec {
    let os = |p: &str| text(&vm.body, &format!("/properties/osProfile{p}"));
    let name = vm.name().to_string();
    let admin_user = os("/adminUsername").unwrap_or_default();
    let ssh_keys: Vec<String> = vm
        .body
        .pointer("/properties/osProfile/linuxConfiguration/ssh/publicKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| k["keyData"].as_str().map(|s| s.trim().to_string()))
        .collect();
    let mut problem = None;
    if !valid_user(&admin_user) {
        problem = Some(format!(
            "adminUsername '{admin_user}' is not a valid non-root Linux user name"
        ));
    } else if ssh_keys.is_empty() || ssh_keys.iter().any(|k| k.contains('\n')) {
        problem = Some("the VM needs SSH public keys, one per line".into());
    }
    let (ip, subnet, sid) = match address(store, vm) {
        Ok(a) => a,
        Err(e) => {
            problem.get_or_insert(e);
            (Ipv4Addr::UNSPECIFIED, Ipv4Net::default(), String::new())
        }
    };
    let vnet = super::pgspec::vnet_of(&sid);
    let running = !matches!(
        vm.power_state.as_deref(),
        Some("stopped" | "stopping" | "deallocated" | "deallocating")
    );
    HostSpec {
        key: vm.key(),
        hostname: os("/computerName").unwrap_or_else(|| name.clone()),
        name,
        admin_user,
        ssh_keys,
        ip,
        subnet,
        routes: super::pgspec::vnet_routes(store, vnet, subnet),
        names: super::pgspec::private_names(store, vnet),
        running,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_users_are_checked_like_useradd() {
        assert!(valid_user("azureuser"));
        assert!(valid_user("_x-1"));
        assert!(!valid_user("root"));
        assert!(!valid_user("Bad"));
        assert!(!valid_user(""));
        assert!(!valid_user("a b"));
    }
}

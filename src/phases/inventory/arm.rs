//! Hosts from the cloud: the VMs of both Flexible scale sets, the NICs and the public IPs of
//! the resource group, each fetched with one paged list call and joined here.
//!
//! The cost is constant in list calls (four: servers' VMs, agents' VMs, NICs, public IPs)
//! and `ceil(items / page size)` pages each; never one request per VM, which at 1,000 VMs
//! would spend a good part of the subscription's ARM read budget.

use serde_json::Value;
use std::collections::HashMap;

use super::{Host, Inventory, ListStats, Role, Source};
use crate::azure::states::{PowerState, ProvisioningState};
use crate::azure::{ArmClient, ArmError, api_versions, ids};
use crate::config::{Config, SshAddress};
use crate::error::Error;

/// The id of a scale set of the cluster (`<cluster>-servers`, `<cluster>-agents`).
pub fn scale_set_id(config: &Config, role: Role) -> String {
    ids::resource(
        &config.cloud.subscription_id,
        &config.cloud.resource_group,
        "Microsoft.Compute/virtualMachineScaleSets",
        &format!("{}-{}", config.cluster, role.group()),
    )
}

/// The collection path of the VMs of one Flexible scale set, with their instance views
/// (ARM allows `$expand=instanceView` on this list only together with the `$filter`).
pub fn vm_list_path(config: &Config, role: Role) -> String {
    let rg = ids::resource_group(&config.cloud.subscription_id, &config.cloud.resource_group);
    format!(
        "{rg}/providers/Microsoft.Compute/virtualMachines?$filter=virtualMachineScaleSet/id eq '{}'&$expand=instanceView",
        scale_set_id(config, role)
    )
}

/// Lists and joins. The four lists run concurrently; each follows its `nextLink`s.
pub async fn collect(client: &ArmClient, config: &Config) -> Result<(Inventory, ListStats), Error> {
    let before = client.stats();
    let rg = ids::resource_group(&config.cloud.subscription_id, &config.cloud.resource_group);
    let servers_path = vm_list_path(config, Role::Server);
    let agents_path = vm_list_path(config, Role::Agent);
    let nics_path = format!("{rg}/providers/Microsoft.Network/networkInterfaces");
    let pips_path = format!("{rg}/providers/Microsoft.Network/publicIPAddresses");
    let (servers, agents, nics, pips) = tokio::join!(
        client.list(&servers_path, api_versions::COMPUTE),
        client.list(&agents_path, api_versions::COMPUTE),
        client.list(&nics_path, api_versions::NETWORK),
        client.list(&pips_path, api_versions::NETWORK),
    );
    let after = client.stats();
    let stats = ListStats {
        lists: 4,
        requests: after.requests() - before.requests(),
        throttled: after.throttled - before.throttled,
    };
    let hint = |e: ArmError| -> Error {
        if e.status() == Some(404) {
            Error::Failed(format!(
                "{e}\n  hint: resource group {} does not exist yet; run `platform up` (infra) first",
                config.cloud.resource_group
            ))
        } else {
            Error::Arm(e)
        }
    };
    let (servers, agents, nics, pips) = (
        servers.map_err(hint)?,
        agents.map_err(hint)?,
        nics.map_err(hint)?,
        pips.map_err(hint)?,
    );
    let net = Network::new(&nics, &pips);
    let mut hosts = Vec::with_capacity(servers.len() + agents.len());
    for (role, vms) in [(Role::Server, &servers), (Role::Agent, &agents)] {
        hosts.extend(vms.iter().map(|vm| host(config, role, vm, &net)));
    }
    Ok((
        Inventory::finish(&config.cluster, Source::Cloud, hosts),
        stats,
    ))
}

/// NICs and public IPs by lower-cased id, and NICs by the VM they belong to.
struct Network<'a> {
    nics: HashMap<String, &'a Value>,
    nics_by_vm: HashMap<String, Vec<&'a Value>>,
    pips: HashMap<String, &'a Value>,
}

fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

impl<'a> Network<'a> {
    fn new(nics: &'a [Value], pips: &'a [Value]) -> Self {
        let mut by_vm: HashMap<String, Vec<&Value>> = HashMap::new();
        for n in nics {
            if let Some(vm) = n
                .pointer("/properties/virtualMachine/id")
                .and_then(Value::as_str)
            {
                by_vm.entry(key(vm)).or_default().push(n);
            }
        }
        let by_id = |items: &'a [Value]| {
            items
                .iter()
                .filter_map(|v| Some((key(v["id"].as_str()?), v)))
                .collect::<HashMap<_, _>>()
        };
        Network {
            nics: by_id(nics),
            nics_by_vm: by_vm,
            pips: by_id(pips),
        }
    }

    /// The primary NIC of a VM: the one its network profile marks primary (or lists first),
    /// else one that names the VM as its owner.
    fn primary_nic(&self, vm: &Value) -> Option<&'a Value> {
        let refs = vm
            .pointer("/properties/networkProfile/networkInterfaces")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let is_primary = |r: &&Value| {
            r.pointer("/properties/primary")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let chosen = refs.iter().find(is_primary).or_else(|| refs.first());
        if let Some(nic) = chosen
            .and_then(|r| r["id"].as_str())
            .and_then(|id| self.nics.get(&key(id)))
        {
            return Some(nic);
        }
        let owned = self.nics_by_vm.get(&key(vm["id"].as_str()?))?;
        owned
            .iter()
            .find(|n| n.pointer("/properties/primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| owned.first())
            .copied()
    }

    /// Private and public address of a NIC's primary IP configuration.
    fn addresses(&self, nic: &Value) -> (Option<String>, Option<String>) {
        let cfgs = nic
            .pointer("/properties/ipConfigurations")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(cfg) = cfgs
            .iter()
            .find(|c| c.pointer("/properties/primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| cfgs.first())
        else {
            return (None, None);
        };
        let private = str_at(cfg, "/properties/privateIPAddress");
        let public = cfg
            .pointer("/properties/publicIPAddress/id")
            .and_then(Value::as_str)
            .and_then(|id| self.pips.get(&key(id)))
            .and_then(|p| str_at(p, "/properties/ipAddress"));
        (private, public)
    }
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A status code such as `PowerState/running` from the instance view, without its prefix.
fn status(vm: &Value, prefix: &str) -> Option<String> {
    vm.pointer("/properties/instanceView/statuses")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|s| s["code"].as_str())
        .find_map(|c| c.strip_prefix(prefix))
        .map(str::to_owned)
}

/// One host record from a VM and the network around it.
fn host(config: &Config, role: Role, vm: &Value, net: &Network<'_>) -> Host {
    let name = vm["name"].as_str().unwrap_or_default().to_owned();
    let provisioning = ProvisioningState::parse(
        &str_at(vm, "/properties/provisioningState")
            .or_else(|| status(vm, "ProvisioningState/"))
            .unwrap_or_else(|| "Unknown".into()),
    );
    let power = status(vm, "PowerState/").map_or(PowerState::Unknown, |p| PowerState::parse(&p));
    let (private_ip, public_ip) = net
        .primary_nic(vm)
        .map(|n| net.addresses(n))
        .unwrap_or_default();
    let ssh_address = match config.nodes.ssh_address {
        SshAddress::Public => public_ip.clone(),
        SshAddress::Private => private_ip.clone(),
    };
    let excluded = if provisioning != ProvisioningState::Succeeded {
        Some(format!(
            "provisioning state is {provisioning}, not Succeeded"
        ))
    } else if power != PowerState::Running {
        Some(format!("power state is {power}, not running"))
    } else if private_ip.is_none() {
        Some("no network interface with a private IP was found for it".to_owned())
    } else if ssh_address.is_none() {
        Some("it has no public IP and nodes.ssh_address is public; set nodes.ssh_address: private (with nodes.jump_host)".to_owned())
    } else {
        None
    };
    let zone = vm
        .get("zones")
        .and_then(Value::as_array)
        .and_then(|z| z.first())
        .and_then(Value::as_str)
        .map(str::to_owned);
    let node_name = str_at(vm, "/properties/osProfile/computerName")
        .map(|c| super::node_name_of(&c))
        .unwrap_or_else(|| super::node_name_of(&name));
    Host {
        node_name,
        name,
        role,
        id: vm["id"].as_str().map(str::to_owned),
        private_ip,
        public_ip,
        ssh_address,
        jump_host: match config.nodes.ssh_address {
            SshAddress::Private => config.nodes.jump_host.clone(),
            SshAddress::Public => None,
        },
        known_hosts_file: Some(super::known_hosts_file(config)),
        ssh_user: config.nodes.ssh_user.clone(),
        ssh_private_key_file: config.ssh_private_key().display().to_string(),
        zone,
        vm_size: str_at(vm, "/properties/hardwareProfile/vmSize"),
        provisioning_state: provisioning,
        power_state: power,
        init_server: false,
        excluded,
        vars: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: &str) -> Config {
        let text = format!(
            "cluster: demo\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops: {{controller: none}}\n{extra}"
        );
        Config::from_str(&text, std::path::Path::new("/tmp/x"), None).unwrap()
    }

    fn vm(name: &str, prov: &str, power: &str, nic: Option<&str>) -> Value {
        let nics: Vec<Value> = nic
            .map(|n| json!({"id": n.to_uppercase(), "properties": {"primary": true}}))
            .into_iter()
            .collect();
        json!({"id": format!("/s/vms/{name}"), "name": name, "zones": ["2"],
            "properties": {"provisioningState": prov, "hardwareProfile": {"vmSize": "Standard_B2s"},
                "networkProfile": {"networkInterfaces": nics},
                "instanceView": {"statuses": [{"code": format!("ProvisioningState/{}", prov.to_lowercase())},
                    {"code": format!("PowerState/{power}")}]}}})
    }

    fn nic(id: &str, vm: &str, ip: &str, pip: Option<&str>) -> Value {
        let mut cfg = json!({"properties": {"primary": true, "privateIPAddress": ip}});
        if let Some(p) = pip {
            cfg["properties"]["publicIPAddress"] = json!({"id": p});
        }
        json!({"id": id, "properties": {"virtualMachine": {"id": vm}, "ipConfigurations": [cfg]}})
    }

    #[test]
    fn joins_vms_nics_and_public_ips_and_gives_reasons() {
        let nics = [
            nic("/s/nics/a", "/s/vms/a", "10.0.1.4", Some("/s/pips/a")),
            // Found through the NIC's owner, since VM `b` lists no NIC.
            nic("/s/nics/b", "/S/VMS/B", "10.0.1.5", None),
            nic("/s/nics/c", "/s/vms/c", "10.0.1.6", None),
        ];
        let pips = [json!({"id": "/s/pips/a", "properties": {"ipAddress": "203.0.113.9"}})];
        let net = Network::new(&nics, &pips);
        let c = config("");
        let a = host(
            &c,
            Role::Server,
            &vm("a", "Succeeded", "running", Some("/s/nics/a")),
            &net,
        );
        assert_eq!(a.private_ip.as_deref(), Some("10.0.1.4"));
        assert_eq!(a.public_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(a.ssh_address.as_deref(), Some("10.0.1.4"), "local: private");
        assert_eq!(
            (a.zone.as_deref(), a.vm_size.as_deref()),
            (Some("2"), Some("Standard_B2s"))
        );
        assert!(a.included());
        let b = host(
            &c,
            Role::Agent,
            &vm("b", "Succeeded", "running", None),
            &net,
        );
        assert_eq!(b.private_ip.as_deref(), Some("10.0.1.5"));
        let creating = host(
            &c,
            Role::Agent,
            &vm("c", "Creating", "starting", Some("/s/nics/c")),
            &net,
        );
        assert_eq!(
            creating.excluded.as_deref(),
            Some("provisioning state is Creating, not Succeeded")
        );
        let dealloc = host(
            &c,
            Role::Agent,
            &vm("c", "Succeeded", "deallocated", None),
            &net,
        );
        assert_eq!(
            dealloc.excluded.as_deref(),
            Some("power state is deallocated, not running")
        );
        let lost = host(
            &c,
            Role::Agent,
            &vm("zz", "Succeeded", "running", None),
            &net,
        );
        assert!(lost.excluded.unwrap().contains("no network interface"));
        let public = config("nodes: {ssh_address: public, agents: {public_ip: true}}\n");
        let b = host(
            &public,
            Role::Agent,
            &vm("b", "Succeeded", "running", None),
            &net,
        );
        assert!(b.excluded.unwrap().contains("has no public IP"));
        let a = host(
            &public,
            Role::Server,
            &vm("a", "Succeeded", "running", Some("/s/nics/a")),
            &net,
        );
        assert_eq!(a.ssh_address.as_deref(), Some("203.0.113.9"));
    }
}

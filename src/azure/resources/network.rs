//! Virtual network with inline subnets, and the network security group
//! (`Microsoft.Network`, api 2025-09-01).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{ArmResource, tags_value, top_level_id};
use crate::azure::{api_versions, ids};

/// One subnet, declared inline in the VNet body so that a VNet PUT never deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSpec {
    /// Subnet name (`nodes`, `postgres`).
    pub name: String,
    /// CIDR, such as `10.42.1.0/24`.
    pub address_prefix: String,
    /// NSG id associated with the subnet.
    pub nsg_id: Option<String>,
    /// NAT gateway id giving the subnet its outbound path.
    pub nat_gateway_id: Option<String>,
    /// Service the subnet is delegated to (`Microsoft.DBforPostgreSQL/flexibleServers`).
    pub delegation: Option<String>,
}

/// The cluster VNet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNetworkSpec {
    /// VNet name (`<cluster>-vnet`).
    pub name: String,
    /// Resource group it lives in.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Address space CIDRs.
    pub address_space: Vec<String>,
    /// Subnets, all of them (a VNet PUT replaces the subnet list).
    pub subnets: Vec<SubnetSpec>,
}

impl VirtualNetworkSpec {
    /// The id of one of this VNet's subnets.
    pub fn subnet_id(&self, subscription: &str, subnet: &str) -> String {
        ids::child(&self.id(subscription), "subnets", subnet)
    }
}

fn subnet_body(s: &SubnetSpec) -> Value {
    let mut props = Map::new();
    props.insert("addressPrefix".into(), json!(s.address_prefix));
    if let Some(id) = &s.nsg_id {
        props.insert("networkSecurityGroup".into(), json!({ "id": id }));
    }
    if let Some(id) = &s.nat_gateway_id {
        props.insert("natGateway".into(), json!({ "id": id }));
    }
    if let Some(service) = &s.delegation {
        // Delegation names are ours; `serviceName` is what ARM acts on.
        props.insert(
            "delegations".into(),
            json!([{ "name": format!("{}-delegation", s.name), "properties": { "serviceName": service } }]),
        );
    }
    json!({ "name": s.name, "properties": props })
}

impl ArmResource for VirtualNetworkSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/virtualNetworks";
    const API_VERSION: &'static str = api_versions::NETWORK;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        json!({
            "location": self.location,
            "tags": tags_value(&self.tags),
            "properties": {
                "addressSpace": { "addressPrefixes": self.address_space },
                "subnets": self.subnets.iter().map(subnet_body).collect::<Vec<_>>(),
            }
        })
    }
}

/// One inbound allow rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityRuleSpec {
    /// Rule name (stable: it keys the comparison).
    pub name: String,
    /// Priority 100-4096, unique within the NSG, stable across runs.
    pub priority: u16,
    /// `Tcp`, `Udp` or `*`.
    pub protocol: String,
    /// Source CIDRs or service tags, exactly as the caller gave them.
    pub sources: Vec<String>,
    /// Destination ports (`22`, `6443`, `80`...).
    pub ports: Vec<String>,
}

/// The cluster NSG (associated with the node subnet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSecurityGroupSpec {
    /// NSG name (`<cluster>-nsg`).
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Inbound allow rules; everything else falls to the default rules (VNet-internal allowed,
    /// Internet denied).
    pub rules: Vec<SecurityRuleSpec>,
}

/// Priorities are fixed per purpose so that toggling one rule never renumbers another.
pub const PRIORITY_SSH: u16 = 100;
/// Priority of the k3s API rule.
pub const PRIORITY_K3S_API: u16 = 110;
/// Priority of the ingress (80/443) rule.
pub const PRIORITY_INGRESS: u16 = 120;

impl NetworkSecurityGroupSpec {
    /// The cluster rules: 22 and 6443 only from `admin_cidrs` (taken verbatim: nothing is
    /// widened here), 80/443 from anywhere only when `ingress` is on.
    pub fn cluster_rules(admin_cidrs: &[String], ingress: bool) -> Vec<SecurityRuleSpec> {
        let admin = |name: &str, priority, port: &str| SecurityRuleSpec {
            name: name.into(),
            priority,
            protocol: "Tcp".into(),
            sources: admin_cidrs.to_vec(),
            ports: vec![port.into()],
        };
        let mut rules = vec![
            admin("allow-ssh", PRIORITY_SSH, "22"),
            admin("allow-k3s-api", PRIORITY_K3S_API, "6443"),
        ];
        if ingress {
            rules.push(SecurityRuleSpec {
                name: "allow-ingress-http".into(),
                priority: PRIORITY_INGRESS,
                protocol: "Tcp".into(),
                sources: vec!["*".into()],
                ports: vec!["80".into(), "443".into()],
            });
        }
        rules
    }
}

/// One value goes in the singular field, several in the plural one (as the portal and CLI do).
fn one_or_many(props: &mut Map<String, Value>, single: &str, plural: &str, values: &[String]) {
    match values {
        [one] => props.insert(single.into(), json!(one)),
        many => props.insert(plural.into(), json!(many)),
    };
}

fn rule_body(r: &SecurityRuleSpec) -> Value {
    let mut props = Map::new();
    props.insert("access".into(), json!("Allow"));
    props.insert("direction".into(), json!("Inbound"));
    props.insert("priority".into(), json!(r.priority));
    props.insert("protocol".into(), json!(r.protocol));
    props.insert("sourcePortRange".into(), json!("*"));
    one_or_many(
        &mut props,
        "sourceAddressPrefix",
        "sourceAddressPrefixes",
        &r.sources,
    );
    props.insert("destinationAddressPrefix".into(), json!("*"));
    one_or_many(
        &mut props,
        "destinationPortRange",
        "destinationPortRanges",
        &r.ports,
    );
    json!({ "name": r.name, "properties": props })
}

impl ArmResource for NetworkSecurityGroupSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/networkSecurityGroups";
    const API_VERSION: &'static str = api_versions::NETWORK;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        json!({
            "location": self.location,
            "tags": tags_value(&self.tags),
            "properties": {
                "securityRules": self.rules.iter().map(rule_body).collect::<Vec<_>>(),
            }
        })
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;

//! Standard load balancers in front of the k3s API servers (`Microsoft.Network`,
//! 2025-09-01): the public one (`<cluster>-api-lb`, for the kubeconfig, open to
//! `admin_cidrs` only) and the internal one (`<cluster>-api-ilb`, a private frontend in the
//! node subnet that agents register through). Azure cannot put a public and a private
//! frontend on one Standard load balancer, hence two (decision 0008, point 5).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use serde_json::{Value, json};

use super::{ArmResource, tags_value, top_level_id};
use crate::azure::{api_versions, ids};

/// Name of the frontend IP configuration.
pub const FRONTEND: &str = "api";
/// Name of the backend pool the server scale set joins.
pub const BACKEND_POOL: &str = "servers";
/// Name of the health probe and of the load-balancing rule.
pub const API_RULE: &str = "k3s-api";
/// The k3s API port.
pub const API_PORT: u16 = 6443;

/// Where a load balancer's frontend is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend {
    /// A public IP resource (id).
    Public(String),
    /// A static private address in a subnet (id).
    Private {
        subnet_id: String,
        address: Ipv4Addr,
    },
}

/// The internal API frontend's address: the node subnet's last usable host (its broadcast
/// address minus one), fixed so it never changes across runs and stays clear of the
/// addresses Azure hands VMs from the bottom of the subnet (`.4` up). `None` below a /29
/// (Azure's smallest subnet: 3 usable addresses).
pub fn internal_api_address(node_subnet: Ipv4Net) -> Option<Ipv4Addr> {
    (node_subnet.prefix_len() <= 29).then(|| Ipv4Addr::from(u32::from(node_subnet.broadcast()) - 1))
}

/// An API load balancer: one frontend, pool `servers`, TCP probe and rule on 6443.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    /// Name (`<cluster>-api-lb`, `<cluster>-api-ilb`).
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The frontend.
    pub frontend: Frontend,
    /// Subscription, needed because children reference each other by full id in the body.
    pub subscription: String,
}

impl LoadBalancerSpec {
    /// Id of the `servers` backend pool (the server scale set's NICs join it).
    pub fn backend_pool_id(&self) -> String {
        ids::child(
            &self.id(&self.subscription),
            "backendAddressPools",
            BACKEND_POOL,
        )
    }
}

impl ArmResource for LoadBalancerSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/loadBalancers";
    const API_VERSION: &'static str = api_versions::NETWORK;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        let lb = self.id(&self.subscription);
        let frontend = match &self.frontend {
            Frontend::Public(id) => json!({ "publicIPAddress": { "id": id } }),
            Frontend::Private { subnet_id, address } => json!({
                "subnet": { "id": subnet_id },
                "privateIPAllocationMethod": "Static",
                "privateIPAddress": address.to_string()
            }),
        };
        let mut rule = json!({
            "frontendIPConfiguration": {
                "id": ids::child(&lb, "frontendIPConfigurations", FRONTEND)
            },
            "backendAddressPool": { "id": self.backend_pool_id() },
            "probe": { "id": ids::child(&lb, "probes", API_RULE) },
            "protocol": "Tcp",
            "frontendPort": API_PORT,
            "backendPort": API_PORT,
            "enableFloatingIP": false,
            "idleTimeoutInMinutes": 4
        });
        if matches!(self.frontend, Frontend::Public(_)) {
            // Outbound goes through the NAT gateway, never through this frontend (an
            // internal frontend gives no outbound connectivity at all).
            rule["disableOutboundSnat"] = true.into();
        }
        json!({
            "location": self.location,
            "tags": tags_value(&self.tags),
            "sku": { "name": "Standard" },
            "properties": {
                "frontendIPConfigurations": [{
                    "name": FRONTEND,
                    "properties": frontend
                }],
                "backendAddressPools": [{ "name": BACKEND_POOL }],
                "probes": [{
                    "name": API_RULE,
                    "properties": {
                        "protocol": "Tcp",
                        "port": API_PORT,
                        "intervalInSeconds": 5,
                        "probeThreshold": 2
                    }
                }],
                "loadBalancingRules": [{ "name": API_RULE, "properties": rule }]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::owner_tags;
    use crate::azure::resources::spec_check::{SpecNote, assert_matches_examples};

    fn spec(name: &str, frontend: Frontend) -> LoadBalancerSpec {
        LoadBalancerSpec {
            name: name.into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            tags: owner_tags("demo"),
            frontend,
            subscription: "s".into(),
        }
    }

    /// Checks `body` against the example, with our notes on top of the tags.
    fn check(body: &Value, notes: &[SpecNote]) {
        let all: Vec<SpecNote> = std::iter::once(SpecNote::TAGS)
            .chain(notes.iter().cloned())
            .collect();
        assert_matches_examples(
            body,
            &[(
                "LoadBalancerCreateStandardSku.json",
                Some("2025-09-01 copy not readable; 2025-05-01 and 2026-01-01 bodies identical"),
            )],
            LoadBalancerSpec::API_VERSION,
            &all,
        );
    }

    // Spec: specification/network/resource-manager/Microsoft.Network/Network/stable/2026-01-01/
    //       examples/LoadBalancerCreateStandardSku.json. The pinned 2025-09-01 copy is not in
    //       the index we could read; the 2025-05-01 copy (read) has the same request body, so
    //       the example did not change across the pinned version. Its frontend uses a subnet; the public-IP frontend and
    //       `disableOutboundSnat` are in LoadBalancerCreateWithOutboundRules.json (2025-05-01),
    //       which we could only read through the Go SDK sample generated from it.
    #[test]
    fn body_follows_spec_example() {
        let lb = spec(
            "demo-api-lb",
            Frontend::Public("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/demo-api-pip".into()),
        );
        let body = lb.body();
        check(
            &body,
            &[
                SpecNote {
                    path: "properties.frontendIPConfigurations[].properties.publicIPAddress",
                    why: "FrontendIPConfigurationPropertiesFormat.publicIPAddress (id); \
                          LoadBalancerCreateWithOutboundRules.json",
                },
                SpecNote {
                    path: "properties.loadBalancingRules[].properties.disableOutboundSnat",
                    why: "LoadBalancingRulePropertiesFormat.disableOutboundSnat: boolean; \
                          in the example's 200 response and LoadBalancerCreateWithOutboundRules",
                },
            ],
        );
        let rule = &body["properties"]["loadBalancingRules"][0]["properties"];
        assert_eq!(rule["frontendPort"], 6443);
        assert_eq!(rule["backendPort"], 6443);
        assert_eq!(rule["disableOutboundSnat"], true);
        assert_eq!(
            rule["probe"]["id"],
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/demo-api-lb/probes/k3s-api"
        );
        assert_eq!(
            lb.backend_pool_id(),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/demo-api-lb/backendAddressPools/servers"
        );
    }

    // The same example's frontend is a subnet's static private address, as ours.
    #[test]
    fn internal_body_follows_spec_example() {
        let subnet = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes";
        let address = internal_api_address("10.0.1.0/24".parse().unwrap()).unwrap();
        let body = spec(
            "demo-api-ilb",
            Frontend::Private {
                subnet_id: subnet.into(),
                address,
            },
        )
        .body();
        check(
            &body,
            &[
                SpecNote {
                    path: "properties.frontendIPConfigurations[].properties.privateIPAllocationMethod",
                    why: "FrontendIPConfigurationPropertiesFormat.privateIPAllocationMethod: Static|Dynamic",
                },
                SpecNote {
                    path: "properties.frontendIPConfigurations[].properties.privateIPAddress",
                    why: "FrontendIPConfigurationPropertiesFormat.privateIPAddress: string",
                },
            ],
        );
        let fe = &body["properties"]["frontendIPConfigurations"][0]["properties"];
        assert_eq!(fe["privateIPAddress"], "10.0.1.254");
        assert_eq!(fe["subnet"]["id"], subnet);
        let rule = &body["properties"]["loadBalancingRules"][0]["properties"];
        assert_eq!(rule["frontendPort"], 6443);
        assert!(rule.get("disableOutboundSnat").is_none());
    }

    #[test]
    fn the_internal_address_is_the_last_usable_host() {
        let at = |s: &str| internal_api_address(s.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(at("10.0.4.0/22").as_deref(), Some("10.0.7.254"));
        assert_eq!(at("10.0.1.0/29").as_deref(), Some("10.0.1.6"));
        assert_eq!(at("10.0.1.0/30"), None);
    }
}

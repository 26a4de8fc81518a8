//! Standard load balancer in front of the k3s API servers (`Microsoft.Network`, 2025-09-01).

use std::collections::BTreeMap;

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

/// The API load balancer: public frontend, pool `servers`, TCP probe and rule on 6443.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    /// Name (`<cluster>-api-lb`).
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Id of the frontend public IP.
    pub public_ip_id: String,
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
        json!({
            "location": self.location,
            "tags": tags_value(&self.tags),
            "sku": { "name": "Standard" },
            "properties": {
                "frontendIPConfigurations": [{
                    "name": FRONTEND,
                    "properties": { "publicIPAddress": { "id": self.public_ip_id } }
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
                "loadBalancingRules": [{
                    "name": API_RULE,
                    "properties": {
                        "frontendIPConfiguration": {
                            "id": ids::child(&lb, "frontendIPConfigurations", FRONTEND)
                        },
                        "backendAddressPool": { "id": self.backend_pool_id() },
                        "probe": { "id": ids::child(&lb, "probes", API_RULE) },
                        "protocol": "Tcp",
                        "frontendPort": API_PORT,
                        "backendPort": API_PORT,
                        "enableFloatingIP": false,
                        "idleTimeoutInMinutes": 4,
                        // Outbound goes through the NAT gateway, never through this frontend.
                        "disableOutboundSnat": true
                    }
                }]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::owner_tags;
    use crate::azure::resources::spec_check::{SpecNote, assert_matches_examples};

    // Spec: specification/network/resource-manager/Microsoft.Network/Network/stable/2026-01-01/
    //       examples/LoadBalancerCreateStandardSku.json. The pinned 2025-09-01 copy is not in
    //       the index we could read; the 2025-05-01 copy (read) has the same request body, so
    //       the example did not change across the pinned version. Its frontend uses a subnet; the public-IP frontend and
    //       `disableOutboundSnat` are in LoadBalancerCreateWithOutboundRules.json (2025-05-01),
    //       which we could only read through the Go SDK sample generated from it.
    #[test]
    fn body_follows_spec_example() {
        let lb = LoadBalancerSpec {
            name: "demo-api-lb".into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            tags: owner_tags("demo"),
            public_ip_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/demo-api-pip".into(),
            subscription: "s".into(),
        };
        let body = lb.body();
        assert_matches_examples(
            &body,
            &[(
                "LoadBalancerCreateStandardSku.json",
                Some("2025-09-01 copy not readable; 2025-05-01 and 2026-01-01 bodies identical"),
            )],
            LoadBalancerSpec::API_VERSION,
            &[
                SpecNote::TAGS,
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
}

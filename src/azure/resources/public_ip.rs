//! Standard static public IPs and the NAT gateway that gives the node subnet its outbound
//! path (`Microsoft.Network`, api 2025-09-01).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ArmResource, tags_value, top_level_id};
use crate::azure::api_versions;

/// A Standard, static, IPv4 public IP (Basic SKU is retired; never rely on the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIpSpec {
    /// Name (`<cluster>-api-pip`, `<cluster>-nat-pip`).
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl ArmResource for PublicIpSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/publicIPAddresses";
    const API_VERSION: &'static str = api_versions::NETWORK;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        json!({
            "location": self.location,
            "tags": tags_value(&self.tags),
            "sku": { "name": "Standard", "tier": "Regional" },
            "properties": {
                "publicIPAllocationMethod": "Static",
                "publicIPAddressVersion": "IPv4",
            }
        })
    }
}

/// The NAT gateway. It is attached from the subnet side (`subnet.properties.natGateway`),
/// because a NAT gateway's own `subnets` list is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatGatewaySpec {
    /// Name (`<cluster>-natgw`).
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Ids of its public IPs.
    pub public_ip_ids: Vec<String>,
}

impl ArmResource for NatGatewaySpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/natGateways";
    const API_VERSION: &'static str = api_versions::NETWORK;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        let pips: Vec<Value> = self
            .public_ip_ids
            .iter()
            .map(|id| json!({ "id": id }))
            .collect();
        json!({
            "location": self.location,
            "tags": tags_value(&self.tags),
            "sku": { "name": "Standard" },
            "properties": { "publicIpAddresses": pips }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::owner_tags;
    use crate::azure::resources::spec_check::{SpecNote, assert_matches_examples};

    fn pip() -> PublicIpSpec {
        PublicIpSpec {
            name: "demo-api-pip".into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            tags: owner_tags("demo"),
        }
    }

    // Spec: specification/network/resource-manager/Microsoft.Network/Network/stable/2025-09-01/
    //       examples/PublicIpAddressCreateCustomizedValues.json (2025-09-01, as pinned).
    #[test]
    fn public_ip_body_follows_spec_example() {
        let body = pip().body();
        assert_matches_examples(
            &body,
            &[("PublicIpAddressCreateCustomizedValues.json", None)],
            PublicIpSpec::API_VERSION,
            &[SpecNote::TAGS],
        );
        assert_eq!(body["sku"]["name"], "Standard");
        assert_eq!(body["properties"]["publicIPAllocationMethod"], "Static");
    }

    // Spec: specification/network/resource-manager/Microsoft.Network/Network/stable/2025-09-01/
    //       examples/NatGatewayCreateOrUpdateStandardV2Sku.json (2025-09-01, as pinned; the
    //       same request shape as NatGatewayCreateOrUpdate.json, whose 2025-09-01 copy is not in
    //       the index, and whose 2025-07-01 and 2026-03-01 copies send `sku.name: Standard`).
    #[test]
    fn nat_gateway_body_follows_spec_example() {
        let nat = NatGatewaySpec {
            name: "demo-natgw".into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            tags: owner_tags("demo"),
            public_ip_ids: vec![pip().id("sub")],
        };
        let body = nat.body();
        assert_matches_examples(
            &body,
            &[("NatGatewayCreateOrUpdateStandardV2Sku.json", None)],
            NatGatewaySpec::API_VERSION,
            &[SpecNote::TAGS],
        );
        assert_eq!(
            body["properties"]["publicIpAddresses"][0]["id"],
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/demo-api-pip"
        );
    }
}

//! Private DNS zone for the Postgres server and its link to the VNet
//! (`Microsoft.Network/privateDnsZones`, api 2024-06-01).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ArmResource, tags_value, top_level_id};
use crate::azure::{api_versions, ids};

/// Private DNS zones are global resources.
pub const GLOBAL: &str = "global";

/// The zone `<cluster>.private.postgres.database.azure.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDnsZoneSpec {
    /// Zone name (must end in `.postgres.database.azure.com` for a Flexible Server).
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl ArmResource for PrivateDnsZoneSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateDnsZones";
    const API_VERSION: &'static str = api_versions::PRIVATE_DNS;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        json!({ "location": GLOBAL, "tags": tags_value(&self.tags) })
    }
}

/// The zone's link to the cluster VNet (resolution only: no auto-registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNetworkLinkSpec {
    /// Link name (`<cluster>-vnet-link`).
    pub name: String,
    /// Zone name.
    pub zone: String,
    /// Resource group.
    pub resource_group: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Id of the linked VNet.
    pub vnet_id: String,
}

impl ArmResource for VirtualNetworkLinkSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
    const API_VERSION: &'static str = api_versions::PRIVATE_DNS;

    fn id(&self, subscription: &str) -> String {
        let zone = ids::resource(
            subscription,
            &self.resource_group,
            PrivateDnsZoneSpec::RESOURCE_TYPE,
            &self.zone,
        );
        ids::child(&zone, "virtualNetworkLinks", &self.name)
    }

    fn body(&self) -> Value {
        json!({
            "location": GLOBAL,
            "tags": tags_value(&self.tags),
            "properties": {
                "registrationEnabled": false,
                "virtualNetwork": { "id": self.vnet_id }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::spec_check::assert_matches_examples;
    use crate::azure::resources::{Plan, owner_tags, plan};

    // Spec: specification/privatedns/resource-manager/Microsoft.Network/PrivateDns/preview/
    //       2026-06-01-preview/examples/PrivateZonePut.json: the 2024-06-01 PrivateZonePut
    //       example is not in the index we could read; examples/2024-06-01/PrivateZoneGet.json
    //       shows the same location/tags shape for our pinned version.
    #[test]
    fn zone_body_follows_spec_example() {
        let zone = PrivateDnsZoneSpec {
            name: "demo.private.postgres.database.azure.com".into(),
            resource_group: "rg".into(),
            tags: owner_tags("demo"),
        };
        assert_matches_examples(
            &zone.body(),
            &[(
                "PrivateZonePut.json",
                Some("2024-06-01 PUT example not readable; GET example matches"),
            )],
            PrivateDnsZoneSpec::API_VERSION,
            &[],
        );
        // ARM answers with lowercase "global".
        let actual = json!({"location": "Global", "tags": zone.body()["tags"], "etag": "x"});
        assert_eq!(plan(&zone.body(), Some(&actual)), Plan::Unchanged);
    }

    // Spec: .../PrivateDns/examples/2024-06-01/VirtualNetworkLinkPut.json (2024-06-01, as pinned).
    #[test]
    fn link_body_follows_spec_example() {
        let link = VirtualNetworkLinkSpec {
            name: "demo-vnet-link".into(),
            zone: "demo.private.postgres.database.azure.com".into(),
            resource_group: "rg".into(),
            tags: owner_tags("demo"),
            vnet_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/demo-vnet".into(),
        };
        assert_matches_examples(
            &link.body(),
            &[("VirtualNetworkLinkPut.json", None)],
            VirtualNetworkLinkSpec::API_VERSION,
            &[],
        );
        assert_eq!(link.body()["properties"]["registrationEnabled"], false);
        assert_eq!(
            link.id("s"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/demo.private.postgres.database.azure.com/virtualNetworkLinks/demo-vnet-link"
        );
    }
}

//! PostgreSQL Flexible Server inside the VNet, and its databases
//! (`Microsoft.DBforPostgreSQL`, api 2025-08-01).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ArmResource, Secret, TAG_INPUT_HASH, input_hash, tags_value, top_level_id};
use crate::azure::{api_versions, ids};

/// The server: VNet-injected (delegated subnet + private DNS zone), so it has no public
/// endpoint at all. `network.publicNetworkAccess` is not sent: Servers.json 2025-08-01 says it
/// "is only supported for servers that are not integrated into a virtual network which is
/// owned and provided by customer"; ARM reports `Disabled` on GET for such a server anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresServerSpec {
    /// Server name (`<cluster>-pg[-suffix]`); globally unique in Azure, as it becomes
    /// `<name>.postgres.database.azure.com`.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Subscription (the input hash is salted with the full id).
    pub subscription: String,
    /// Azure region.
    pub location: String,
    /// Tags (the input-hash tag is added by `body()`).
    pub tags: BTreeMap<String, String>,
    /// Major version, such as `17`.
    pub version: String,
    /// SKU name, such as `Standard_B2s`.
    pub sku_name: String,
    /// SKU tier: `Burstable`, `GeneralPurpose` or `MemoryOptimized`.
    pub sku_tier: String,
    /// Storage size in GiB.
    pub storage_gb: u32,
    /// Admin login.
    pub admin_login: String,
    /// Admin password (write-only: GET never returns it).
    pub admin_password: Secret,
    /// Id of the subnet delegated to `Microsoft.DBforPostgreSQL/flexibleServers`.
    pub delegated_subnet_id: String,
    /// Id of the private DNS zone (`*.postgres.database.azure.com`).
    pub private_dns_zone_id: String,
}

impl ArmResource for PostgresServerSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.DBforPostgreSQL/flexibleServers";
    const API_VERSION: &'static str = api_versions::POSTGRES;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        let mut tags = self.tags.clone();
        tags.insert(
            TAG_INPUT_HASH.into(),
            input_hash(
                &self.id(&self.subscription),
                &[self.admin_password.expose()],
            ),
        );
        json!({
            "location": self.location,
            "tags": tags_value(&tags),
            "sku": { "name": self.sku_name, "tier": self.sku_tier },
            "properties": {
                "version": self.version,
                "administratorLogin": self.admin_login,
                "administratorLoginPassword": self.admin_password.expose(),
                "storage": { "storageSizeGB": self.storage_gb },
                "network": {
                    "delegatedSubnetResourceId": self.delegated_subnet_id,
                    "privateDnsZoneArmResourceId": self.private_dns_zone_id
                }
            }
        })
    }

    fn write_only_paths() -> &'static [&'static str] {
        &["properties.administratorLoginPassword"]
    }

    fn secret_paths() -> &'static [&'static str] {
        &["properties.administratorLoginPassword"]
    }
}

/// One database on the server (a proxy resource: no location, no tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresDatabaseSpec {
    /// Database name.
    pub name: String,
    /// Server name.
    pub server: String,
    /// Resource group.
    pub resource_group: String,
}

impl ArmResource for PostgresDatabaseSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.DBforPostgreSQL/flexibleServers/databases";
    const API_VERSION: &'static str = api_versions::POSTGRES;

    fn id(&self, subscription: &str) -> String {
        let server = ids::resource(
            subscription,
            &self.resource_group,
            PostgresServerSpec::RESOURCE_TYPE,
            &self.server,
        );
        ids::child(&server, "databases", &self.name)
    }

    fn body(&self) -> Value {
        json!({ "properties": { "charset": "UTF8", "collation": "en_US.utf8" } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::spec_check::assert_matches_examples;
    use crate::azure::resources::{Plan, owner_tags, plan, redacted, without_paths};

    fn server(password: &str) -> PostgresServerSpec {
        PostgresServerSpec {
            name: "demo-pg-x1".into(),
            resource_group: "rg".into(),
            subscription: "s".into(),
            location: "westeurope".into(),
            tags: owner_tags("demo"),
            version: "17".into(),
            sku_name: "Standard_B2s".into(),
            sku_tier: "Burstable".into(),
            storage_gb: 32,
            admin_login: "platformadmin".into(),
            admin_password: Secret::new(password),
            delegated_subnet_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/demo-vnet/subnets/postgres".into(),
            private_dns_zone_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/demo.private.postgres.database.azure.com".into(),
        }
    }

    // Spec: specification/postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2025-08-01/
    //       examples/ServersCreateInYourOwnVirtualNetworkWithSameZoneHighAvailability.json
    //       (api-version 2025-08-01, as pinned). Only the VNet-integrated example: its `network`
    //       has the delegated subnet and the DNS zone and no `publicNetworkAccess`, which
    //       Servers.json 2025-08-01 (`Network.publicNetworkAccess`) supports "only for servers
    //       that are not integrated into a virtual network which is owned and provided by
    //       customer". A body sending it fails this check.
    #[test]
    fn server_body_follows_spec_examples() {
        let body = server("pw-Very-Long-0123456789").body();
        assert_matches_examples(
            &body,
            &[(
                "ServersCreateInYourOwnVirtualNetworkWithSameZoneHighAvailability.json",
                None,
            )],
            PostgresServerSpec::API_VERSION,
            &[],
        );
        let network = &body["properties"]["network"];
        assert!(
            network["delegatedSubnetResourceId"].is_string(),
            "{network}"
        );
        assert!(
            network["privateDnsZoneArmResourceId"].is_string(),
            "{network}"
        );
        assert_eq!(network.get("publicNetworkAccess"), None, "{network}");
    }

    // Spec: .../Microsoft.DBforPostgreSQL/stable/2025-08-01/examples/DatabasesCreate.json.
    #[test]
    fn database_body_follows_spec_example() {
        let db = PostgresDatabaseSpec {
            name: "app".into(),
            server: "demo-pg".into(),
            resource_group: "rg".into(),
        };
        assert_matches_examples(
            &db.body(),
            &[("DatabasesCreate.json", None)],
            PostgresDatabaseSpec::API_VERSION,
            &[],
        );
        assert_eq!(
            db.id("s"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/demo-pg/databases/app"
        );
        // ARM reports the charset as "UTF8" or "utf8": enum-like, case-insensitive.
        let actual =
            json!({"id": db.id("s"), "properties": {"charset": "utf8", "collation": "en_US.utf8"}});
        assert_eq!(plan(&db.body(), Some(&actual)), Plan::Unchanged);
    }

    #[test]
    fn password_never_in_debug_and_changes_show_in_tag() {
        let s = server("pw-Very-Long-0123456789");
        assert!(!format!("{s:?}").contains("pw-Very-Long"));
        let body = s.body();
        assert_eq!(
            body["properties"]["administratorLoginPassword"],
            "pw-Very-Long-0123456789"
        );
        let shown = redacted(&body, PostgresServerSpec::secret_paths()).to_string();
        assert!(!shown.contains("pw-Very-Long"), "{shown}");

        // GET never returns the password: compare without it; a new password moves the tag.
        let mut actual = without_paths(&body, PostgresServerSpec::write_only_paths());
        actual["properties"]["fullyQualifiedDomainName"] =
            json!("demo-pg-x1.postgres.database.azure.com");
        actual["properties"]["state"] = json!("Ready");
        // ARM reports it for a VNet-integrated server; we do not set it, so it is no change.
        actual["properties"]["network"]["publicNetworkAccess"] = json!("Disabled");
        let compare = |s: &PostgresServerSpec| {
            without_paths(&s.body(), PostgresServerSpec::write_only_paths())
        };
        assert_eq!(plan(&compare(&s), Some(&actual)), Plan::Unchanged);
        assert_eq!(
            plan(&compare(&server("another-Long-Password-42")), Some(&actual)),
            Plan::Update {
                changes: vec![format!("tags.{TAG_INPUT_HASH}")]
            }
        );
    }
}

//! The api-versions real ARM serves, per resource type, as the official REST specs
//! (Azure/azure-rest-api-specs, `stable/` folders) define them. The local cloud accepts
//! exactly these, so a client that sends a version ARM would refuse is refused here too.
//!
//! This is the local cloud's own table, not the client's pins: it lists every stable
//! version verified in the specs (`docs/azure.md`), not just the one a client chose.

/// `Microsoft.Resources`: resource groups and a group's resource list
/// (`specification/resources/resource-manager/Microsoft.Resources/resources/stable/`).
pub const RESOURCES: &[&str] = &["2024-11-01", "2025-04-01"];
/// `Microsoft.Network` (VNets, subnets, NSGs, public IPs, load balancers, NAT gateways,
/// NICs): one spec folder per version (`.../Microsoft.Network/Network/stable/`).
pub const NETWORK: &[&str] = &["2025-09-01", "2026-01-01", "2026-03-01"];
/// `Microsoft.Network/privateDnsZones` and their VNet links: their own spec folder.
pub const PRIVATE_DNS: &[&str] = &["2024-06-01"];
/// `Microsoft.Compute` scale sets and VMs (`.../Microsoft.Compute/ComputeRP/stable/`).
pub const COMPUTE: &[&str] = &["2025-04-01", "2025-11-01", "2026-03-01"];
/// `Microsoft.Compute/disks` and `/snapshots`: the Disk RP versions on its own
/// (`.../Microsoft.Compute/DiskRP/stable/{2023-10-02,2024-03-02,2025-01-02}/disk.json`);
/// Compute's are refused.
pub const DISKS: &[&str] = &["2023-10-02", "2024-03-02", "2025-01-02"];
/// `Microsoft.DBforPostgreSQL` flexible servers, databases, firewall rules.
pub const POSTGRES: &[&str] = &["2025-08-01"];

/// Every resource type the table knows, with the versions ARM serves for it.
pub const TABLE: &[(&str, &[&str])] = &[
    ("Microsoft.Resources/resourceGroups", RESOURCES),
    ("Microsoft.Resources/resources", RESOURCES),
    ("Microsoft.Network/virtualNetworks", NETWORK),
    ("Microsoft.Network/virtualNetworks/subnets", NETWORK),
    ("Microsoft.Network/networkSecurityGroups", NETWORK),
    (
        "Microsoft.Network/networkSecurityGroups/securityRules",
        NETWORK,
    ),
    ("Microsoft.Network/publicIPAddresses", NETWORK),
    ("Microsoft.Network/loadBalancers", NETWORK),
    ("Microsoft.Network/natGateways", NETWORK),
    ("Microsoft.Network/networkInterfaces", NETWORK),
    ("Microsoft.Network/privateDnsZones", PRIVATE_DNS),
    (
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        PRIVATE_DNS,
    ),
    ("Microsoft.Compute/virtualMachineScaleSets", COMPUTE),
    ("Microsoft.Compute/virtualMachines", COMPUTE),
    ("Microsoft.Compute/disks", DISKS),
    ("Microsoft.Compute/snapshots", DISKS),
    ("Microsoft.DBforPostgreSQL/flexibleServers", POSTGRES),
    (
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        POSTGRES,
    ),
    (
        "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules",
        POSTGRES,
    ),
];

/// The versions ARM serves for a full resource type (case-insensitive), or `None` for a
/// type the table does not know.
pub fn versions(resource_type: &str) -> Option<&'static [&'static str]> {
    TABLE
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(resource_type))
        .map(|(_, v)| *v)
}

/// Whether ARM serves `version` for `resource_type`.
pub fn accepts(resource_type: &str, version: &str) -> bool {
    versions(resource_type).is_some_and(|v| v.contains(&version))
}

/// Every version of any type of a provider namespace (such as `Microsoft.Network`), oldest
/// first: operation-status URLs live under the namespace and take any of them.
pub fn of_namespace(namespace: &str) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = TABLE
        .iter()
        .filter(|(t, _)| {
            t.split_once('/')
                .is_some_and(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
        })
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The newest version of a type (the one the local cloud writes into the poll URLs it
/// hands out), or `None` for an unknown type.
pub fn latest(resource_type: &str) -> Option<&'static str> {
    versions(resource_type).and_then(|v| v.iter().max().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_type_has_versions() {
        for spec in super::super::types::TYPES {
            assert!(versions(spec.rtype).is_some(), "{} has no row", spec.rtype);
        }
    }

    #[test]
    fn versions_are_per_type_not_per_namespace() {
        assert!(accepts("microsoft.network/VIRTUALNETWORKS", "2025-09-01"));
        assert!(accepts(
            "Microsoft.Compute/virtualMachineScaleSets",
            "2025-04-01"
        ));
        assert!(accepts("Microsoft.Compute/disks", "2025-01-02"));
        // Compute's versions are not the Disk RP's, and the reverse.
        assert!(!accepts("Microsoft.Compute/disks", "2026-03-01"));
        assert!(!accepts("Microsoft.Compute/virtualMachines", "2025-01-02"));
        assert!(!accepts("Microsoft.Network/privateDnsZones", "2026-03-01"));
        assert!(!accepts("Microsoft.Storage/storageAccounts", "2025-01-01"));
        assert_eq!(
            latest("Microsoft.Network/loadBalancers"),
            Some("2026-03-01")
        );
        assert_eq!(
            of_namespace("microsoft.network"),
            ["2024-06-01", "2025-09-01", "2026-01-01", "2026-03-01"]
        );
        assert!(of_namespace("Microsoft.Storage").is_empty());
    }
}

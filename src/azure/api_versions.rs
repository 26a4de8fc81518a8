//! The one table of pinned ARM api-versions. Bump deliberately, one provider at a time,
//! after checking the request bodies against that version's spec examples (`docs/azure.md`).

/// `Microsoft.Resources` (resource groups, listing a group's resources).
pub const RESOURCES: &str = "2024-11-01";
/// `Microsoft.Network` (VNet, subnets, NSG, public IPs, load balancer, NAT gateway, NICs):
/// the default tag of the Network spec's readme, generally available for months. 2026-01-01
/// and 2026-03-01 exist but a region or sovereign cloud that has not registered them yet
/// answers `NoRegisteredProviderFound` (`docs/azure.md`).
pub const NETWORK: &str = "2025-09-01";
/// `Microsoft.Network/privateDnsZones` and their virtual network links (own spec folder).
pub const PRIVATE_DNS: &str = "2024-06-01";
/// `Microsoft.Compute` (scale sets in Flexible orchestration, virtual machines): the
/// Compute readme's default tag `package-2025-04-01`, for the same reason as [`NETWORK`].
pub const COMPUTE: &str = "2025-04-01";
/// `Microsoft.DBforPostgreSQL/flexibleServers` and their databases.
pub const POSTGRES: &str = "2025-08-01";

/// The api-version for an ARM resource type such as `Microsoft.Network/virtualNetworks`.
/// Returns `None` for a type this tool never manages.
pub fn for_type(resource_type: &str) -> Option<&'static str> {
    let t = resource_type.to_ascii_lowercase();
    if t.starts_with("microsoft.network/privatednszones") {
        Some(PRIVATE_DNS)
    } else if t.starts_with("microsoft.network/") {
        Some(NETWORK)
    } else if t.starts_with("microsoft.compute/") {
        Some(COMPUTE)
    } else if t.starts_with("microsoft.dbforpostgresql/") {
        Some(POSTGRES)
    } else if t.starts_with("microsoft.resources/") {
        Some(RESOURCES)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_their_provider_version() {
        assert_eq!(for_type("Microsoft.Network/virtualNetworks"), Some(NETWORK));
        assert_eq!(
            for_type("Microsoft.Network/privateDnsZones/virtualNetworkLinks"),
            Some(PRIVATE_DNS)
        );
        assert_eq!(
            for_type("microsoft.compute/virtualMachineScaleSets"),
            Some(COMPUTE)
        );
        assert_eq!(
            for_type("Microsoft.DBforPostgreSQL/flexibleServers/databases"),
            Some(POSTGRES)
        );
        assert_eq!(for_type("Microsoft.Storage/storageAccounts"), None);
    }
}

//! The one table of pinned ARM api-versions: every resource type platform creates, reads or
//! can meet in its resource group during `down`, each with the version it is addressed with.
//! Bump deliberately, one provider at a time, after checking the request bodies against that
//! version's spec examples (`docs/azure.md`).

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
/// `Microsoft.Compute/disks`: managed disks are served by the disk resource provider, which
/// is versioned apart from the rest of Compute (the DiskRP of `package-2025-04-01`).
pub const DISKS: &str = "2025-01-02";
/// `Microsoft.DBforPostgreSQL/flexibleServers` and their databases.
pub const POSTGRES: &str = "2025-08-01";

/// One row of [`TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeVersion {
    /// Full ARM resource type, canonical casing.
    pub resource_type: &'static str,
    /// The api-version every request about this type carries.
    pub api_version: &'static str,
    /// The spec folder (inside `Azure/azure-rest-api-specs/specification/`) that defines
    /// this type at this version.
    pub spec_folder: &'static str,
}

const RESOURCES_SPEC: &str =
    "resources/resource-manager/Microsoft.Resources/resources/stable/2024-11-01";
const NETWORK_SPEC: &str = "network/resource-manager/Microsoft.Network/Network/stable/2025-09-01";
const DNS_SPEC: &str = "privatedns/resource-manager/Microsoft.Network/PrivateDns/stable/2024-06-01";
const COMPUTE_SPEC: &str = "compute/resource-manager/Microsoft.Compute/Compute/stable/2025-04-01";
const DISK_SPEC: &str = "compute/resource-manager/Microsoft.Compute/DiskRP/stable/2025-01-02";
const PG_SPEC: &str = "postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2025-08-01";

const fn row(
    resource_type: &'static str,
    api_version: &'static str,
    spec_folder: &'static str,
) -> TypeVersion {
    TypeVersion {
        resource_type,
        api_version,
        spec_folder,
    }
}

/// Every type platform creates, plus what Azure creates for it in the same group (the NICs,
/// VMs and OS disks of Flexible scale-set instances: an OS disk outlives its VM when its
/// `deleteOption` is `Detach`, the VM default). `down` deletes only these types.
pub const TABLE: &[TypeVersion] = &[
    row(
        "Microsoft.Resources/resourceGroups",
        RESOURCES,
        RESOURCES_SPEC,
    ),
    // Not a type: the list of a group's resources (`Resources_ListByResourceGroup`), which
    // `down` reads; a row so that every URL platform builds has its version here.
    row("Microsoft.Resources/resources", RESOURCES, RESOURCES_SPEC),
    row("Microsoft.Network/virtualNetworks", NETWORK, NETWORK_SPEC),
    row(
        "Microsoft.Network/virtualNetworks/subnets",
        NETWORK,
        NETWORK_SPEC,
    ),
    row(
        "Microsoft.Network/networkSecurityGroups",
        NETWORK,
        NETWORK_SPEC,
    ),
    row("Microsoft.Network/publicIPAddresses", NETWORK, NETWORK_SPEC),
    row("Microsoft.Network/natGateways", NETWORK, NETWORK_SPEC),
    row("Microsoft.Network/loadBalancers", NETWORK, NETWORK_SPEC),
    row("Microsoft.Network/networkInterfaces", NETWORK, NETWORK_SPEC),
    row("Microsoft.Network/privateDnsZones", PRIVATE_DNS, DNS_SPEC),
    row(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        PRIVATE_DNS,
        DNS_SPEC,
    ),
    row(
        "Microsoft.Compute/virtualMachineScaleSets",
        COMPUTE,
        COMPUTE_SPEC,
    ),
    row("Microsoft.Compute/virtualMachines", COMPUTE, COMPUTE_SPEC),
    row("Microsoft.Compute/disks", DISKS, DISK_SPEC),
    row(
        "Microsoft.DBforPostgreSQL/flexibleServers",
        POSTGRES,
        PG_SPEC,
    ),
    row(
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        POSTGRES,
        PG_SPEC,
    ),
];

/// The row of a full resource type such as `Microsoft.Network/virtualNetworks`
/// (case-insensitive, as ARM types are); `None` for a type not in [`TABLE`].
pub fn row_for(resource_type: &str) -> Option<&'static TypeVersion> {
    TABLE
        .iter()
        .find(|r| r.resource_type.eq_ignore_ascii_case(resource_type))
}

/// The api-version of a full resource type; `None` for a type not in [`TABLE`]: there is no
/// fallback, because another provider's version would be refused (HTTP 400) by real ARM.
pub fn for_type(resource_type: &str) -> Option<&'static str> {
    row_for(resource_type).map(|r| r.api_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_their_own_version_and_unknown_types_to_none() {
        assert_eq!(for_type("Microsoft.Network/virtualNetworks"), Some(NETWORK));
        assert_eq!(
            for_type("Microsoft.Network/privateDnsZones/virtualNetworkLinks"),
            Some(PRIVATE_DNS)
        );
        assert_eq!(
            for_type("microsoft.compute/virtualMachineScaleSets"),
            Some(COMPUTE)
        );
        // Disks are a different resource provider than the rest of Compute.
        assert_eq!(for_type("Microsoft.Compute/disks"), Some("2025-01-02"));
        assert_eq!(
            for_type("Microsoft.DBforPostgreSQL/flexibleServers/databases"),
            Some(POSTGRES)
        );
        // No guessing from the namespace: these would be a 400 on real Azure.
        assert_eq!(for_type("Microsoft.Compute/snapshots"), None);
        assert_eq!(for_type("Microsoft.Network/dnszones"), None);
        assert_eq!(for_type("Microsoft.Storage/storageAccounts"), None);
    }

    #[test]
    fn each_version_comes_from_the_spec_folder_named_beside_it() {
        for r in TABLE {
            assert!(
                r.spec_folder
                    .ends_with(&format!("/stable/{}", r.api_version)),
                "{r:?}"
            );
            assert_eq!(
                r.spec_folder.split('/').nth(2),
                r.resource_type.split('/').next(),
                "{r:?}: the folder is the type's own namespace"
            );
        }
    }
}

//! How each managed resource's PUT and DELETE complete (ARM long-running operations), as the
//! specs of the pinned api-versions declare them in
//! `x-ms-long-running-operation-options.final-state-via`.

pub use crate::azure::lro::FinalStateVia;

/// One row: resource type, PUT behaviour, DELETE behaviour, and where that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LroRow {
    /// ARM resource type.
    pub resource_type: &'static str,
    /// final-state-via of PUT (create or update).
    pub put: FinalStateVia,
    /// final-state-via of DELETE.
    pub delete: FinalStateVia,
    /// The spec file (inside `Azure/azure-rest-api-specs/specification/`) that says so, for
    /// the api-version pinned in [`crate::azure::api_versions`].
    pub spec: &'static str,
}

// A synchronous resource (no LRO headers) is polled the `original-uri` way: whichever
// header comes back, else its GET.
use FinalStateVia::{AzureAsyncOperation as Aao, Location, OriginalUri as Synchronous};

const RESOURCES_SPEC: &str =
    "resources/resource-manager/Microsoft.Resources/resources/stable/2024-11-01/resources.json";
const NETWORK_SPEC: &str =
    "network/resource-manager/Microsoft.Network/Network/stable/2025-09-01/virtualNetwork.json";
const LB_SPEC: &str =
    "network/resource-manager/Microsoft.Network/Network/stable/2025-09-01/loadBalancer.json";
const COMPUTE_SPEC: &str =
    "compute/resource-manager/Microsoft.Compute/Compute/stable/2025-04-01/ComputeRP.json";
const DNS_SPEC: &str =
    "privatedns/resource-manager/Microsoft.Network/PrivateDns/stable/2024-06-01/privatedns.json";
const PG_SPEC: &str =
    "postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2025-08-01/Servers.json";
const PG_DB_SPEC: &str =
    "postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2025-08-01/Databases.json";

/// The table (also in `docs/azure.md`) of every type `up` creates. A poller should accept
/// either header whatever this says: Compute, for one, has historically sent
/// `Azure-AsyncOperation` on VMSS PUT, and the local cloud sends both on 202s.
pub const LRO_TABLE: &[LroRow] = &[
    // ResourceGroups_CreateOrUpdate answers 200/201 without LRO; _Delete 202 + location.
    row(RG, Synchronous, Location, RESOURCES_SPEC),
    row(NSG, Aao, Location, NETWORK_SPEC),
    row(PIP, Aao, Location, NETWORK_SPEC),
    row(NATGW, Aao, Location, NETWORK_SPEC),
    row(VNET, Aao, Location, NETWORK_SPEC),
    row(LB, Aao, Location, LB_SPEC),
    row(VMSS, Location, Location, COMPUTE_SPEC),
    row(DNS_ZONE, Location, Location, DNS_SPEC),
    row(DNS_LINK, Location, Location, DNS_SPEC),
    row(PG, Aao, Location, PG_SPEC),
    row(PG_DB, Aao, Location, PG_DB_SPEC),
];

const RG: &str = "Microsoft.Resources/resourceGroups";
const NSG: &str = "Microsoft.Network/networkSecurityGroups";
const PIP: &str = "Microsoft.Network/publicIPAddresses";
const NATGW: &str = "Microsoft.Network/natGateways";
const VNET: &str = "Microsoft.Network/virtualNetworks";
const LB: &str = "Microsoft.Network/loadBalancers";
const VMSS: &str = "Microsoft.Compute/virtualMachineScaleSets";
const DNS_ZONE: &str = "Microsoft.Network/privateDnsZones";
const DNS_LINK: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
const PG: &str = "Microsoft.DBforPostgreSQL/flexibleServers";
const PG_DB: &str = "Microsoft.DBforPostgreSQL/flexibleServers/databases";

const fn row(
    resource_type: &'static str,
    put: FinalStateVia,
    delete: FinalStateVia,
    spec: &'static str,
) -> LroRow {
    LroRow {
        resource_type,
        put,
        delete,
        spec,
    }
}

/// The row for a resource type (case-insensitive), or `None` for a type we do not manage.
pub fn lro_for(resource_type: &str) -> Option<&'static LroRow> {
    LRO_TABLE
        .iter()
        .find(|r| r.resource_type.eq_ignore_ascii_case(resource_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::api_versions;

    /// What the spec of each pinned api-version declares, transcribed by hand from the file
    /// named on each line (paths inside `Azure/azure-rest-api-specs/specification/`):
    /// `(type, operationId of PUT -> final-state-via, of DELETE -> final-state-via)`.
    const SPEC_SAYS: &[(&str, FinalStateVia, FinalStateVia)] = &[
        // resources/.../stable/2024-11-01/resources.json: ResourceGroups_CreateOrUpdate
        // 200/201, no x-ms-long-running-operation; ResourceGroups_Delete 200/202 with a
        // `location` header (LRO, no final-state-via option).
        (RG, Synchronous, Location),
        // network/.../Network/stable/2025-09-01/virtualNetwork.json:
        // NetworkSecurityGroups_CreateOrUpdate azure-async-operation, _Delete location.
        (NSG, Aao, Location),
        // same file: PublicIPAddresses_CreateOrUpdate azure-async-operation, _Delete location.
        (PIP, Aao, Location),
        // same file: NatGateways_CreateOrUpdate azure-async-operation, _Delete location.
        (NATGW, Aao, Location),
        // same file: VirtualNetworks_CreateOrUpdate azure-async-operation, _Delete location.
        (VNET, Aao, Location),
        // network/.../Network/stable/2025-09-01/loadBalancer.json:
        // LoadBalancers_CreateOrUpdate azure-async-operation, _Delete location.
        (LB, Aao, Location),
        // compute/.../Compute/stable/2025-04-01/ComputeRP.json:
        // VirtualMachineScaleSets_CreateOrUpdate location (201 + Location), _Delete location.
        (VMSS, Location, Location),
        // privatedns/.../PrivateDns/stable/2024-06-01/privatedns.json:
        // PrivateZones_CreateOrUpdate location (201/202 + Location), _Delete location.
        (DNS_ZONE, Location, Location),
        // same file: VirtualNetworkLinks_CreateOrUpdate location (201/202 + Location),
        // _Delete location.
        (DNS_LINK, Location, Location),
        // postgresql/.../stable/2025-08-01/Servers.json: Servers_Create
        // azure-async-operation (202 only), Servers_Delete location.
        (PG, Aao, Location),
        // postgresql/.../stable/2025-08-01/Databases.json: Databases_Create
        // azure-async-operation, Databases_Delete location.
        (PG_DB, Aao, Location),
    ];

    #[test]
    fn table_matches_what_the_pinned_specs_declare() {
        assert_eq!(LRO_TABLE.len(), SPEC_SAYS.len());
        for (t, put, delete) in SPEC_SAYS {
            let r = lro_for(t).unwrap_or_else(|| panic!("{t} has no row"));
            assert_eq!(
                (r.put, r.delete),
                (*put, *delete),
                "{t} (read in {})",
                r.spec
            );
        }
    }

    #[test]
    fn every_row_has_a_pinned_version_from_the_spec_it_cites() {
        for r in LRO_TABLE {
            let v = api_versions::for_type(r.resource_type)
                .unwrap_or_else(|| panic!("{} has no version", r.resource_type));
            assert!(
                r.spec.contains(&format!("/{v}/")),
                "{}: {v} vs {}",
                r.resource_type,
                r.spec
            );
        }
        assert!(lro_for("Microsoft.Storage/storageAccounts").is_none());
    }
}

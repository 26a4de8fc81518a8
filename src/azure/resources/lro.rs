//! How each managed resource's PUT and DELETE complete (ARM long-running operations), as the
//! specs declare them in `x-ms-long-running-operation-options.final-state-via`.

/// Where the final result of a long-running operation is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStateVia {
    /// The call is synchronous (200/201 with the resource, or 200/204 for a delete).
    Synchronous,
    /// Poll `Azure-AsyncOperation` until `status` is terminal, then GET the resource.
    AzureAsyncOperation,
    /// Poll `Location` until it stops answering 202.
    Location,
}

/// Whether the table entry was read in the spec or follows the provider's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Read in the spec file for the pinned version (`reference/azure-arm.md` 2.2).
    Verified,
    /// Provider convention or secondary source; the poller must handle both headers anyway.
    Unverified,
}

/// One row: resource type, PUT behaviour, DELETE behaviour, evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LroRow {
    /// ARM resource type.
    pub resource_type: &'static str,
    /// final-state-via of PUT (create or update).
    pub put: FinalStateVia,
    /// final-state-via of DELETE.
    pub delete: FinalStateVia,
    /// How sure we are.
    pub evidence: Evidence,
}

use Evidence::{Unverified, Verified};
use FinalStateVia::{AzureAsyncOperation as Aao, Location, Synchronous};

/// The table (also in `docs/azure.md`). A poller should accept either header whatever this
/// says: Compute, for one, has historically sent `Azure-AsyncOperation` on VMSS PUT.
pub const LRO_TABLE: &[LroRow] = &[
    row(
        "Microsoft.Resources/resourceGroups",
        Synchronous,
        Location,
        Unverified,
    ),
    row(
        "Microsoft.Network/networkSecurityGroups",
        Aao,
        Location,
        Unverified,
    ),
    row(
        "Microsoft.Network/publicIPAddresses",
        Aao,
        Location,
        Verified,
    ),
    row("Microsoft.Network/natGateways", Aao, Location, Unverified),
    row(
        "Microsoft.Network/virtualNetworks",
        Aao,
        Location,
        Unverified,
    ),
    row("Microsoft.Network/loadBalancers", Aao, Location, Verified),
    row(
        "Microsoft.Compute/virtualMachineScaleSets",
        Location,
        Location,
        Verified,
    ),
    row(
        "Microsoft.Network/privateDnsZones",
        Aao,
        Location,
        Unverified,
    ),
    row(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        Aao,
        Location,
        Unverified,
    ),
    row(
        "Microsoft.DBforPostgreSQL/flexibleServers",
        Aao,
        Location,
        Verified,
    ),
    row(
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        Aao,
        Location,
        Verified,
    ),
];

const fn row(
    resource_type: &'static str,
    put: FinalStateVia,
    delete: FinalStateVia,
    evidence: Evidence,
) -> LroRow {
    LroRow {
        resource_type,
        put,
        delete,
        evidence,
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

    #[test]
    fn every_managed_type_has_a_row_and_a_pinned_version() {
        for r in LRO_TABLE {
            assert!(
                api_versions::for_type(r.resource_type).is_some(),
                "{}",
                r.resource_type
            );
        }
        assert_eq!(
            lro_for("microsoft.compute/virtualmachinescalesets")
                .unwrap()
                .put,
            Location
        );
        assert_eq!(
            lro_for("Microsoft.DBforPostgreSQL/flexibleServers")
                .unwrap()
                .put,
            Aao
        );
        assert!(lro_for("Microsoft.Storage/storageAccounts").is_none());
    }
}

//! How each managed resource's PUT and DELETE complete (ARM long-running operations), as the
//! specs declare them in `x-ms-long-running-operation-options.final-state-via`.

pub use crate::azure::lro::FinalStateVia;

/// Whether the table entry was read in the spec or follows the provider's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Read in the spec file for the pinned version (`docs/azure.md` lists which).
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
// A synchronous resource (no LRO headers) is polled the `original-uri` way: whichever
// header comes back, else its GET.
use FinalStateVia::{AzureAsyncOperation as Aao, Location, OriginalUri as Synchronous};

/// The table (also in `docs/azure.md`). A poller should accept either header whatever this
/// says: Compute, for one, has historically sent `Azure-AsyncOperation` on VMSS PUT.
pub const LRO_TABLE: &[LroRow] = &[
    row(RG, Synchronous, Location, Unverified),
    row(NSG, Aao, Location, Verified),
    row(PIP, Aao, Location, Verified),
    row(NATGW, Aao, Location, Verified),
    row(VNET, Aao, Location, Verified),
    row(LB, Aao, Location, Verified),
    row(VMSS, Location, Location, Verified),
    row(DNS_ZONE, Aao, Location, Unverified),
    row(DNS_LINK, Aao, Location, Unverified),
    row(PG, Aao, Location, Verified),
    row(PG_DB, Aao, Location, Verified),
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

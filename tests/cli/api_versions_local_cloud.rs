//! Every api-version the product pins is one ARM serves for the type it is sent with, as
//! the local cloud's own table (from the REST specs) says: a pin that ARM would refuse fails
//! here, naming the type, before any request is made.

use platform::azure::api_versions;
use platform::azure::resources::lro::LRO_TABLE;

/// Types the product reads or deletes but does not create (inventory lists, teardown's group
/// list, subnets addressed as children, the NICs, VMs and OS disks of scale-set instances):
/// with the created ones, every row of the product's table.
const READ_TYPES: &[&str] = &[
    "Microsoft.Resources/resources",
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Compute/disks",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/virtualNetworks/subnets",
];

#[test]
fn every_pinned_version_is_served_for_its_types() {
    let types: Vec<&str> = LRO_TABLE
        .iter()
        .map(|r| r.resource_type)
        .chain(READ_TYPES.iter().copied())
        .collect();
    for row in api_versions::TABLE {
        assert!(
            types.contains(&row.resource_type),
            "{} is not checked",
            row.resource_type
        );
    }
    assert!(types.len() >= 14, "the product's types: {types:?}");
    let mut wrong = Vec::new();
    for t in types {
        let pinned = api_versions::for_type(t)
            .unwrap_or_else(|| panic!("the product pins no api-version for {t}"));
        if !local_cloud::api_versions::accepts(t, pinned) {
            wrong.push(format!(
                "{t}: pinned {pinned}, ARM serves {:?}",
                local_cloud::api_versions::versions(t)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "pins ARM would refuse:\n{}",
        wrong.join("\n")
    );
}

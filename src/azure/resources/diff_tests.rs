//! Tests of the generic comparison and of `plan`.

use super::*;
use serde_json::json;

fn nsg_desired() -> Value {
    json!({
        "location": "westeurope",
        "tags": {"managed-by": "platform", "platform-cluster": "demo"},
        "properties": {"securityRules": [
            {"name": "allow-ssh", "properties": {"priority": 100, "protocol": "Tcp", "access": "Allow",
                "sourceAddressPrefix": "203.0.113.7/32", "destinationPortRange": "22"}},
            {"name": "allow-k3s-api", "properties": {"priority": 110, "protocol": "Tcp", "access": "Allow",
                "sourceAddressPrefix": "203.0.113.7/32", "destinationPortRange": "6443"}}
        ]}
    })
}

/// What ARM returns: our fields (order shuffled, some normalised) plus read-only extras.
fn nsg_actual() -> Value {
    json!({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/demo-nsg",
        "name": "demo-nsg",
        "type": "Microsoft.Network/networkSecurityGroups",
        "etag": "W/\"1\"",
        "location": "westeurope",
        "tags": {"managed-by": "platform", "platform-cluster": "demo", "costcenter": "added-by-policy"},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": "00000000-0000-0000-0000-000000000000",
            "defaultSecurityRules": [{"name": "DenyAllInBound", "properties": {"priority": 65500}}],
            "securityRules": [
                {"name": "allow-k3s-api", "id": "/x/securityRules/allow-k3s-api", "etag": "W/\"1\"",
                 "properties": {"priority": 110, "protocol": "TCP", "access": "Allow",
                    "sourceAddressPrefix": "203.0.113.7/32", "destinationPortRange": "6443",
                    "sourcePortRange": "*", "provisioningState": "Succeeded"}},
                {"name": "allow-ssh", "id": "/x/securityRules/allow-ssh", "etag": "W/\"1\"",
                 "properties": {"priority": 100, "protocol": "Tcp", "access": "allow",
                    "sourceAddressPrefix": "203.0.113.7/32", "destinationPortRange": "22",
                    "sourcePortRange": "*", "provisioningState": "Succeeded"}}
            ]
        }
    })
}

#[test]
fn missing_resource_is_created() {
    assert_eq!(plan(&nsg_desired(), None), Plan::Create);
}

#[test]
fn read_only_extras_and_enum_case_are_unchanged() {
    assert_eq!(diff(&nsg_desired(), &nsg_actual()), Vec::<String>::new());
    assert_eq!(plan(&nsg_desired(), Some(&nsg_actual())), Plan::Unchanged);
}

#[test]
fn changed_field_is_reported_with_its_path() {
    let mut actual = nsg_actual();
    actual["properties"]["securityRules"][1]["properties"]["sourceAddressPrefix"] =
        json!("0.0.0.0/0");
    assert_eq!(
        plan(&nsg_desired(), Some(&actual)),
        Plan::Update {
            changes: vec![
                "properties.securityRules[allow-ssh].properties.sourceAddressPrefix".into()
            ]
        }
    );
    let mut actual = nsg_actual();
    actual["properties"]["securityRules"][0]["properties"]["priority"] = json!(111);
    assert_eq!(
        diff(&nsg_desired(), &actual),
        vec!["properties.securityRules[allow-k3s-api].properties.priority"]
    );
}

#[test]
fn array_elements_match_by_name_both_ways() {
    // A rule we want is gone.
    let mut actual = nsg_actual();
    actual["properties"]["securityRules"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    assert_eq!(
        diff(&nsg_desired(), &actual),
        vec!["properties.securityRules[allow-k3s-api]"]
    );
    // A rule someone added: our PUT would remove it, so it is a change too.
    let mut actual = nsg_actual();
    actual["properties"]["securityRules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "allow-all", "properties": {"priority": 90, "sourceAddressPrefix": "*"}}));
    assert_eq!(
        diff(&nsg_desired(), &actual),
        vec!["properties.securityRules[allow-all]"]
    );
    // Names compare case-insensitively, as ARM names do.
    let mut actual = nsg_actual();
    actual["properties"]["securityRules"][0]["name"] = json!("Allow-K3s-API");
    assert!(diff(&nsg_desired(), &actual).is_empty());
}

#[test]
fn ids_and_locations_compare_case_insensitively() {
    let desired = json!({
        "location": "West Europe",
        "properties": {
            "subnet": {"id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes"},
            "delegatedSubnetResourceId": "/subscriptions/s/resourceGroups/RG/providers/x",
            "publicIpAddresses": [{"id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/publicIPAddresses/p"}]
        }
    });
    let actual = json!({
        "location": "westeurope",
        "properties": {
            "subnet": {"id": "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/subnets/nodes"},
            "delegatedSubnetResourceId": "/subscriptions/s/resourcegroups/rg/providers/x",
            "publicIpAddresses": [{"id": "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/publicipaddresses/p"}]
        }
    });
    assert!(
        diff(&desired, &actual).is_empty(),
        "{:?}",
        diff(&desired, &actual)
    );
    // A really different id is still a change.
    let mut other = actual.clone();
    other["properties"]["subnet"]["id"] = json!(
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/subnets/postgres"
    );
    assert_eq!(diff(&desired, &other), vec!["properties.subnet.id"]);
}

#[test]
fn user_values_compare_exactly() {
    let desired =
        json!({"properties": {"adminUsername": "Platform", "keyData": "ssh-ed25519 AAAA"}});
    let actual =
        json!({"properties": {"adminUsername": "platform", "keyData": "ssh-ed25519 aaaa"}});
    assert_eq!(
        diff(&desired, &actual),
        vec!["properties.adminUsername", "properties.keyData"]
    );
    // Tag values are ours: exact.
    let d = json!({"tags": {"platform-cluster": "Demo"}});
    let a = json!({"tags": {"platform-cluster": "demo"}});
    assert_eq!(diff(&d, &a), vec!["tags.platform-cluster"]);
}

#[test]
fn scalar_arrays_are_sets() {
    let d =
        json!({"p": {"addressPrefixes": ["10.0.0.0/16", "10.1.0.0/16"], "ports": ["80", "443"]}});
    let reordered =
        json!({"p": {"addressPrefixes": ["10.1.0.0/16", "10.0.0.0/16"], "ports": ["443", "80"]}});
    assert!(diff(&d, &reordered).is_empty());
    let extra = json!({"p": {"addressPrefixes": ["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"], "ports": ["80"]}});
    assert_eq!(diff(&d, &extra), vec!["p.addressPrefixes", "p.ports"]);
    // An empty list we set means "none".
    let none = json!({"pools": []});
    assert_eq!(
        diff(&none, &json!({"pools": [{"id": "/x"}]})),
        vec!["pools"]
    );
    assert!(diff(&none, &json!({"pools": []})).is_empty());
}

#[test]
fn type_and_number_mismatches_are_changes() {
    let d = json!({"sku": {"capacity": 3, "name": "Standard_D2s_v5"}, "flag": true, "n": 1});
    let a = json!({"sku": {"capacity": 3.0, "name": "standard_d2s_v5"}, "flag": false, "n": "1"});
    assert_eq!(diff(&d, &a), vec!["flag", "n"]);
    assert_eq!(
        diff(&json!({"x": {"y": 1}}), &json!({"x": null})),
        vec!["x"]
    );
    assert_eq!(diff(&json!({"x": {"y": 1}}), &json!({})), vec!["x"]);
}

#[test]
fn write_only_hash_tag_change_is_an_update() {
    // The integrator compares bodies without write-only fields; the hash tag carries them.
    let actual = json!({"tags": {"platform-input-hash": "aaa"}, "properties": {"version": "17"}});
    let same = json!({"tags": {"platform-input-hash": "aaa"}, "properties": {"version": "17"}});
    let changed = json!({"tags": {"platform-input-hash": "bbb"}, "properties": {"version": "17"}});
    assert_eq!(plan(&same, Some(&actual)), Plan::Unchanged);
    assert_eq!(
        plan(&changed, Some(&actual)),
        Plan::Update {
            changes: vec!["tags.platform-input-hash".into()]
        }
    );
}

//! Tests of the VNet and NSG bodies against the spec examples and the NSG safety rules.

use super::*;
use crate::azure::resources::owner_tags;
use crate::azure::resources::spec_check::{SpecNote, assert_matches_examples};

fn vnet() -> VirtualNetworkSpec {
    VirtualNetworkSpec {
        name: "demo-vnet".into(),
        resource_group: "rg".into(),
        location: "westeurope".into(),
        tags: owner_tags("demo"),
        address_space: vec!["10.42.0.0/16".into()],
        subnets: vec![
            SubnetSpec {
                name: "nodes".into(),
                address_prefix: "10.42.1.0/24".into(),
                nsg_id: Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/demo-nsg".into()),
                nat_gateway_id: Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/natGateways/demo-natgw".into()),
                delegation: None,
            },
            SubnetSpec {
                name: "postgres".into(),
                address_prefix: "10.42.2.0/28".into(),
                nsg_id: None,
                nat_gateway_id: None,
                delegation: Some("Microsoft.DBforPostgreSQL/flexibleServers".into()),
            },
        ],
    }
}

// Spec: specification/network/resource-manager/Microsoft.Network/Network/stable/2025-09-01/
//       examples/VirtualNetworkCreateSubnetWithDelegation.json (2025-09-01, as pinned): address
//       space, inline subnets and the delegation shape.
#[test]
fn vnet_body_follows_spec_examples() {
    let body = vnet().body();
    assert_matches_examples(
        &body,
        &[("VirtualNetworkCreateSubnetWithDelegation.json", None)],
        VirtualNetworkSpec::API_VERSION,
        &[
            SpecNote::TAGS,
            SpecNote {
                path: "properties.subnets[].properties.networkSecurityGroup",
                why: "SubnetPropertiesFormat.networkSecurityGroup (read in virtualNetwork.json \
                      2026-03-01; in every Network version since 2015)",
            },
            SpecNote {
                path: "properties.subnets[].properties.natGateway",
                why: "SubnetPropertiesFormat.natGateway: SubResource (read in virtualNetwork.json \
                      2026-03-01; in every Network version since 2019-02-01)",
            },
        ],
    );
    let subnets = body["properties"]["subnets"].as_array().unwrap();
    assert_eq!(
        subnets.len(),
        2,
        "both subnets inline so a VNet PUT keeps them"
    );
    assert_eq!(
        subnets[1]["properties"]["delegations"][0]["properties"]["serviceName"],
        "Microsoft.DBforPostgreSQL/flexibleServers"
    );
    assert_eq!(
        vnet().subnet_id("s", "nodes"),
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/demo-vnet/subnets/nodes"
    );
}

fn nsg(admin: &[&str], ingress: bool) -> NetworkSecurityGroupSpec {
    let admin: Vec<String> = admin.iter().map(|s| s.to_string()).collect();
    NetworkSecurityGroupSpec {
        name: "demo-nsg".into(),
        resource_group: "rg".into(),
        location: "westeurope".into(),
        tags: owner_tags("demo"),
        rules: NetworkSecurityGroupSpec::cluster_rules(&admin, ingress),
    }
}

// Spec: specification/network/resource-manager/Microsoft.Network/Network/stable/2025-09-01/
//       examples/NetworkSecurityGroupCreateWithRule.json (2025-09-01, as pinned).
#[test]
fn nsg_body_follows_spec_example() {
    let notes = [
        SpecNote::TAGS,
        SpecNote {
            path: "properties.securityRules[].properties.sourceAddressPrefixes",
            why: "SecurityRulePropertiesFormat.sourceAddressPrefixes: string[]",
        },
        SpecNote {
            path: "properties.securityRules[].properties.destinationPortRanges",
            why: "SecurityRulePropertiesFormat.destinationPortRanges: string[] (read in \
                  virtualNetwork.json 2026-03-01; in every Network version since 2017)",
        },
    ];
    for body in [
        nsg(&["203.0.113.7/32"], false).body(),
        nsg(&["203.0.113.7/32", "198.51.100.0/24"], true).body(),
    ] {
        assert_matches_examples(
            &body,
            &[("NetworkSecurityGroupCreateWithRule.json", None)],
            NetworkSecurityGroupSpec::API_VERSION,
            &notes,
        );
    }
}

fn rule<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["properties"]["securityRules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| &r["properties"])
}

#[test]
fn admin_ports_open_only_to_admin_cidrs() {
    let body = nsg(&["203.0.113.7/32"], false).body();
    for (name, port) in [("allow-ssh", "22"), ("allow-k3s-api", "6443")] {
        let r = rule(&body, name).unwrap();
        assert_eq!(r["destinationPortRange"], port);
        assert_eq!(r["sourceAddressPrefix"], "203.0.113.7/32");
        assert_eq!(r["access"], "Allow");
        assert_eq!(r["direction"], "Inbound");
    }
    assert!(
        rule(&body, "allow-ingress-http").is_none(),
        "no 80/443 without ingress"
    );
    let text = body.to_string();
    assert!(!text.contains("0.0.0.0/0"), "{text}");
    assert!(!text.contains("\"sourceAddressPrefix\":\"*\""), "{text}");

    let two = nsg(&["203.0.113.7/32", "198.51.100.0/24"], false).body();
    let r = rule(&two, "allow-ssh").unwrap();
    assert!(r.get("sourceAddressPrefix").is_none());
    assert_eq!(
        r["sourceAddressPrefixes"],
        json!(["203.0.113.7/32", "198.51.100.0/24"])
    );
}

#[test]
fn ingress_adds_http_without_renumbering() {
    let off = nsg(&["203.0.113.7/32"], false).body();
    let on = nsg(&["203.0.113.7/32"], true).body();
    for name in ["allow-ssh", "allow-k3s-api"] {
        assert_eq!(
            rule(&off, name).unwrap()["priority"],
            rule(&on, name).unwrap()["priority"]
        );
    }
    let http = rule(&on, "allow-ingress-http").unwrap();
    assert_eq!(http["sourceAddressPrefix"], "*");
    assert_eq!(http["destinationPortRanges"], json!(["80", "443"]));
    let mut priorities: Vec<u64> = on["properties"]["securityRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["priority"].as_u64().unwrap())
        .collect();
    priorities.sort_unstable();
    priorities.dedup();
    assert_eq!(priorities, vec![100, 110, 120], "unique, stable priorities");
}

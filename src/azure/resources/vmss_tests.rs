//! Tests of the scale set body: spec example conformance and the Flexible-mode requirements.

use super::*;
use crate::azure::resources::spec_check::{SpecNote, assert_matches_examples};
use crate::azure::resources::{Plan, owner_tags, plan, without_paths};

fn spec(servers: bool, public_ip: bool) -> ScaleSetSpec {
    ScaleSetSpec {
        name: "demo-servers".into(),
        resource_group: "rg".into(),
        subscription: "s".into(),
        location: "westeurope".into(),
        tags: owner_tags("demo"),
        vm_size: "Standard_D2s_v5".into(),
        capacity: 3,
        image: ImageReference::ubuntu_lts(),
        computer_name_prefix: "demo-s".into(),
        admin_username: "platform".into(),
        ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTests platform".into(),
        cloud_init: "#cloud-config\npackage_update: false\n".into(),
        subnet_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/demo-vnet/subnets/nodes".into(),
        backend_pool_ids: if servers {
            vec!["/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/demo-api-lb/backendAddressPools/servers".into()]
        } else {
            vec![]
        },
        public_ip_per_vm: public_ip,
    }
}

// Spec: specification/compute/resource-manager/Microsoft.Compute/Compute/stable/2025-04-01/
//       examples/virtualMachineScaleSetExamples/VirtualMachineScaleSet_Create_WithPriorityMixPolicy.json
//       (Flexible, networkApiVersion, publicIPAddressConfiguration) and
//       .../VirtualMachineScaleSet_Create_WithSshAuthentication.json (linuxConfiguration.ssh);
//       both api-version 2025-04-01, as pinned.
#[test]
fn body_follows_spec_examples() {
    for (servers, pip) in [(true, true), (false, false)] {
        assert_matches_examples(
            &spec(servers, pip).body(),
            &[
                (
                    "VirtualMachineScaleSet_Create_WithPriorityMixPolicy.json",
                    None,
                ),
                (
                    "VirtualMachineScaleSet_Create_WithSshAuthentication.json",
                    None,
                ),
            ],
            ScaleSetSpec::API_VERSION,
            &[
                SpecNote::TAGS,
                SpecNote {
                    path: "properties.virtualMachineProfile.osProfile.customData",
                    why: "ComputeRP.json 2025-04-01 VirtualMachineScaleSetOSProfile.customData: \
                          string (base64, max 65535 bytes decoded)",
                },
                SpecNote {
                    // The example sends an empty array, so the element shape is from the spec.
                    path: "properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[].properties.ipConfigurations[].properties.loadBalancerBackendAddressPools[]",
                    why: "VirtualMachineScaleSetIPConfigurationProperties.loadBalancerBackendAddressPools: \
                          SubResource[] (id)",
                },
                SpecNote {
                    path: "properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations[].properties.ipConfigurations[].properties.publicIPAddressConfiguration.sku",
                    why: "ComputeRP.json 2025-04-01 VirtualMachineScaleSetPublicIPAddressConfiguration.sku: \
                          PublicIPAddressSku {name, tier}; only settable in Flexible mode",
                },
            ],
        );
    }
}

#[test]
fn flexible_requirements_are_set() {
    let body = spec(true, false).body();
    let p = &body["properties"];
    assert_eq!(p["orchestrationMode"], "Flexible");
    assert_eq!(p["platformFaultDomainCount"], 1);
    assert!(p.get("overprovision").is_none(), "not valid for Flexible");
    let vmp = &p["virtualMachineProfile"];
    assert_eq!(vmp["networkProfile"]["networkApiVersion"], "2022-11-01");
    assert_eq!(
        body["sku"],
        json!({"name": "Standard_D2s_v5", "tier": "Standard", "capacity": 3})
    );
    assert_eq!(
        vmp["storageProfile"]["imageReference"],
        json!({"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"})
    );
    let os = &vmp["osProfile"];
    assert_eq!(
        os["linuxConfiguration"]["disablePasswordAuthentication"],
        true
    );
    assert_eq!(
        os["linuxConfiguration"]["ssh"]["publicKeys"][0]["path"],
        "/home/platform/.ssh/authorized_keys"
    );
    let decoded = BASE64.decode(os["customData"].as_str().unwrap()).unwrap();
    assert_eq!(decoded, b"#cloud-config\npackage_update: false\n");
    let ipc = &vmp["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["ipConfigurations"]
        [0]["properties"];
    assert_eq!(ipc["primary"], true);
    assert_eq!(
        ipc["loadBalancerBackendAddressPools"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        ipc.get("publicIPAddressConfiguration").is_none(),
        "only when requested"
    );

    let agents = spec(false, true).body();
    let ipc = &agents["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
        [0]["properties"]["ipConfigurations"][0]["properties"];
    assert!(ipc.get("loadBalancerBackendAddressPools").is_none());
    assert_eq!(
        ipc["publicIPAddressConfiguration"]["sku"]["name"],
        "Standard"
    );
}

#[test]
fn image_strings_parse_and_print() {
    let img: ImageReference = "Canonical:ubuntu-24_04-lts:server:latest".parse().unwrap();
    assert_eq!(img, ImageReference::ubuntu_lts());
    assert_eq!(img.to_string(), "Canonical:ubuntu-24_04-lts:server:latest");
    assert!("Canonical:ubuntu".parse::<ImageReference>().is_err());
    assert!("a::c:d".parse::<ImageReference>().is_err());
}

/// GET never returns customData: a changed cloud-init must still show up, via the hash tag.
#[test]
fn custom_data_change_is_detected_through_the_hash_tag() {
    let old = spec(true, false);
    let stored = old.body();
    // What a GET returns: no customData, plus read-only extras.
    let mut actual = without_paths(&stored, ScaleSetSpec::write_only_paths());
    actual["id"] = json!(old.id("s"));
    actual["properties"]["provisioningState"] = json!("Succeeded");
    let compare = |s: &ScaleSetSpec| without_paths(&s.body(), ScaleSetSpec::write_only_paths());
    assert_eq!(plan(&compare(&old), Some(&actual)), Plan::Unchanged);

    let mut new = old.clone();
    new.cloud_init.push_str("runcmd: [true]\n");
    assert_eq!(
        plan(&compare(&new), Some(&actual)),
        Plan::Update {
            changes: vec![format!("tags.{TAG_INPUT_HASH}")]
        }
    );
}

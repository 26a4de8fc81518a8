//! Virtual machine scale sets in Flexible orchestration (`Microsoft.Compute`, api 2025-04-01).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::{ArmResource, TAG_INPUT_HASH, input_hash, tags_value, top_level_id};
use crate::azure::api_versions;

/// `Microsoft.Network` api-version the Flexible scale set uses to create NICs and public IPs.
/// Required for Flexible orchestration; the spec enum (ComputeRP.json `NetworkApiVersion`) is
/// `2020-11-01 | 2022-11-01`, and 2022-11-01 supports all network properties.
pub const NETWORK_API_VERSION: &str = "2022-11-01";

/// A platform image, `publisher:offer:sku:version` (as `az vm image` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// Publisher, such as `Canonical`.
    pub publisher: String,
    /// Offer, such as `ubuntu-24_04-lts`.
    pub offer: String,
    /// SKU, such as `server`.
    pub sku: String,
    /// Version, usually `latest`.
    pub version: String,
}

impl ImageReference {
    /// Ubuntu 24.04 LTS (Gen2), the default node image.
    pub fn ubuntu_lts() -> Self {
        Self {
            publisher: "Canonical".into(),
            offer: "ubuntu-24_04-lts".into(),
            sku: "server".into(),
            version: "latest".into(),
        }
    }
}

/// An image string that is not four non-empty `:`-separated parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image `{0}` is not publisher:offer:sku:version")]
pub struct ImageParseError(pub String);

impl FromStr for ImageReference {
    type Err = ImageParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split(':').collect::<Vec<_>>()[..] {
            [p, o, k, v] if [p, o, k, v].iter().all(|x| !x.is_empty()) => Ok(Self {
                publisher: p.into(),
                offer: o.into(),
                sku: k.into(),
                version: v.into(),
            }),
            _ => Err(ImageParseError(s.to_string())),
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.publisher, self.offer, self.sku, self.version
        )
    }
}

/// One scale set (`<cluster>-servers` or `<cluster>-agents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSetSpec {
    /// Name.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Subscription (the input hash is salted with the full id).
    pub subscription: String,
    /// Azure region.
    pub location: String,
    /// Tags (the input-hash tag is added by `body()`).
    pub tags: BTreeMap<String, String>,
    /// VM size, the sku name (`Standard_D2s_v5`).
    pub vm_size: String,
    /// Number of VMs.
    pub capacity: u32,
    /// OS image.
    pub image: ImageReference,
    /// Computer name prefix (at most 15 characters per the spec).
    pub computer_name_prefix: String,
    /// Admin user that gets the SSH key.
    pub admin_username: String,
    /// OpenSSH public key line.
    pub ssh_public_key: String,
    /// cloud-init text (plain; base64-encoded into `customData`). Never put secrets here:
    /// Azure keeps customData readable by the VM and its operators.
    pub cloud_init: String,
    /// Id of the node subnet.
    pub subnet_id: String,
    /// Load balancer backend pools the NICs join (the API pool for servers, none for agents).
    pub backend_pool_ids: Vec<String>,
    /// Give every VM its own Standard public IP.
    pub public_ip_per_vm: bool,
}

impl ScaleSetSpec {
    fn custom_data(&self) -> String {
        BASE64.encode(self.cloud_init.as_bytes())
    }

    fn ip_configuration(&self) -> Value {
        let mut props = Map::new();
        props.insert("primary".into(), json!(true));
        props.insert("subnet".into(), json!({ "id": self.subnet_id }));
        if !self.backend_pool_ids.is_empty() {
            let pools: Vec<Value> = self
                .backend_pool_ids
                .iter()
                .map(|id| json!({ "id": id }))
                .collect();
            props.insert("loadBalancerBackendAddressPools".into(), json!(pools));
        }
        if self.public_ip_per_vm {
            props.insert(
                "publicIPAddressConfiguration".into(),
                json!({
                    "name": "pip",
                    // Only settable in Flexible mode; Basic is retired.
                    "sku": { "name": "Standard", "tier": "Regional" },
                    "properties": { "idleTimeoutInMinutes": 15 }
                }),
            );
        }
        json!({ "name": "ipconfig", "properties": props })
    }
}

impl ArmResource for ScaleSetSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Compute/virtualMachineScaleSets";
    const API_VERSION: &'static str = api_versions::COMPUTE;

    fn id(&self, subscription: &str) -> String {
        top_level_id::<Self>(subscription, &self.resource_group, &self.name)
    }

    fn body(&self) -> Value {
        let custom_data = self.custom_data();
        let mut tags = self.tags.clone();
        tags.insert(
            TAG_INPUT_HASH.into(),
            input_hash(&self.id(&self.subscription), &[&custom_data]),
        );
        json!({
            "location": self.location,
            "tags": tags_value(&tags),
            "sku": { "name": self.vm_size, "tier": "Standard", "capacity": self.capacity },
            "properties": {
                "orchestrationMode": "Flexible",
                "platformFaultDomainCount": 1,
                "virtualMachineProfile": {
                    "storageProfile": {
                        "imageReference": {
                            "publisher": self.image.publisher,
                            "offer": self.image.offer,
                            "sku": self.image.sku,
                            "version": self.image.version
                        },
                        "osDisk": {
                            "createOption": "FromImage",
                            "caching": "ReadWrite",
                            "managedDisk": { "storageAccountType": "StandardSSD_LRS" }
                        }
                    },
                    "osProfile": {
                        "computerNamePrefix": self.computer_name_prefix,
                        "adminUsername": self.admin_username,
                        "customData": custom_data,
                        "linuxConfiguration": {
                            "disablePasswordAuthentication": true,
                            "ssh": { "publicKeys": [{
                                "path": format!("/home/{}/.ssh/authorized_keys", self.admin_username),
                                "keyData": self.ssh_public_key
                            }]}
                        }
                    },
                    "networkProfile": {
                        "networkApiVersion": NETWORK_API_VERSION,
                        "networkInterfaceConfigurations": [{
                            "name": format!("{}-nic", self.name),
                            "properties": {
                                "primary": true,
                                "ipConfigurations": [self.ip_configuration()]
                            }
                        }]
                    }
                }
            }
        })
    }

    fn write_only_paths() -> &'static [&'static str] {
        &["properties.virtualMachineProfile.osProfile.customData"]
    }
}

#[cfg(test)]
#[path = "vmss_tests.rs"]
mod tests;

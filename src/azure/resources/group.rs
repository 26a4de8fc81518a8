//! Resource group (`Microsoft.Resources/resourceGroups`, api 2024-11-01).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ArmResource, tags_value};
use crate::azure::{api_versions, ids};

/// The resource group that holds every resource of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroupSpec {
    /// Group name.
    pub name: String,
    /// Azure region, such as `westeurope`.
    pub location: String,
    /// Tags (ownership tags at least).
    pub tags: BTreeMap<String, String>,
}

impl ArmResource for ResourceGroupSpec {
    const RESOURCE_TYPE: &'static str = "Microsoft.Resources/resourceGroups";
    const API_VERSION: &'static str = api_versions::RESOURCES;

    fn id(&self, subscription: &str) -> String {
        ids::resource_group(subscription, &self.name)
    }

    fn body(&self) -> Value {
        json!({ "location": self.location, "tags": tags_value(&self.tags) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::owner_tags;
    use crate::azure::resources::spec_check::{SpecNote, assert_matches_examples};

    // Spec: specification/resources/resource-manager/Microsoft.Resources/resources/stable/
    //       2024-11-01/examples/CreateResourceGroup.json (api-version 2024-11-01, as pinned).
    #[test]
    fn body_follows_spec_example() {
        let rg = ResourceGroupSpec {
            name: "rg".into(),
            location: "westeurope".into(),
            tags: owner_tags("demo"),
        };
        assert_matches_examples(
            &rg.body(),
            &[("CreateResourceGroup.json", None)],
            ResourceGroupSpec::API_VERSION,
            &[SpecNote::TAGS],
        );
        assert_eq!(rg.id("s"), "/subscriptions/s/resourceGroups/rg");
    }
}

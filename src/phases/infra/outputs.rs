//! The `infra` phase's outputs in state, as a typed document: what later phases, `status`
//! and `down` read. Stable across no-op runs (no timings, no actions), so downstream
//! fingerprints only change when the cloud does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::ca::CaBundle;
use super::engine::{Action, Outcome};
use crate::azure::resources::ResourceKey;
use crate::config::Config;

/// What the phase recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InfraOutputs {
    Provisioned(Box<Provisioned>),
    /// `cloud.kind: static`: nothing was provisioned.
    Skipped {
        skipped: String,
    },
}

/// The resources of a provisioned cluster and what later phases need of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provisioned {
    pub subscription_id: String,
    pub resource_group: ResourceGroup,
    pub api_endpoint: ApiEndpoint,
    pub scale_sets: ScaleSets,
    /// `None` when `postgres.enabled` is false.
    pub postgres: Option<PostgresOutputs>,
    /// Every resource by its key (`vnet`, `servers`, `postgres-database:app`, ...).
    pub resources: BTreeMap<String, ResourceRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub name: String,
    /// Whether platform created it (and may delete it once empty).
    pub owned: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiEndpoint {
    /// The API load balancer's public IP (null until Azure assigned it).
    pub ip: Option<String>,
    /// The internal API load balancer's frontend in the node subnet: the address agents
    /// register through (null in a state written before it existed).
    #[serde(default)]
    pub private_ip: Option<String>,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleSets {
    pub servers: Option<String>,
    pub agents: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostgresOutputs {
    pub server: String,
    pub fqdn: Option<String>,
    pub admin_user: String,
    pub databases: Vec<String>,
    /// The CA certificates that sign the server's certificate (the Secrets' `ca.crt`); absent
    /// in a state written before platform recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundle>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub provisioning_state: Option<String>,
}

/// The k3s API port on the load balancer.
pub const API_PORT: u16 = 6443;

impl InfraOutputs {
    /// The outputs of a run from its outcomes and the Postgres server's CA bundle.
    pub fn from_outcomes(
        config: &Config,
        outcomes: &[Outcome],
        ca_bundle: Option<CaBundle>,
    ) -> InfraOutputs {
        let find = |key: &ResourceKey| outcomes.iter().find(|o| &o.key == key);
        let body_str = |key: ResourceKey, pointer: &str| {
            find(&key)
                .and_then(|o| o.body.as_ref())
                .and_then(|b| b.pointer(pointer))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let resources: BTreeMap<String, ResourceRecord> = outcomes
            .iter()
            .map(|o| {
                (
                    o.key.to_string(),
                    ResourceRecord {
                        id: o.id.clone(),
                        resource_type: o.resource_type.clone(),
                        provisioning_state: o.provisioning_state.clone(),
                    },
                )
            })
            .collect();
        let id_of = |key: ResourceKey| find(&key).map(|o| o.id.clone());
        InfraOutputs::Provisioned(Box::new(Provisioned {
            subscription_id: config.cloud.subscription_id.clone(),
            resource_group: ResourceGroup {
                name: config.cloud.resource_group.clone(),
                owned: find(&ResourceKey::ResourceGroup)
                    .is_some_and(|o| o.action != Action::NotManaged),
            },
            api_endpoint: ApiEndpoint {
                ip: body_str(ResourceKey::ApiPublicIp, "/properties/ipAddress"),
                private_ip: body_str(
                    ResourceKey::InternalLoadBalancer,
                    "/properties/frontendIPConfigurations/0/properties/privateIPAddress",
                ),
                port: API_PORT,
            },
            scale_sets: ScaleSets {
                servers: id_of(ResourceKey::Servers),
                agents: id_of(ResourceKey::Agents),
            },
            postgres: config.postgres.enabled.then(|| PostgresOutputs {
                server: config.postgres.server_name.clone(),
                fqdn: body_str(
                    ResourceKey::PostgresServer,
                    "/properties/fullyQualifiedDomainName",
                ),
                admin_user: config.postgres.admin_user.clone(),
                databases: config.postgres.databases.clone(),
                ca_bundle,
            }),
            resources,
        }))
    }

    /// Reads a phase record's outputs (`None` for anything else, such as an empty record).
    pub fn from_value(v: &serde_json::Value) -> Option<InfraOutputs> {
        serde_json::from_value(v.clone()).ok()
    }

    /// The document for the state file.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The Postgres server's CA bundle, when one was recorded.
    pub fn postgres_ca(&self) -> Option<&CaBundle> {
        match self {
            InfraOutputs::Provisioned(p) => p.postgres.as_ref()?.ca_bundle.as_ref(),
            InfraOutputs::Skipped { .. } => None,
        }
    }

    /// Every recorded resource id.
    pub fn resource_ids(&self) -> Vec<String> {
        match self {
            InfraOutputs::Provisioned(p) => p.resources.values().map(|r| r.id.clone()).collect(),
            InfraOutputs::Skipped { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_knows_the_key_of_the_ca_bundle_and_old_states_read() {
        let pg = PostgresOutputs {
            server: "demo-pg".into(),
            fqdn: Some("demo-pg.postgres.database.azure.com".into()),
            admin_user: "platformadmin".into(),
            databases: vec!["app".into()],
            ca_bundle: Some(super::super::ca::azure().unwrap()),
        };
        let v = serde_json::to_value(&pg).unwrap();
        // The runner drops exactly this key from the fingerprints of inventory and nodes.
        assert!(v.get(crate::runner::INFRA_CA_BUNDLE).is_some(), "{v}");
        // A state written before the field existed reads, without a bundle.
        let mut old = v.clone();
        old.as_object_mut()
            .unwrap()
            .shift_remove(crate::runner::INFRA_CA_BUNDLE);
        let read: PostgresOutputs = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(read.ca_bundle, None);
        assert_eq!(serde_json::to_value(&read).unwrap(), old);
    }
}

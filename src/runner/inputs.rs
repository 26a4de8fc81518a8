//! What each phase reads from the config, as typed views: the config part of a phase's
//! fingerprint. Every section is destructured without `..`, so a new config field does not
//! compile until someone decides here whether it changes a phase's result; a renamed field
//! cannot silently drop out of (or into) a fingerprint.

use serde::Serialize;
use std::path::PathBuf;

use crate::config::{Cloud, CloudKind, Config, Nodes, Pool, SshKey};
use crate::phase::Phase;

/// The `cloud` settings that change what a cloud phase produces.
#[derive(Serialize)]
struct CloudInputs<'a> {
    kind: CloudKind,
    subscription_id: &'a str,
    location: &'a str,
    resource_group: &'a str,
    arm_endpoint: &'a Option<String>,
    inventory: &'a Option<PathBuf>,
}

fn cloud(c: &Cloud) -> CloudInputs<'_> {
    let Cloud {
        kind,
        subscription_id,
        location,
        resource_group,
        arm_endpoint,
        inventory,
        // How we authenticate, how fast the local cloud runs, which CA it has and whether its
        // VMs are realized as hosts change no resource and no host list.
        credential: _,
        local_time_factor: _,
        local_ca: _,
        local_hosts: _,
    } = c;
    CloudInputs {
        kind: *kind,
        subscription_id,
        location,
        resource_group,
        arm_endpoint,
        inventory,
    }
}

/// The `nodes` settings that change Azure resources.
#[derive(Serialize)]
struct NodesInfraInputs<'a> {
    ssh_user: &'a str,
    ssh_key: &'a SshKey,
    servers: &'a Pool,
    agents: &'a Pool,
}

fn nodes_for_infra(n: &Nodes) -> NodesInfraInputs<'_> {
    let Nodes {
        ssh_user,
        ssh_key,
        servers,
        agents,
        // How nodes are reached over SSH changes no Azure resource.
        ssh_address: _,
        ssh_fanout: _,
        jump_host: _,
    } = n;
    NodesInfraInputs {
        ssh_user,
        ssh_key,
        servers,
        agents,
    }
}

#[derive(Serialize)]
struct InfraInputs<'a> {
    cluster: &'a str,
    cloud: CloudInputs<'a>,
    network: &'a crate::config::Network,
    nodes: NodesInfraInputs<'a>,
    postgres: &'a crate::config::Postgres,
}

#[derive(Serialize)]
struct InventoryInputs<'a> {
    cluster: &'a str,
    cloud: CloudInputs<'a>,
    nodes: &'a Nodes,
}

#[derive(Serialize)]
struct NodesInputs<'a> {
    cluster: &'a str,
    nodes: &'a Nodes,
    k3s: &'a crate::config::K3s,
}

#[derive(Serialize)]
struct GitopsInputs<'a> {
    cluster: &'a str,
    gitops: &'a crate::config::Gitops,
    postgres: &'a crate::config::Postgres,
    /// Not in `postgres` (infra does not read them): the Secrets this phase writes.
    postgres_secrets: &'a [crate::config::PgSecret],
}

/// What `phase` reads of `upstream`'s recorded outputs, for its fingerprint: all of them,
/// except that `infra` records the Postgres server's CA bundle (`postgres.ca_bundle` of its
/// outputs) for `gitops` alone. A new or rotated CA must not run `inventory` or `nodes`
/// again, and a state written before the bundle was recorded keeps their fingerprints.
pub fn upstream_outputs(
    phase: Phase,
    upstream: Phase,
    mut outputs: serde_json::Value,
) -> serde_json::Value {
    if upstream == Phase::Infra
        && phase != Phase::Gitops
        && let Some(pg) = outputs
            .get_mut("postgres")
            .and_then(serde_json::Value::as_object_mut)
    {
        // shift_remove keeps the other fields' order, which the hash sees.
        pg.shift_remove(INFRA_CA_BUNDLE);
    }
    outputs
}

/// The key of the CA bundle in `infra`'s `postgres` outputs.
pub const INFRA_CA_BUNDLE: &str = "ca_bundle";

/// The config a phase reads, as JSON (field order fixed by the structs above).
pub fn config_inputs(phase: Phase, c: &Config) -> serde_json::Value {
    let cluster = c.cluster.as_str();
    let v = match phase {
        Phase::Infra => serde_json::to_value(InfraInputs {
            cluster,
            cloud: cloud(&c.cloud),
            network: &c.network,
            nodes: nodes_for_infra(&c.nodes),
            postgres: &c.postgres,
        }),
        Phase::Inventory => serde_json::to_value(InventoryInputs {
            cluster,
            cloud: cloud(&c.cloud),
            nodes: &c.nodes,
        }),
        Phase::Nodes => serde_json::to_value(NodesInputs {
            cluster,
            nodes: &c.nodes,
            k3s: &c.k3s,
        }),
        Phase::Gitops => serde_json::to_value(GitopsInputs {
            cluster,
            gitops: &c.gitops,
            postgres: &c.postgres,
            postgres_secrets: &c.postgres.secrets,
        }),
    };
    // Serializing plain config structs cannot fail (no maps with non-string keys).
    v.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gitops_sees_the_postgres_ca_bundle_of_infra() {
        let without = serde_json::json!({"postgres": {"server": "demo-pg", "fqdn": "a", "databases": ["app"]}, "resources": {}});
        let mut with = without.clone();
        with["postgres"][INFRA_CA_BUNDLE] = serde_json::json!({"source": "azure"});
        for p in [Phase::Inventory, Phase::Nodes] {
            let seen = upstream_outputs(p, Phase::Infra, with.clone());
            // Byte for byte what a state without the bundle hashes to.
            assert_eq!(seen.to_string(), without.to_string(), "{p}");
        }
        assert_eq!(
            upstream_outputs(Phase::Gitops, Phase::Infra, with.clone()),
            with
        );
        // Other upstream phases and outputs without a server are left as they are.
        let skipped = serde_json::json!({"skipped": "cloud.kind static"});
        assert_eq!(
            upstream_outputs(Phase::Nodes, Phase::Infra, skipped.clone()),
            skipped
        );
        let no_pg = serde_json::json!({"postgres": null});
        assert_eq!(
            upstream_outputs(Phase::Nodes, Phase::Infra, no_pg.clone()),
            no_pg
        );
        assert_eq!(
            upstream_outputs(Phase::Nodes, Phase::Inventory, with.clone()),
            with
        );
    }

    #[test]
    fn postgres_secrets_change_only_the_gitops_inputs() {
        let base = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: flux, repository: 'https://g.example/f', flux: {sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}\n";
        let load = |t: &str| Config::from_str(t, std::path::Path::new("/tmp/cfg"), None).unwrap();
        let with = load(&format!(
            "{base}postgres:\n  secrets:\n    - {{namespace: a, database: app, name: db}}\n"
        ));
        let without = load(base);
        // An unset postgres.ca_bundle is not in the inputs: fingerprints from before it stay.
        assert!(
            config_inputs(Phase::Infra, &without)["postgres"]
                .get("ca_bundle")
                .is_none()
        );
        for p in [Phase::Infra, Phase::Inventory, Phase::Nodes] {
            assert_eq!(config_inputs(p, &with), config_inputs(p, &without), "{p}");
        }
        assert_ne!(
            config_inputs(Phase::Gitops, &with),
            config_inputs(Phase::Gitops, &without)
        );
    }
}

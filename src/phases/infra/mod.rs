//! The `infra` phase: the cluster's Azure resources, found or created over the dependency
//! graph, and `down`'s teardown. Resource bodies come from `crate::azure::resources`; this
//! module maps the config to them, runs the engine, and shapes the state outputs.

pub mod ca;
pub mod databases;
pub mod engine;
pub mod outputs;
pub mod secrets;
pub mod teardown;

use serde_json::Value;

use crate::azure::resources::cloud_init::{self, CloudInitParams, NodeRole};
use crate::azure::resources::infra::{NodePoolInput, PostgresInput};
use crate::azure::resources::{DesiredResource, InfraInput, ResourceKey, Secret, desired_infra};
use crate::cloud::CloudConn;
use crate::config::{Config, Pool};
use crate::error::Error;
use crate::output::Progress;
use crate::phase::Phase;
use engine::{Action, Outcome};
pub use outputs::InfraOutputs;

/// Placeholder values used by `plan` before `up` has generated the real secrets: bodies that
/// contain them compare as "update" against an existing resource, which is what `up` would do.
const PLACEHOLDER_KEY: &str = "ssh-ed25519 AAAA(generated-by-platform-up)";

fn pool(p: &Pool, role: NodeRole, cluster: &str) -> Result<NodePoolInput, Error> {
    let image = p
        .image
        .parse()
        .map_err(|e| Error::Usage(format!("nodes image: {e}")))?;
    let cloud_init = cloud_init::render(&CloudInitParams {
        cluster: cluster.to_owned(),
        role,
    })
    .map_err(|e| Error::Failed(format!("cannot render cloud-init: {e}")))?;
    Ok(NodePoolInput {
        count: p.count,
        vm_size: p.vm_size.clone(),
        image,
        public_ip: p.public_ip,
        cloud_init,
    })
}

/// The desired resources for a config. With `create_secrets` (up), the SSH key and the
/// Postgres password are generated on first use; without (plan), placeholders stand in.
pub fn desired(config: &Config, create_secrets: bool) -> Result<Vec<DesiredResource>, Error> {
    let key = secrets::ssh_public_key(config, create_secrets)?
        .unwrap_or_else(|| PLACEHOLDER_KEY.to_owned());
    let password = if config.postgres.enabled {
        secrets::postgres_password(config, create_secrets)?
    } else {
        None
    }
    .unwrap_or_else(|| Secret::new("placeholder-generated-by-platform-up"));
    let c = config;
    let input = InfraInput {
        cluster: c.cluster.clone(),
        subscription: c.cloud.subscription_id.clone(),
        location: c.cloud.location.clone(),
        resource_group: c.cloud.resource_group.clone(),
        address_space: c.network.address_space.to_string(),
        node_subnet: c.network.node_subnet.to_string(),
        postgres_subnet: c.network.postgres_subnet.to_string(),
        admin_cidrs: c
            .network
            .admin_cidrs
            .iter()
            .map(ToString::to_string)
            .collect(),
        ingress: c.network.ingress,
        servers: pool(&c.nodes.servers, NodeRole::Server, &c.cluster)?,
        agents: pool(&c.nodes.agents, NodeRole::Agent, &c.cluster)?,
        ssh_user: c.nodes.ssh_user.clone(),
        ssh_public_key: key,
        postgres: PostgresInput {
            enabled: c.postgres.enabled,
            version: c.postgres.version.clone(),
            sku_name: c.postgres.sku.clone(),
            tier: c.postgres.tier.clone(),
            storage_gb: c.postgres.storage_gb,
            databases: c.postgres.databases.clone(),
            admin_login: c.postgres.admin_user.clone(),
            password,
            server_name: c.postgres.server_name.clone(),
        },
    };
    desired_infra(&input).map_err(|e| Error::Usage(format!("infra: {e}")))
}

/// The server's databases `postgres.databases` no longer lists (left in place; see
/// `databases.rs`), for `plan` and `status`; `None` without a server.
pub async fn unlisted_databases(config: &Config) -> Result<Option<Vec<String>>, Error> {
    if !config.postgres.enabled || config.cloud.kind == crate::config::CloudKind::Static {
        return Ok(None);
    }
    let conn = CloudConn::connect(config).await?;
    let found = unlisted_databases_on(&conn.client, config).await;
    conn.close().await;
    found
}

/// [`unlisted_databases`] over a connection the caller already holds.
pub async fn unlisted_databases_on(
    client: &crate::azure::ArmClient,
    config: &Config,
) -> Result<Option<Vec<String>>, Error> {
    if !config.postgres.enabled || config.cloud.kind == crate::config::CloudKind::Static {
        return Ok(None);
    }
    let desired = desired(config, false)?;
    databases::unlisted(client, config, &desired)
        .await
        .map_err(Error::from)
}

/// `plan` for infra: one GET per resource, nothing written.
pub async fn plan(config: &Config) -> Result<Vec<Outcome>, Error> {
    observe(config).await.map(|(outcomes, _)| outcomes)
}

/// One GET per resource and the Postgres server's CA bundle, over one connection (a local
/// cloud's CA comes with it).
async fn observe(config: &Config) -> Result<(Vec<Outcome>, Option<ca::CaBundle>), Error> {
    let desired = desired(config, false)?;
    let conn = CloudConn::connect(config).await?;
    let bundle = ca::bundle(config, conn.local_ca.as_deref())?;
    let out = engine::plan(&conn.client, &config.cluster, &desired).await;
    conn.close().await;
    Ok((out, bundle))
}

/// The live check before a skip: one GET per resource (concurrently, as `plan` does). It
/// matches when every resource exists unchanged and the outputs built from what ARM returns
/// equal the recorded ones.
pub async fn verify(config: &Config, recorded: &Value) -> crate::runner::Verification {
    use crate::runner::Verification;
    let (outcomes, bundle) = match observe(config).await {
        Ok(o) => o,
        Err(e) => return Verification::Failed(e.to_string()),
    };
    if let Some(o) = outcomes.iter().find(|o| o.action == Action::Failed) {
        return Verification::Failed(format!(
            "{}: {}",
            o.key,
            o.error.as_deref().unwrap_or("failed")
        ));
    }
    let pending: Vec<String> = outcomes
        .iter()
        .filter(|o| o.action.writes())
        .map(|o| format!("{} {}", o.key, o.action))
        .collect();
    if !pending.is_empty() {
        return Verification::Differs(pending.join(", "));
    }
    let live = InfraOutputs::from_outcomes(config, &outcomes, bundle);
    match InfraOutputs::from_value(recorded) {
        Some(r) if r == live => Verification::Matches,
        // A state from before the bundle was recorded, a rotated local CA, an edited file.
        Some(r) if r.postgres_ca() != live.postgres_ca() => Verification::Differs(
            "the Postgres server's CA bundle is not the recorded one (changed, or not recorded yet)"
                .into(),
        ),
        _ => Verification::Differs("the recorded outputs differ from the cloud's".into()),
    }
}

/// Runs the phase: converges every resource and returns the outputs for state.
pub async fn run(config: &Config, progress: &Progress) -> Result<Value, Error> {
    let desired = desired(config, true)?;
    let conn = CloudConn::connect(config).await?;
    // Read before any write: a CA file that went bad fails the run with nothing touched.
    let bundle = ca::bundle(config, conn.local_ca.as_deref())?;
    let poll = conn.poll_interval(config);
    let server: Vec<_> = desired
        .iter()
        .filter(|d| d.key == ResourceKey::PostgresServer)
        .cloned()
        .collect();
    let outcomes = engine::apply(&conn.client, &config.cluster, desired, poll, progress).await;
    // Databases dropped from the config stay (they hold data): said, never deleted.
    if let Ok(Some(names)) = databases::unlisted(&conn.client, config, &server).await
        && !names.is_empty()
    {
        progress.warn(format!(
            "infra: {}",
            databases::message(&config.postgres.server_name, &names)
        ));
    }
    let stats = conn.client.stats();
    conn.close().await;
    summarize(&outcomes, progress);
    tracing::info!(
        requests = stats.requests(),
        puts = stats.put,
        retries = stats.retries,
        throttled = stats.throttled,
        "infra ARM requests"
    );
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.action.failed()).collect();
    let foreign: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.action == Action::NotManaged && o.key != ResourceKey::ResourceGroup)
        .collect();
    if !failed.is_empty() || !foreign.is_empty() {
        let mut lines: Vec<String> = failed
            .iter()
            .map(|o| {
                let hint = o
                    .hint
                    .as_ref()
                    .map(|h| format!("\n    hint: {h}"))
                    .unwrap_or_default();
                format!(
                    "{} ({}): {}{hint}",
                    o.key,
                    o.id,
                    o.error.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        lines.extend(foreign.iter().map(|o| {
            format!(
                "{} ({}): exists without the tags managed-by=platform, platform-cluster={}; platform never modifies resources it does not own (rename the cluster or remove that resource)",
                o.key, o.id, config.cluster
            )
        }));
        return Err(Error::Failed(format!(
            "{} of {} resources did not converge:\n  {}",
            lines.len(),
            outcomes.len(),
            lines.join("\n  ")
        )));
    }
    Ok(InfraOutputs::from_outcomes(config, &outcomes, bundle).to_value())
}

fn summarize(outcomes: &[Outcome], progress: &Progress) {
    let count = |a: Action| outcomes.iter().filter(|o| o.action == a).count();
    progress.info(format!(
        "{}: {} created, {} updated, {} unchanged, {} failed",
        Phase::Infra,
        count(Action::Create),
        count(Action::Update),
        count(Action::Unchanged) + count(Action::NotManaged),
        count(Action::Failed) + count(Action::Skipped),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rule set: whatever the config accepts, the resource layer builds. (It refused
    /// `postgres.server_name: 1pg`, which Azure and the config accept, only at `plan`/`up`.)
    #[test]
    fn every_config_that_validates_builds_its_resources() {
        let base = "cloud: {kind: local}\ngitops: {controller: none}\n";
        let cases = [
            "cluster: demo\npostgres: {server_name: 1pg}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\n",
            "cluster: abcdefghijklmnopqrstuvwx\nnetwork: {admin_cidrs: [203.0.113.7/32]}\n",
            "cluster: demo\npostgres: {databases: [_x, a_1, B2]}\nnetwork: {admin_cidrs: [10.1.0.0/16, 10.2.0.0/16]}\n",
            "cluster: demo\npostgres: {enabled: false}\nnetwork: {admin_cidrs: [192.0.2.0/24], postgres_subnet: 10.0.2.0/28}\n",
            "cluster: demo\nnodes: {servers: {count: 1}, agents: {count: 0}}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\n",
        ];
        let dir = tempfile::tempdir().unwrap();
        for case in cases {
            let text = format!("{case}{base}");
            let config = Config::from_str(&text, dir.path(), None)
                .unwrap_or_else(|e| panic!("config refused {case:?}: {e:?}"));
            desired(&config, false).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        }
    }
}

//! Databases on the Flexible Server that `postgres.databases` no longer lists. `up` never
//! drops one (it holds an application's data; dropping is a decision for a person, with
//! `az postgres flexible-server db delete` or SQL), so they are left in place and reported:
//! by `plan`, at the end of `infra` in `up`, and by `status`.

use serde_json::Value;

use crate::azure::ArmClient;
use crate::azure::resources::{DesiredResource, ResourceKey};
use crate::config::Config;

/// Databases every Flexible Server has (PostgreSQL's own and Azure's), never the user's.
const SYSTEM: &[&str] = &["postgres", "azure_maintenance", "azure_sys"];

/// The server's databases the config does not list (sorted), or `None` when there is no
/// server (Postgres disabled, or not created yet). One paged list call.
pub async fn unlisted(
    client: &ArmClient,
    config: &Config,
    desired: &[DesiredResource],
) -> Result<Option<Vec<String>>, crate::azure::ArmError> {
    let Some(server) = desired
        .iter()
        .find(|d| d.key == ResourceKey::PostgresServer)
    else {
        return Ok(None);
    };
    if client.get(&server.id, server.api_version).await?.is_none() {
        return Ok(None);
    }
    let listed = client
        .list(&format!("{}/databases", server.id), server.api_version)
        .await?;
    Ok(Some(extra(&listed, &config.postgres.databases)))
}

/// The names in `listed` (ARM's database objects) that are neither `wanted` nor a system
/// database.
fn extra(listed: &[Value], wanted: &[String]) -> Vec<String> {
    let mut names: Vec<String> = listed
        .iter()
        .filter_map(|d| d["name"].as_str())
        .filter(|n| !SYSTEM.contains(n) && !wanted.iter().any(|w| w == n))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// The line `plan`, `up` and `status` print for them.
pub fn message(server: &str, names: &[String]) -> String {
    format!(
        "database{} {} on {server} {} not in postgres.databases: left in place with {} data (platform never drops a database; drop it yourself if it is no longer needed)",
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" },
        if names.len() == 1 { "its" } else { "their" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_user_databases_the_config_dropped_are_reported() {
        let listed = [
            json!({"name": "postgres"}),
            json!({"name": "azure_maintenance"}),
            json!({"name": "azure_sys"}),
            json!({"name": "kong"}),
            json!({"name": "old"}),
            json!({"name": "atlas"}),
        ];
        let wanted = ["kong".to_owned()];
        assert_eq!(extra(&listed, &wanted), ["atlas", "old"]);
        assert_eq!(
            message("demo-pg", &["old".into()]),
            "database old on demo-pg is not in postgres.databases: left in place with its data (platform never drops a database; drop it yourself if it is no longer needed)"
        );
    }
}

//! `down`: delete every resource tagged for this cluster, in reverse dependency order, then
//! the resource group if platform created it and nothing else is left in it.
//!
//! Resources are found by listing the resource group (so a crashed `up` that never recorded
//! an id is cleaned up too) joined with the ids in state. A resource without both ownership
//! tags is never touched. A tagged resource of a type platform does not know (no row in
//! [`api_versions::TABLE`]: it never creates it, and has no api-version the type's provider
//! would accept) is reported as left in place, never sent a guessed request. Deletes within
//! one tier run concurrently.

use serde::Serialize;
use std::collections::BTreeSet;

use crate::azure::{ArmClient, api_versions, ids};
use crate::config::Config;
use crate::error::Error;
use crate::output::Progress;

use super::engine::owned_by;

/// What `down` did.
#[derive(Debug, Default, Serialize)]
pub struct Teardown {
    pub deleted: Vec<String>,
    /// Resources carrying this cluster's tags whose type platform does not delete.
    pub left_in_place: Vec<LeftInPlace>,
    /// Other resources still in the group after the deletes (not ours), left alone.
    pub left_alone: Vec<String>,
    pub resource_group_deleted: bool,
}

/// A tagged resource `down` did not delete, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftInPlace {
    pub id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub reason: String,
}

impl LeftInPlace {
    fn unknown_type(id: &str, resource_type: &str) -> Self {
        Self {
            id: id.to_owned(),
            resource_type: resource_type.to_owned(),
            reason: format!(
                "platform never creates {resource_type}, so it has no api-version for it and leaves it in place; delete it yourself if it is no longer needed"
            ),
        }
    }
}

/// Deletion order: lower tiers first. Scale sets and Postgres go before the network they
/// sit in; disks after the VMs they may be attached to; public IPs last, after everything
/// that references them.
fn tier(resource_type: &str) -> u8 {
    match resource_type.to_ascii_lowercase().as_str() {
        "microsoft.compute/virtualmachinescalesets"
        | "microsoft.dbforpostgresql/flexibleservers" => 0,
        "microsoft.compute/virtualmachines" => 1,
        "microsoft.network/virtualnetworks" | "microsoft.network/privatednszones" => 3,
        "microsoft.network/natgateways" | "microsoft.network/networksecuritygroups" => 4,
        "microsoft.network/publicipaddresses" => 5,
        // Load balancers, NICs, disks, DNS zone links, databases, subnets.
        _ => 2,
    }
}

/// A delete target: (tier, type, id, api-version).
type Target = (u8, String, String, &'static str);

/// Deletes this cluster's resources. `recorded` are ids from state (may already be gone).
pub async fn run(
    client: &ArmClient,
    config: &Config,
    recorded: &[String],
    progress: &Progress,
) -> Result<Teardown, Error> {
    let sub = client.subscription_id().to_owned();
    let rg_id = ids::resource_group(&sub, &config.cloud.resource_group);
    let mut out = Teardown::default();
    let Some(rg) = client.get(&rg_id, api_versions::RESOURCES).await? else {
        progress.info(format!(
            "resource group {} does not exist: nothing to delete",
            config.cloud.resource_group
        ));
        return Ok(out);
    };
    let listed = client
        .list(&format!("{rg_id}/resources"), api_versions::RESOURCES)
        .await?;
    let mut targets: BTreeSet<Target> = BTreeSet::new();
    let mut consider = |t: &str, id: &str, out: &mut Teardown| {
        let seen = |known: &str| known.eq_ignore_ascii_case(id);
        if targets.iter().any(|(_, _, i, _)| seen(i))
            || out.left_in_place.iter().any(|l| seen(&l.id))
        {
            return;
        }
        match api_versions::for_type(t) {
            Some(version) => {
                targets.insert((tier(t), t.to_owned(), id.to_owned(), version));
            }
            None => {
                let left = LeftInPlace::unknown_type(id, t);
                progress.warn(format!("left in place: {id}: {}", left.reason));
                out.left_in_place.push(left);
            }
        }
    };
    for r in &listed {
        let (Some(id), Some(t)) = (r["id"].as_str(), r["type"].as_str()) else {
            continue;
        };
        if owned_by(r, &config.cluster) {
            consider(t, id, &mut out);
        }
    }
    // Ids from state that the listing missed (child types are not always listed). They were
    // created with our tags by this state's `up`, so they are ours by construction.
    for id in recorded {
        if id.eq_ignore_ascii_case(&rg_id) {
            continue;
        }
        if let Some(t) = ids::type_of(id) {
            consider(&t, id, &mut out);
        }
    }
    for level in 0..=5u8 {
        let batch: Vec<&Target> = targets.iter().filter(|(t, ..)| *t == level).collect();
        let deletes = batch.iter().map(|(_, _, id, version)| {
            let client = client.clone();
            let progress = progress.clone();
            async move {
                let step = progress.step(ids::name_of(id), "deleting");
                match client.delete(id, version).await {
                    Ok(()) => {
                        step.done("deleted");
                        Ok(id.clone())
                    }
                    Err(e) => {
                        step.failed(&e.to_string());
                        Err(Error::Arm(e))
                    }
                }
            }
        });
        for r in futures::future::join_all(deletes).await {
            out.deleted.push(r?);
        }
    }
    // What is left is ours of an unknown type, or not ours (what went with what we deleted,
    // like a scale set's VMs, is gone).
    let rest = client
        .list(&format!("{rg_id}/resources"), api_versions::RESOURCES)
        .await?;
    out.left_alone = rest
        .iter()
        .filter_map(|r| r["id"].as_str())
        .filter(|id| {
            !out.left_in_place
                .iter()
                .any(|l| l.id.eq_ignore_ascii_case(id))
        })
        .map(str::to_owned)
        .collect();
    if owned_by(&rg, &config.cluster) {
        if rest.is_empty() {
            let step = progress.step(&config.cloud.resource_group, "deleting resource group");
            client.delete(&rg_id, api_versions::RESOURCES).await?;
            step.done("deleted");
            out.resource_group_deleted = true;
        } else {
            let names: Vec<&str> = rest.iter().filter_map(|r| r["name"].as_str()).collect();
            progress.warn(format!(
                "kept resource group {}: it still holds resources platform does not delete: {}",
                config.cloud.resource_group,
                names.join(", ")
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependents_are_deleted_before_what_they_reference() {
        let order = |t: &str| tier(t);
        assert!(
            order("Microsoft.Compute/virtualMachineScaleSets")
                < order("Microsoft.Network/loadBalancers")
        );
        assert!(
            order("Microsoft.Network/loadBalancers") < order("Microsoft.Network/virtualNetworks")
        );
        assert!(
            order("Microsoft.Network/virtualNetworks")
                < order("Microsoft.Network/networkSecurityGroups")
        );
        assert!(
            order("Microsoft.Network/natGateways") < order("Microsoft.Network/publicIPAddresses")
        );
        assert!(
            order("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
                < order("Microsoft.Network/privateDnsZones")
        );
        assert!(
            order("Microsoft.DBforPostgreSQL/flexibleServers")
                < order("Microsoft.Network/virtualNetworks")
        );
    }
}

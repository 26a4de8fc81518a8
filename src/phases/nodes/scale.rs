//! Scaling in, which the `nodes` phase owns: `infra` never lowers a scale set's capacity
//! (Azure would pick the VMs that go, drained or not). When `nodes.agents.count` is below the
//! agents that exist, this chooses the surplus agents, newest first, drains them and deletes
//! their Node objects through the API, then deletes exactly those VMs (a Flexible scale set
//! lowers its capacity when one of its VMs is deleted) and rewrites the inventory. Fewer
//! servers than exist is refused: removing an etcd member is not a scale-in.

use futures::StreamExt;
use serde_json::Value;

use crate::azure::api_versions;
use crate::cloud::CloudConn;
use crate::config::{CloudKind, Config};
use crate::error::Error;
use crate::output::Progress;
use crate::phases::inventory::arm::vm_list_path;
use crate::phases::inventory::{Role, node_name_of};

/// One VM of a scale set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    pub name: String,
    pub id: String,
    /// The Node name (the computer name, made a DNS label).
    pub node: String,
    /// `properties.timeCreated` (RFC 3339, sorts as text).
    pub created: String,
}

fn vm(v: &Value) -> Vm {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let name = s("/name").to_owned();
    let computer = s("/properties/osProfile/computerName");
    Vm {
        node: node_name_of(if computer.is_empty() { &name } else { computer }),
        id: s("/id").to_owned(),
        created: s("/properties/timeCreated").to_owned(),
        name,
    }
}

/// The `surplus` VMs to remove, newest first (by creation time, then name).
pub fn choose(mut vms: Vec<Vm>, keep: usize) -> Vec<Vm> {
    vms.sort_by(|a, b| (&b.created, &b.name).cmp(&(&a.created, &a.name)));
    let surplus = vms.len().saturating_sub(keep);
    vms.truncate(surplus);
    vms
}

/// Scales the agents in to `nodes.agents.count` and refuses fewer servers than exist.
/// Returns whether any VM was removed (the inventory must then be rewritten).
pub async fn scale_in(config: &Config, progress: &Progress) -> Result<bool, Error> {
    if config.cloud.kind == CloudKind::Static {
        return Ok(false);
    }
    let conn = CloudConn::connect(config).await?;
    let list = |role| {
        let client = conn.client.clone();
        let path = vm_list_path(config, role);
        async move { client.list(&path, api_versions::COMPUTE).await }
    };
    let servers = list(Role::Server).await?;
    let want_servers = config.nodes.servers.count as usize;
    if servers.len() > want_servers {
        return Err(Error::Usage(format!(
            "nodes.servers.count: {want_servers} is fewer than the {} servers that exist; lowering the server count is refused: each server is an etcd member, and removing one is a membership change (`k3s etcd-snapshot`, then `kubectl delete node` and removing the VM by hand), not a scale-in. Set it back to {}",
            servers.len(),
            servers.len()
        )));
    }
    let agents: Vec<Vm> = list(Role::Agent).await?.iter().map(vm).collect();
    let going = choose(agents, config.nodes.agents.count as usize);
    if going.is_empty() {
        return Ok(false);
    }
    let names: Vec<&str> = going.iter().map(|v| v.name.as_str()).collect();
    let step = progress.step(
        "nodes",
        &format!("scaling agents in: draining {}", names.join(", ")),
    );
    // A cluster whose k3s never ran has no Node to drain.
    if config.paths().kubeconfig().is_file() {
        let client = super::outputs::client(config).await?;
        let timeout = std::time::Duration::from_secs(config.k3s.start_timeout);
        for v in &going {
            crate::kube::drain::drain(&client, &v.node, timeout)
                .await
                .map_err(super::outputs::kube_err)?;
            crate::kube::drain::delete(&client, &v.node)
                .await
                .map_err(super::outputs::kube_err)?;
        }
    }
    step.message(&format!("deleting VMs {}", names.join(", ")));
    let results: Vec<Result<(), crate::azure::ArmError>> = futures::stream::iter(&going)
        .map(|v| {
            let client = conn.client.clone();
            async move { client.delete(&v.id, api_versions::COMPUTE).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    conn.close().await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        step.failed("deleting VMs failed");
        return Err(Error::Arm(e));
    }
    step.done(&format!(
        "scaled agents in: {} drained, Node deleted, VM deleted",
        names.join(", ")
    ));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, created: &str) -> Vm {
        Vm {
            name: name.into(),
            id: format!("/x/{name}"),
            node: name.into(),
            created: created.into(),
        }
    }

    #[test]
    fn the_newest_agents_go_first() {
        let vms = vec![
            v("a_1", "2026-01-01T00:00:00Z"),
            v("a_3", "2026-01-03T00:00:00Z"),
            v("a_2", "2026-01-02T00:00:00Z"),
            v("a_4", "2026-01-02T00:00:00Z"),
        ];
        let names =
            |k| -> Vec<String> { choose(vms.clone(), k).into_iter().map(|v| v.name).collect() };
        assert_eq!(names(4), Vec::<String>::new());
        assert_eq!(names(9), Vec::<String>::new());
        assert_eq!(names(3), ["a_3"]);
        assert_eq!(
            names(1),
            ["a_3", "a_4", "a_2"],
            "same time: by name, last first"
        );
        let body = serde_json::json!({"name": "c-agents_ab", "id": "/i",
            "properties": {"osProfile": {"computerName": "c-a1B2"}, "timeCreated": "t"}});
        assert_eq!(vm(&body).node, "c-a1b2");
    }
}

//! Reaching the cluster's hosts: the inventory the `inventory` phase wrote
//! (`inventories/<cluster>/hosts.json`) and the SSH options from the config, shared by the
//! `nodes` phase, `platform run` and `platform play`.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::phases::inventory::targets::{self, InventoryHost};
use crate::ssh::host::{ExecOutput, ExecRequest, Host, HostError};
use crate::ssh::{SshHost, SshOptions};

/// Where the inventory phase writes the cluster's dynamic inventory.
pub fn inventory_path(config: &Config) -> PathBuf {
    config.paths().inventory_json()
}

/// Reads the cluster's targets.
pub fn load_targets(config: &Config) -> Result<Vec<InventoryHost>> {
    let path = inventory_path(config);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "no inventory at {}: run `platform up` (the inventory phase writes it) first",
            path.display()
        )),
        _ => Error::io("cannot read", &path, e),
    })?;
    targets::from_inventory_json(&text)
        .map_err(|e| Error::Failed(format!("{}: {e}", path.display())))
}

/// SSH options from the config: the cluster's key, known_hosts, jump host.
pub fn ssh_options(config: &Config) -> SshOptions {
    let paths = config.paths();
    let mut opts = SshOptions::new(
        paths.known_hosts(),
        paths.ssh_control_dir(),
        &config.nodes.ssh_user,
    );
    let key = config.ssh_private_key();
    // No key yet (nothing provisioned): leave the choice to ssh (agent, ~/.ssh/config).
    opts.keyfile = key.is_file().then_some(key);
    opts.jump_host = config.nodes.jump_host.clone();
    opts
}

/// Every host's variables (`_meta.hostvars`) from the cluster's inventory.
pub fn load_hostvars(config: &Config) -> Result<serde_json::Map<String, serde_json::Value>> {
    let path = inventory_path(config);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Failed(format!("{}: {e}", path.display())))?;
    Ok(v["_meta"]["hostvars"]
        .as_object()
        .cloned()
        .unwrap_or_default())
}

/// A host that could not be connected to: every command reports it unreachable, so the
/// playbook engine counts it as Ansible does while the other hosts go on.
#[derive(Debug)]
pub struct UnreachableHost {
    name: String,
    message: String,
}

impl UnreachableHost {
    /// A host named `name` that answers every command with `message`.
    pub fn new(name: &str, message: &str) -> Self {
        Self {
            name: name.to_owned(),
            message: message.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl Host for UnreachableHost {
    fn name(&self) -> &str {
        &self.name
    }
    async fn exec(&self, _req: ExecRequest<'_>) -> std::result::Result<ExecOutput, HostError> {
        Err(HostError::Unreachable {
            host: self.name.clone(),
            message: self.message.clone(),
        })
    }
}

/// Connects to `targets` concurrently (at most `limit` at once) and returns playbook targets
/// with the inventory's host variables; a host that cannot be reached becomes an
/// [`UnreachableHost`] instead of failing the others.
pub async fn connect_playbook_targets(
    config: &Config,
    targets: Vec<InventoryHost>,
    opts: &SshOptions,
    limit: usize,
) -> Result<Vec<crate::playbook::Target>> {
    let hostvars = load_hostvars(config)?;
    let connected = futures::stream::iter(targets)
        .map(|t| {
            let opts = opts.clone();
            async move {
                let host: Arc<dyn Host> = match SshHost::connect(&t.target, &opts).await {
                    Ok(h) => Arc::new(h),
                    Err(e) => Arc::new(UnreachableHost {
                        name: t.name().to_owned(),
                        message: e.to_string(),
                    }),
                };
                (t, host)
            }
        })
        .buffer_unordered(limit.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut out: Vec<crate::playbook::Target> = connected
        .into_iter()
        .map(|(t, host)| crate::playbook::Target {
            host,
            groups: t.groups.iter().filter(|g| *g != "all").cloned().collect(),
            vars: hostvars
                .get(t.name())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| a.host.name().cmp(b.host.name()));
    Ok(out)
}

/// The targets matching an Ansible pattern (`all` when none), never empty.
pub fn select_targets(config: &Config, pattern: Option<&str>) -> Result<Vec<InventoryHost>> {
    let all = load_targets(config)?;
    let pattern = pattern.unwrap_or("all");
    let chosen = targets::select(&all, pattern).map_err(|e| Error::Usage(e.to_string()))?;
    if chosen.is_empty() {
        return Err(Error::Usage(format!(
            "no host matches {pattern:?} in {}",
            inventory_path(config).display()
        )));
    }
    Ok(chosen.into_iter().cloned().collect())
}

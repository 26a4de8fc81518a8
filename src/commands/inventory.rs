//! `platform inventory`: the cluster's hosts as an Ansible inventory.
//!
//! `--list` and `--host NAME` follow Ansible's dynamic-inventory script protocol: JSON on
//! stdout and nothing else, `_meta.hostvars` in `--list`, `{}` for a host it does not know.
//! Without them, `--format yaml|json|ini` renders the inventory for people. The hosts come
//! from the state (the last `inventory` phase) unless `--refresh` asks the cloud again;
//! neither writes anything, so this command takes no lock.

use crate::cli::InventoryFormat;
use crate::config::{CloudKind, Config};
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use crate::phase::Phase;
use crate::phases::inventory::{self, Inventory, render};

/// The command's flags.
#[derive(Debug)]
pub struct Args {
    pub list: bool,
    pub host: Option<String>,
    pub format: InventoryFormat,
    pub refresh: bool,
}

/// The inventory to show: fresh from the source, or the one the last phase run recorded.
async fn load(config: &Config, refresh: bool) -> Result<Inventory> {
    if refresh {
        return Ok(inventory::collect(config).await?.0);
    }
    let state = super::read_state(config)?;
    super::check_cluster(config, &state, &config.state_dir)?;
    if let Some(inv) = state
        .phase(Phase::Inventory)
        .and_then(|r| Inventory::from_outputs(&r.outputs))
    {
        return Ok(inv);
    }
    // A static file is as cheap to read as the state, so it needs no prior `up`.
    if config.cloud.kind == CloudKind::Static {
        return inventory::static_file::load(config);
    }
    Err(Error::Failed(format!(
        "no inventory of cluster {:?} in the state yet; run `platform up` (at least `--only inventory`), or query the cloud with `platform inventory --refresh`",
        config.cluster
    )))
}

/// Runs the command.
pub async fn run(config: &Config, args: &Args, printer: &Printer) -> Result<()> {
    let inv = load(config, args.refresh).await?;
    if args.list {
        printer.data(&render::json_text(&render::dynamic(&inv)));
        return Ok(());
    }
    if let Some(name) = &args.host {
        printer.data(&render::json_text(&render::host(&inv, name)));
        return Ok(());
    }
    for h in inv.excluded() {
        printer.warn(&format!(
            "{} ({}) is left out: {}",
            h.name,
            h.role.name(),
            h.excluded.as_deref().unwrap_or_default()
        ));
    }
    match (printer.format(), args.format) {
        (OutputFormat::Json, _) => printer.json(&inv.to_outputs()),
        (OutputFormat::Text, InventoryFormat::Yaml) => printer.data(&render::yaml(&inv)),
        (OutputFormat::Text, InventoryFormat::Json) => {
            printer.data(&render::json_text(&render::dynamic(&inv)))
        }
        (OutputFormat::Text, InventoryFormat::Ini) => printer.data(&render::ini(&inv)),
    }
    Ok(())
}

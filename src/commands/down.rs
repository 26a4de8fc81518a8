//! `platform down`: delete what this cluster created, after confirmation.

use crate::cloud::CloudConn;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use crate::phase::Phase;
use crate::phases::infra::teardown;
use crate::state::{State, StateLock};

pub async fn run(config: &Config, yes: bool, printer: &Printer) -> Result<()> {
    if !yes {
        confirm(config, printer)?;
    }
    if config.cloud.kind == crate::config::CloudKind::Static {
        return down_static(config, printer).await;
    }
    crate::cloud::CloudConn::preflight(config, &[Phase::Infra]).await?;
    let lock = StateLock::acquire(&config.state_dir, "platform down")?;
    // No state does not mean nothing exists (a deleted state directory): the resource
    // group is listed either way, and only resources tagged for this cluster are deleted.
    let state = State::load(&config.state_dir)?.unwrap_or_else(|| State::new(&config.cluster));
    super::check_cluster(config, &state, &config.state_dir)?;
    let recorded = state
        .phase(Phase::Infra)
        .map(|r| {
            crate::phases::infra::InfraOutputs::from_value(&r.outputs)
                .map(|o| o.resource_ids())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let conn = CloudConn::connect(config).await?;
    let (progress, monitor) = crate::output::progress::start(printer);
    let result = teardown::run(&conn.client, config, &recorded, &progress).await;
    monitor.finish();
    conn.close().await;
    let done = result?;
    // The cluster's own local cloud has nothing left to serve: stop it.
    if config.cloud.kind == crate::config::CloudKind::Local
        && config.cloud.arm_endpoint.is_none()
        && done.left_alone.is_empty()
        && done.left_in_place.is_empty()
    {
        crate::cloud::daemon::stop(&crate::cloud::local_data_dir(config))?;
    }
    // The VMs are gone, and a re-created one at the same address has a new host key: forget
    // the deleted hosts' pinned keys (only theirs), or the next `up` would refuse the new
    // hosts as "host key CHANGED".
    let forgotten = forget_deleted_hosts(config, &state).await?;
    // Everything the phases made is gone: forget their records so status shows pending and
    // a later `up` starts from scratch. Generated secrets are kept for a re-created cluster.
    let mut state = state;
    state.phases.clear();
    state.save(&config.state_dir, &lock)?;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::to_value(&done).unwrap_or_default()),
        OutputFormat::Text => printer.info(&format!(
            "down: deleted {} resources{}{}{}{}",
            done.deleted.len(),
            if done.resource_group_deleted {
                " and the resource group"
            } else {
                ""
            },
            if done.left_in_place.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = done
                    .left_in_place
                    .iter()
                    .map(|l| {
                        format!(
                            "{} ({})",
                            crate::azure::ids::name_of(&l.id),
                            l.resource_type
                        )
                    })
                    .collect();
                format!(
                    "; left {} tagged resources of types platform does not delete in place: {}",
                    names.len(),
                    names.join(", ")
                )
            },
            if done.left_alone.is_empty() {
                String::new()
            } else {
                format!(
                    "; left {} resources platform does not own",
                    done.left_alone.len()
                )
            },
            if forgotten == 0 {
                String::new()
            } else {
                format!("; forgot the pinned host keys of {forgotten} deleted VMs")
            }
        )),
    }
    Ok(())
}

/// Removes the known_hosts entries of the hosts the inventory recorded (the VMs `down` just
/// deleted); how many hosts had one.
async fn forget_deleted_hosts(config: &Config, state: &State) -> Result<usize> {
    let Some(inv) = state
        .phase(Phase::Inventory)
        .and_then(|r| crate::phases::inventory::Inventory::from_outputs(&r.outputs))
    else {
        return Ok(0);
    };
    let file = config.paths().known_hosts();
    let mut n = 0;
    for h in &inv.hosts {
        let Some(address) = &h.ssh_address else {
            continue;
        };
        let port = h
            .vars
            .get("ansible_port")
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(22);
        let removed = crate::ssh::known_hosts::forget_host(&file, address, port)
            .await
            .map_err(|e| Error::io("cannot update", &file, e))?;
        n += usize::from(removed);
    }
    Ok(n)
}

/// Asks for the cluster name on the terminal; refuses without a terminal.
fn confirm(config: &Config, printer: &Printer) -> Result<()> {
    let cluster = &config.cluster;
    let what = if config.cloud.kind == crate::config::CloudKind::Static {
        "removes k3s and its data from every host of"
    } else {
        "deletes every resource of"
    };
    let question = format!("This {what} cluster {cluster:?}. Type the cluster name to confirm: ");
    let answer = printer.prompt(&question).ok_or_else(|| {
        Error::Usage(
            "`platform down` deletes the cluster; pass --yes to confirm when not on a terminal"
                .into(),
        )
    })?;
    let line = answer.map_err(|e| Error::Failed(format!("cannot read confirmation: {e}")))?;
    if line.trim() != cluster {
        return Err(Error::Usage(
            "confirmation did not match; nothing deleted".into(),
        ));
    }
    Ok(())
}

/// Bring-your-own hosts outlive the cluster: take k3s off them and forget the phases.
async fn down_static(config: &Config, printer: &Printer) -> Result<()> {
    let lock = StateLock::acquire(&config.state_dir, "platform down")?;
    let state = State::load(&config.state_dir)?.unwrap_or_else(|| State::new(&config.cluster));
    super::check_cluster(config, &state, &config.state_dir)?;
    let (progress, monitor) = crate::output::progress::start(printer);
    let result = crate::phases::nodes::uninstall(config, &progress).await;
    monitor.finish();
    let (hosts, changed) = result?;
    let mut state = state;
    state.phases.clear();
    state.save(&config.state_dir, &lock)?;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "uninstalled": {"hosts": hosts, "changed": changed}
        })),
        OutputFormat::Text => printer.info(&format!(
            "down: removed k3s from {hosts} hosts ({changed} changes); the hosts are yours and stay"
        )),
    }
    Ok(())
}

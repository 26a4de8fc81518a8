//! The `nodes` phase: reach every host of the inventory over SSH (one multiplexed connection
//! each, host keys pinned) and prepare it with the embedded `playbooks/prepare.yml`. Installing
//! k3s is the next step of this phase and comes with the k3s issue; until then the phase
//! ends with "not built yet" after preparing the hosts, so `up` says honestly where it stops.

pub mod connect;
pub mod release;

use std::sync::Arc;

use crate::config::{CloudKind, Config};
use crate::error::Error;
use crate::output::Progress;
use crate::phase::Phase;
use crate::playbook::{self, Event, RunOptions, Status};
use connect::{connect_playbook_targets, select_targets, ssh_options};

/// Runs `prepare.yml` on every host; fails naming the hosts that failed.
pub async fn run(config: &Config, progress: &Progress) -> Result<serde_json::Value, Error> {
    if config.cloud.kind == CloudKind::Local
        && config.cloud.arm_endpoint.is_none()
        && !crate::cloud::local_hosts(config)?
    {
        // Nothing listens on the addresses of record-only VMs: say so instead of waiting
        // for SSH to time out on every host.
        return Err(Error::Unmet {
            message: "the local cloud's VMs are records only (cloud.local_hosts is false, or this is not root with openssh-server, sudo and iproute2); the nodes phase needs real hosts: set cloud.local_hosts: true and run as root".into(),
            explicit: false,
        });
    }
    let targets = select_targets(config, None)?;
    let count = targets.len();
    let opts = ssh_options(config);
    let step = progress.step("nodes", &format!("connecting to {count} hosts"));
    let hosts = connect_playbook_targets(config, targets, &opts, config.nodes.ssh_fanout).await?;
    step.message(&format!("prepare.yml on {count} hosts"));
    let p = progress.clone();
    let options = RunOptions {
        forks: config.nodes.ssh_fanout,
        on_event: Some(Arc::new(move |e: &Event| {
            if let Event::Task(r) = e
                && matches!(r.status, Status::Failed | Status::Unreachable)
                && !r.ignored
            {
                p.warn(format!("{}: {}: {}", r.host, r.task, r.summary(10)));
            }
        })),
        ..RunOptions::default()
    };
    let report = playbook::run_playbook(&playbook::prepare(), &hosts, &options).await?;
    drop(hosts);
    if !report.success() {
        step.failed("prepare.yml failed");
        return Err(Error::Failed(format!(
            "prepare.yml failed on some hosts:\n{}",
            report.recap()
        )));
    }
    step.done(&format!(
        "prepared {count} hosts ({} changes)",
        report.changed()
    ));
    Err(Error::NotBuilt {
        phase: Phase::Nodes,
        what: "the hosts are prepared (prepare.yml); installing k3s on them comes with the k3s issue",
    })
}

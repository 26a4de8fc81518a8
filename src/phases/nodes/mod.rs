//! The `nodes` phase: reach every host of the inventory over SSH (one multiplexed connection
//! each, host keys pinned), prepare it with the embedded `playbooks/prepare.yml`, install k3s
//! in k3s's order with the embedded k3s playbooks (`install`), write the cluster's kubeconfig
//! and wait through the Kubernetes API until every host is a Ready node at the version.

pub mod connect;
pub mod install;
pub mod outputs;
pub mod plan;
pub mod playbooks;
pub mod release;
pub mod scale;
pub mod token;

use std::sync::Arc;

use crate::config::{CloudKind, Config};
use crate::error::Error;
use crate::output::Progress;
use crate::phase::Phase;
use crate::playbook::{self, Event, RunOptions, Status};
use crate::state::State;
use connect::{connect_playbook_targets, select_targets, ssh_options};
use outputs::NodesOutputs;

/// Runs `prepare.yml` and the k3s install on every host, then waits for the nodes; fails
/// naming the hosts that failed.
pub async fn run(
    config: &Config,
    state: &State,
    progress: &Progress,
) -> Result<serde_json::Value, Error> {
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
    if scale::scale_in(config, progress).await? {
        // The removed VMs leave the inventory the later stages and commands read.
        crate::phases::inventory::run_phase(config, progress).await?;
    }
    let targets = select_targets(config, None)?;
    // The version and the binary are settled before any host is touched: a refused downgrade
    // or a bad checksum on the controller stops here.
    let recorded = |p: Phase| {
        state
            .phase(p)
            .map(|r| r.outputs.clone())
            .unwrap_or_default()
    };
    let previous = plan::Previous::from_outputs(&recorded(Phase::Nodes));
    let tag = plan::version(config, &previous).await?;
    let (binary_src, images_src) = plan::sources(config, &tag).await?;
    let count = targets.len();
    let opts = ssh_options(config);
    let step = progress.step("nodes", &format!("connecting to {count} hosts"));
    let hosts = connect_playbook_targets(config, targets, &opts, config.nodes.ssh_fanout).await?;
    step.message(&format!("prepare.yml on {count} hosts"));
    let options = RunOptions {
        forks: config.nodes.ssh_fanout,
        on_event: Some(warn_failures(progress)),
        ..RunOptions::default()
    };
    let report = playbook::run_playbook(&playbook::prepare(), &hosts, &options).await?;
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
    let infra = recorded(Phase::Infra);
    let roles = plan::roles(&hosts, &previous)?;
    let pg_password = crate::phases::infra::secrets::postgres_password(config, false)?;
    let install_plan = plan::Plan {
        addresses: plan::addresses(config, &infra, &hosts, &roles)?,
        datastore_endpoint: plan::datastore_endpoint(config, &infra, pg_password.as_ref())?,
        datastore_ca: plan::datastore_ca(config, &infra)?,
        tag,
        binary_src,
        images_src,
    };
    let node_names: std::collections::BTreeMap<String, String> = hosts
        .iter()
        .map(|t| {
            let host = t.host.name().to_owned();
            let node = t
                .vars
                .get("node_name")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| host.clone(), str::to_owned);
            (host, node)
        })
        .collect();
    let node_name = |h: &str| node_names.get(h).cloned().unwrap_or_else(|| h.to_owned());
    let mode = match &previous.version {
        Some(from) if *from != install_plan.tag => install::Mode::Roll {
            from,
            node_name: &node_name,
        },
        _ => install::Mode::Converge,
    };
    let k3s_started = std::time::Instant::now();
    let installed = install::install(config, &hosts, &roles, &install_plan, mode, progress).await?;
    drop(hosts);
    let out = NodesOutputs::new(
        config,
        &roles,
        &node_name,
        &install_plan.tag,
        &install_plan.addresses.api_server,
    );
    write_kubeconfig(config, &installed.k3s_yaml, &out.api_server)?;
    wait_ready(config, &out, progress).await?;
    // The whole k3s part (install stages, kubeconfig, every node Ready) at -v, for the
    // benchmark that compares it with the critical path of the per-host times.
    tracing::debug!(
        duration_ms = k3s_started.elapsed().as_millis() as u64,
        "k3s installed, every node Ready"
    );
    Ok(out.to_value())
}

/// The cluster's kubeconfig from the init server's `k3s.yaml`, written 0600.
fn write_kubeconfig(
    config: &Config,
    k3s_yaml: &crate::azure::resources::Secret,
    api_server: &str,
) -> Result<(), Error> {
    let doc = crate::kube::kubeconfig::from_k3s(k3s_yaml.expose(), &config.cluster, api_server)
        .map_err(|e| Error::Failed(e.to_string()))?;
    crate::fsutil::write_atomic(
        &config.paths().kubeconfig(),
        crate::kube::kubeconfig::render(&doc).as_bytes(),
    )?;
    Ok(())
}

/// Waits until every node is Ready at the version, under `k3s.start_timeout`.
async fn wait_ready(config: &Config, out: &NodesOutputs, progress: &Progress) -> Result<(), Error> {
    let expected = out.expected();
    let step = progress.step(
        "nodes",
        &format!(
            "waiting for {} nodes to be Ready at {}",
            expected.len(),
            out.version
        ),
    );
    let client = outputs::client(config).await?;
    let p = progress.clone();
    let result = crate::kube::nodes::wait_ready(
        &client,
        &expected,
        std::time::Duration::from_secs(config.k3s.start_timeout),
        &move |n| p.info(format!("nodes: {} Ready ({})", n.name, n.version)),
    )
    .await;
    match result {
        Ok(_) => {
            step.done(&format!(
                "{} nodes Ready at {}",
                expected.len(),
                out.version
            ));
            Ok(())
        }
        Err(e) => {
            step.failed("nodes not Ready");
            Err(outputs::kube_err(e))
        }
    }
}

/// `down` for `cloud.kind: static`: removes k3s from every inventory host with the embedded
/// `k3s-uninstall.yml` (the hosts themselves are the user's and stay). Returns the hosts and
/// the changes made.
pub async fn uninstall(config: &Config, progress: &Progress) -> Result<(usize, usize), Error> {
    let targets = select_targets(config, None)?;
    let count = targets.len();
    let opts = ssh_options(config);
    let step = progress.step("down", &format!("removing k3s from {count} hosts"));
    let hosts = connect_playbook_targets(config, targets, &opts, config.nodes.ssh_fanout).await?;
    let dir = playbooks::materialize(&config.paths().playbooks_dir())?;
    let book = playbook::load(&dir.join("k3s-uninstall.yml"))?;
    let options = RunOptions {
        forks: config.nodes.ssh_fanout,
        on_event: Some(warn_failures(progress)),
        ..RunOptions::default()
    };
    let report = playbook::run_playbook(&book, &hosts, &options).await?;
    if !report.success() {
        step.failed("k3s-uninstall.yml failed");
        return Err(Error::Failed(format!(
            "k3s-uninstall.yml failed on some hosts:\n{}",
            report.recap()
        )));
    }
    step.done(&format!(
        "removed k3s from {count} hosts ({} changes)",
        report.changed()
    ));
    Ok((count, report.changed()))
}

/// An event sink that warns of every task that failed or found its host unreachable (not
/// ignored), with the last lines of its output.
pub fn warn_failures(progress: &Progress) -> playbook::EventSink {
    let p = progress.clone();
    Arc::new(move |e: &Event| {
        if let Event::Task(r) = e
            && matches!(r.status, Status::Failed | Status::Unreachable)
            && !r.ignored
        {
            p.warn(format!("{}: {}: {}", r.host, r.task, r.summary(10)));
        }
    })
}

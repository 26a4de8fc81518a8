//! Installing k3s on prepared hosts, in k3s's order (decision 0008): the init server with
//! the cluster password; its secure join token and admin kubeconfig read back over SSH; the
//! other servers one at a time with the token; then every agent at once (under
//! `nodes.ssh_fanout`). Each stage is one run of the embedded playbooks; a failed stage
//! stops the install, naming each failed host with the tail of its k3s journal.

use serde_json::{Map, Value as Json};

use super::plan::{self, Plan, Roles};
use super::token;
use crate::azure::resources::Secret;
use crate::config::Config;
use crate::error::Error;
use crate::output::Progress;
use crate::playbook::{self, Playbook, RunOptions, Target};
use crate::ssh::host::ExecRequest;

/// Lines of a failed node's journal shown in the error.
const JOURNAL_LINES: usize = 15;

/// The playbooks of one install, loaded from the state directory.
pub struct Books {
    pub server: Playbook,
    pub agent: Playbook,
}

impl Books {
    /// Writes the embedded playbooks out and loads the two the install runs.
    pub fn load(config: &Config) -> Result<Books, Error> {
        let dir = super::playbooks::materialize(&config.paths().playbooks_dir())?;
        Ok(Books {
            server: playbook::load(&dir.join("k3s-server.yml"))?,
            agent: playbook::load(&dir.join("k3s-agent.yml"))?,
        })
    }
}

fn pick(targets: &[Target], names: &[String]) -> Vec<Target> {
    targets
        .iter()
        .filter(|t| names.iter().any(|n| n == t.host.name()))
        .cloned()
        .collect()
}

/// Runs `book` on the hosts `names` with `vars`; fails naming each failed host with its
/// journal's tail.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per stage; a struct would only rename them"
)]
async fn stage(
    what: &str,
    book: &Playbook,
    targets: &[Target],
    names: &[String],
    vars: Map<String, Json>,
    unit: &str,
    forks: usize,
    progress: &Progress,
) -> Result<usize, Error> {
    if names.is_empty() {
        return Ok(0);
    }
    let hosts = pick(targets, names);
    let step = progress.step("nodes", &format!("{what} ({} hosts)", hosts.len()));
    let options = RunOptions {
        forks,
        extra_vars: vars,
        on_event: Some(super::warn_failures(progress)),
        ..RunOptions::default()
    };
    let report = playbook::run_playbook(book, &hosts, &options).await?;
    // Each host's own time in the stage (at -v): the benchmark's critical path is computed
    // from these (first server + each joining server + the slowest agent).
    for h in &report.hosts {
        tracing::debug!(
            stage = what,
            host = %h.host,
            duration_ms = h.duration.as_millis() as u64,
            changed = h.changed,
            "k3s host done"
        );
    }
    tracing::debug!(
        stage = what,
        duration_ms = report.duration.as_millis() as u64,
        "k3s stage done"
    );
    if report.success() {
        step.done(&format!("{what}: {} changes", report.changed()));
        return Ok(report.changed());
    }
    step.failed(&format!("{what} failed"));
    let mut msg = format!("{what} failed:\n{}", report.recap());
    for h in report
        .hosts
        .iter()
        .filter(|h| h.failed > 0 || h.unreachable > 0)
    {
        if h.unreachable > 0 {
            continue;
        }
        if let Some(t) = hosts.iter().find(|t| t.host.name() == h.host) {
            msg.push_str(&format!(
                "\n{}: last lines of `journalctl -u {unit}`:\n{}",
                h.host,
                journal_tail(t, unit).await
            ));
        }
    }
    Err(Error::Failed(msg))
}

/// The last lines of `unit`'s journal on `t`, indented (or why they could not be read).
async fn journal_tail(t: &Target, unit: &str) -> String {
    let args = [unit.to_owned(), JOURNAL_LINES.to_string()];
    let out = t
        .host
        .exec(ExecRequest {
            command: "journalctl -u \"$1\" -n \"$2\" --no-pager",
            args: &args,
            stdin: None,
            env: &[],
            become_root: true,
            timeout: Some(std::time::Duration::from_secs(30)),
            output_limit: Some(16 << 10),
        })
        .await;
    let text = match out {
        Ok(o) if o.status == 0 => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!(
            "(journalctl failed: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("({e})"),
    };
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Keeps `vars` as `<state_dir>/secrets/k3s-vars-<stage>.json` (0600) and returns them:
/// `ansible-playbook -e @` that file runs the stage's playbook with exactly what the phase
/// gave it (the playbooks' headers say how).
fn kept(config: &Config, stage: &str, vars: Map<String, Json>) -> Result<Map<String, Json>, Error> {
    let text = serde_json::to_string_pretty(&vars)
        .map_err(|e| Error::Failed(format!("k3s variables: {e}")))?;
    crate::fsutil::ensure_private_dir(&config.paths().secrets_dir())?;
    crate::fsutil::write_atomic(&config.paths().k3s_vars(stage), text.as_bytes())?;
    Ok(vars)
}

/// What the install leaves for the rest of the phase.
#[derive(Debug)]
pub struct Installed {
    /// The admin kubeconfig as the init server wrote it (`/etc/rancher/k3s/k3s.yaml`).
    pub k3s_yaml: Secret,
    /// Changes over all stages (0: nothing was touched on any host).
    pub changed: usize,
}

/// How the install treats nodes that run k3s already.
pub enum Mode<'a> {
    /// A new cluster, or the same version: every stage at once (unchanged hosts report 0).
    Converge,
    /// `k3s.version` moved on from `from`: servers one at a time, then agents in batches,
    /// each drained first and uncordoned once it is Ready at the new version.
    Roll {
        from: &'a str,
        node_name: &'a (dyn Fn(&str) -> String + Sync),
    },
}

/// Installs k3s per `roles` and `plan` on `targets` (connected, prepared).
pub async fn install(
    config: &Config,
    targets: &[Target],
    roles: &Roles,
    install: &Plan,
    mode: Mode<'_>,
    progress: &Progress,
) -> Result<Installed, Error> {
    let books = Books::load(config)?;
    let password = token::password(config)?;
    let fanout = config.nodes.ssh_fanout;
    let init = std::slice::from_ref(&roles.init);
    let roll = match &mode {
        Mode::Converge => None,
        Mode::Roll { from, node_name } => {
            progress.info(format!(
                "nodes: upgrading k3s {from} -> {}: servers one at a time, then agents in batches",
                install.tag
            ));
            Some(Roller {
                config,
                client: super::outputs::client(config).await?,
                node_name: *node_name,
                tag: &install.tag,
                progress,
            })
        }
    };
    let run = |what: String, book: &'static str, names: Vec<String>, vars, unit, forks| {
        let book = if book == "server" {
            &books.server
        } else {
            &books.agent
        };
        let roll = roll.as_ref();
        async move {
            match roll {
                None => stage(&what, book, targets, &names, vars, unit, forks, progress).await,
                Some(r) => r.roll(&what, book, targets, &names, vars, unit).await,
            }
        }
    };
    let mut changed = run(
        format!("k3s server {} (initializes the cluster)", roles.init),
        "server",
        init.to_vec(),
        kept(config, "init", plan::vars(config, install, &password, ""))?,
        "k3s",
        1,
    )
    .await?;
    let init_host = pick(targets, init)
        .pop()
        .ok_or_else(|| Error::Failed(format!("{} is not connected", roles.init)))?;
    let text = token::read_root_file(init_host.host.as_ref(), token::SERVER_TOKEN).await?;
    let join = token::store_token(config, &roles.init, &text, &password)?;
    let k3s_yaml = Secret::new(
        token::read_root_file(init_host.host.as_ref(), token::SERVER_KUBECONFIG).await?,
    );
    changed += run(
        "k3s servers joining one at a time".into(),
        "server",
        roles.servers.clone(),
        kept(
            config,
            "servers",
            plan::vars(config, install, &join, &install.addresses.join_url),
        )?,
        "k3s",
        1,
    )
    .await?;
    changed += run(
        "k3s agents".into(),
        "agent",
        roles.agents.clone(),
        kept(
            config,
            "agents",
            plan::vars(config, install, &join, &install.addresses.agent_url),
        )?,
        "k3s-agent",
        fanout,
    )
    .await?;
    Ok(Installed { k3s_yaml, changed })
}

/// A rolling upgrade's steps for a group of hosts.
struct Roller<'a> {
    config: &'a Config,
    client: kube::Client,
    node_name: &'a (dyn Fn(&str) -> String + Sync),
    tag: &'a str,
    progress: &'a Progress,
}

impl Roller<'_> {
    /// Servers (the `k3s` unit) one at a time; agents in batches of a quarter (at least one).
    async fn roll(
        &self,
        what: &str,
        book: &Playbook,
        targets: &[Target],
        names: &[String],
        vars: Map<String, Json>,
        unit: &str,
    ) -> Result<usize, Error> {
        let batch = if unit == "k3s" {
            1
        } else {
            names.len().div_ceil(4).max(1)
        };
        let timeout = std::time::Duration::from_secs(self.config.k3s.start_timeout);
        let mut changed = 0;
        for group in names.chunks(batch) {
            let nodes: Vec<String> = group.iter().map(|h| (self.node_name)(h)).collect();
            for n in &nodes {
                crate::kube::drain::drain(&self.client, n, timeout)
                    .await
                    .map_err(super::outputs::kube_err)?;
            }
            changed += stage(
                &format!("{what}: {}", group.join(", ")),
                book,
                targets,
                group,
                vars.clone(),
                unit,
                group.len(),
                self.progress,
            )
            .await?;
            let expected = nodes
                .iter()
                .map(|n| (n.clone(), self.tag.to_owned()))
                .collect();
            crate::kube::nodes::wait_ready(&self.client, &expected, timeout, &|_| {})
                .await
                .map_err(super::outputs::kube_err)?;
            for n in &nodes {
                crate::kube::drain::cordon(&self.client, n, false)
                    .await
                    .map_err(super::outputs::kube_err)?;
                self.progress
                    .info(format!("nodes: {n} runs {} and is uncordoned", self.tag));
            }
        }
        Ok(changed)
    }
}

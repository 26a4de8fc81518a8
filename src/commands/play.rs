//! `platform play PLAYBOOK`: run a playbook (Ansible syntax subset) and print Ansible-shaped
//! results and recap.
//!
//! `--connection ssh` (the default) runs on the cluster's inventory over SSH (one multiplexed
//! connection per host, host keys pinned); `--connection local` runs on this machine as host
//! `localhost`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::Connection;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer, Progress};
use crate::phases::nodes::connect::{connect_playbook_targets, select_targets, ssh_options};
use crate::playbook::{self, Event, RunOptions, RunReport, Status, Target};
use crate::ssh::host::LocalHost;

/// The `play` command's arguments.
#[derive(Debug)]
pub struct PlayArgs {
    pub playbook: PathBuf,
    pub limit: Option<String>,
    pub extra_vars: Vec<String>,
    pub check: bool,
    pub diff: bool,
    pub connection: Connection,
}

pub async fn run(
    args: &PlayArgs,
    config: impl FnOnce() -> Result<Config>,
    printer: &Printer,
) -> Result<()> {
    // Parse everything first: a playbook outside the subset touches no host.
    let book = playbook::load(&args.playbook)?;
    let extra_vars = playbook::parse_extra_vars(&args.extra_vars)?;
    let mut forks = 0;
    let targets = match args.connection {
        Connection::Local => vec![Target {
            host: Arc::new(LocalHost::new("localhost")),
            groups: Vec::new(),
            vars: serde_json::Map::new(),
        }],
        Connection::Ssh => {
            let config = config()?;
            // `--limit` is applied by the engine (Ansible patterns), so connect to every host
            // the play could need... but only those the limit can match.
            let chosen = select_targets(&config, args.limit.as_deref())?;
            forks = config.nodes.ssh_fanout;
            connect_playbook_targets(&config, chosen, &ssh_options(&config), forks).await?
        }
    };
    let text = printer.format() == OutputFormat::Text;
    let (progress, monitor) = crate::output::progress::start(printer);
    let p = progress.clone();
    let opts = RunOptions {
        check: args.check,
        diff: args.diff,
        extra_vars,
        limit: args.limit.clone(),
        forks,
        on_event: text.then(|| Arc::new(move |e: &Event| p.data(event_line(&p, e))) as _),
    };
    let report = playbook::run_playbook(&book, &targets, &opts).await;
    drop(opts);
    monitor.finish();
    let report = report?;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::to_value(&report).unwrap_or_default()),
        OutputFormat::Text => printer.data(&format!("\nPLAY RECAP\n{}", report.recap())),
    }
    finish(&report)
}

fn finish(report: &RunReport) -> Result<()> {
    if report.success() {
        return Ok(());
    }
    let bad: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| h.failed > 0 || h.unreachable > 0)
        .map(|h| h.host.as_str())
        .collect();
    Err(Error::Failed(format!(
        "the playbook failed on {} host(s): {}",
        bad.len(),
        bad.join(", ")
    )))
}

/// An Ansible-shaped line for a playbook event.
fn event_line(p: &Progress, e: &Event) -> String {
    let s = p.style();
    match e {
        Event::PlayStart { name, hosts } if hosts.is_empty() => {
            format!("\nPLAY [{name}]\nskipping: no hosts matched")
        }
        Event::PlayStart { name, .. } => format!("\nPLAY [{name}]"),
        Event::Retry {
            host,
            task,
            retries_left,
        } => format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left)."),
        Event::Task(r) => {
            let word = match r.status {
                Status::Ok => s.green("ok"),
                Status::Changed => s.yellow("changed"),
                Status::Skipped => s.bold("skipping"),
                Status::Failed | Status::Unreachable => s.red(r.status.word()),
            };
            let mut line = format!(
                "{word}: [{}] {} ({} ms)",
                r.host,
                r.task,
                r.duration.as_millis()
            );
            if matches!(r.status, Status::Failed | Status::Unreachable) {
                let ignoring = if r.ignored { " ...ignoring" } else { "" };
                line.push_str(&format!(" => FAILED{ignoring}\n{}", indent(&r.summary(20))));
            }
            if let Some(d) = &r.diff {
                line.push('\n');
                line.push_str(d.trim_end());
            }
            line
        }
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

//! `platform run [--limit PATTERN] [--forget-host NAME] -- COMMAND`: one shell command on
//! every selected node, in parallel, with a per-host summary.

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use crate::ssh::cluster::{inventory_path, load_targets, ssh_options};
use crate::ssh::fanout::{self, Done, Status};
use crate::ssh::host::{ExecRequest, Host};
use crate::ssh::{SshHost, SshOptions, Target, known_hosts, targets};

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub limit: Option<String>,
    pub forget_host: Vec<String>,
    pub timeout: Option<Duration>,
    pub command: Vec<String>,
}

/// One host's command result.
#[derive(Debug, Clone)]
struct Ran {
    rc: i32,
    stdout: String,
    stderr: String,
}

/// `run` targets hosts that should be up: a refused connection is retried this long only
/// (the nodes phase waits much longer for VMs that are still booting).
const RUN_BOOT_WAIT: Duration = Duration::from_secs(5);

/// Runs the command.
pub async fn run(config: &Config, args: &RunArgs, printer: &Printer) -> Result<()> {
    let all = load_targets(config)?;
    let mut opts = ssh_options(config);
    opts.boot_wait = RUN_BOOT_WAIT;
    for name in &args.forget_host {
        forget(&all, name, &opts, printer).await?;
    }
    if args.command.is_empty() {
        return Ok(());
    }
    let pattern = args.limit.as_deref().unwrap_or("all");
    let chosen = targets::select(&all, pattern).map_err(|e| Error::Usage(e.to_string()))?;
    if chosen.is_empty() {
        return Err(Error::Usage(format!(
            "no host matches {pattern:?} in {}",
            inventory_path(config).display()
        )));
    }
    // As ssh does: the arguments joined by spaces are the remote shell's command line.
    let command = args.command.join(" ");
    let items: Vec<(String, Target)> = chosen
        .into_iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let monitor = tokio::spawn(fanout::monitor(printer.clone(), rx));
    let timeout = args.timeout;
    let reports = fanout::fan_out(
        items,
        config.nodes.ssh_fanout,
        Some(tx),
        move |t: Target, _events| {
            let (opts, command) = (opts.clone(), command.clone());
            async move {
                let host = SshHost::connect(&t, &opts).await?;
                let out = host
                    .exec(ExecRequest {
                        command: &command,
                        timeout,
                        ..Default::default()
                    })
                    .await;
                host.close().await;
                let out = out?;
                let ran = Ran {
                    rc: out.status,
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                };
                Ok(Done {
                    status: if ran.rc == 0 {
                        Status::Ok
                    } else {
                        Status::Failed
                    },
                    message: format!("rc={}", ran.rc),
                    output: format!("{}{}", ran.stdout, ran.stderr),
                    value: Some(ran),
                })
            }
        },
    )
    .await;
    // Every sender is gone once fan_out returns, so the monitor ends.
    let _ = monitor.await;
    match printer.format() {
        OutputFormat::Json => printer.json(&fanout::summary_json(
            &reports,
            |r| serde_json::json!({ "rc": r.rc, "stdout": r.stdout, "stderr": r.stderr }),
        )),
        OutputFormat::Text => {
            let mut text = String::new();
            for r in &reports {
                if let Some(ran) = &r.value {
                    text.push_str(&format!(
                        "{} | {} | rc={} >>\n{}{}",
                        r.host,
                        r.status.as_str(),
                        ran.rc,
                        ran.stdout,
                        ran.stderr
                    ));
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                }
            }
            text.push('\n');
            text.push_str(&fanout::summary_text(&reports));
            printer.data(&text);
        }
    }
    let bad = reports
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::Unreachable))
        .count();
    if bad > 0 {
        return Err(Error::Failed(format!(
            "{bad} of {} hosts failed or were unreachable",
            reports.len()
        )));
    }
    Ok(())
}

/// `--forget-host NAME`: NAME is an inventory name or an address.
async fn forget(all: &[Target], name: &str, opts: &SshOptions, printer: &Printer) -> Result<()> {
    let (address, port) = match all.iter().find(|t| t.name == name) {
        Some(t) => (t.address.clone(), t.port),
        None => match all.iter().find(|t| t.address == name) {
            Some(t) => (t.address.clone(), t.port),
            None => (name.to_owned(), 22),
        },
    };
    let removed = known_hosts::forget_host(&opts.known_hosts, &address, port)
        .await
        .map_err(|e| Error::io("cannot update", &opts.known_hosts, e))?;
    let key = known_hosts::host_key_name(&address, port);
    if removed {
        printer.info(&format!(
            "forgot the host key of {name} ({key}); the next connection records the key it offers"
        ));
    } else {
        printer.warn(&format!("no host key recorded for {name} ({key})"));
    }
    Ok(())
}

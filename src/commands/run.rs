//! `platform run [--limit PATTERN] [--forget-host NAME] -- COMMAND`: one shell command on
//! every selected node, in parallel, with a per-host summary.

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use crate::phases::inventory::targets::InventoryHost;
use crate::phases::nodes::connect::{load_targets, select_targets, ssh_options};
use crate::ssh::fanout::{self, Done, Status};
use crate::ssh::host::{ExecRequest, Host};
use crate::ssh::{SshHost, SshOptions, Target, known_hosts};

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
    let chosen = select_targets(config, args.limit.as_deref())?;
    // As ssh does: the arguments joined by spaces are the remote shell's command line.
    let command = args.command.join(" ");
    let items: Vec<(String, Target)> = chosen
        .into_iter()
        .map(|t| (t.name().to_owned(), t.target))
        .collect();
    let (progress, monitor) = crate::output::progress::start(printer);
    let timeout = args.timeout;
    let reports = fanout::fan_out(
        items,
        config.nodes.ssh_fanout,
        Some(&progress),
        move |t: Target| {
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
    monitor.finish();
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
async fn forget(
    all: &[InventoryHost],
    name: &str,
    opts: &SshOptions,
    printer: &Printer,
) -> Result<()> {
    let by_name = all.iter().find(|t| t.name() == name);
    let by_address = || all.iter().find(|t| t.target.address == name);
    let (address, port) = match by_name.or_else(by_address).map(|t| &t.target) {
        Some(t) => (t.address.clone(), t.port),
        None => (name.to_owned(), 22),
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

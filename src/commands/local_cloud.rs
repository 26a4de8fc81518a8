//! `platform local-cloud serve`: the local ARM-compatible cloud as a long-running process.

use crate::cli::LocalCloudServe;
use crate::cloud::daemon::{ServeGuard, ServeRecord};
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use ::local_cloud::{self, FaultConfig, LatencyModel, LocalCloudOptions};

pub async fn serve(args: &LocalCloudServe, printer: &Printer) -> Result<()> {
    let mut opts = LocalCloudOptions::new(&args.data_dir);
    opts.bind = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    opts.latency = LatencyModel::scaled(args.time_factor);
    opts.latency.retry_after_secs = args.retry_after;
    opts.page_size = args.page_size.max(1);
    opts.realize_hosts = args.hosts;
    // This binary is the hosts' init (its `main` calls `local_cloud::multicall`).
    opts.host_exe = std::env::current_exe().ok();
    opts.faults = FaultConfig {
        throttle_rate: args.throttle_rate,
        server_error_rate: args.error_rate,
        retry_after_secs: args.retry_after.unwrap_or(1),
        seed: args.seed,
        ..FaultConfig::default()
    };
    let guard = ServeGuard::acquire(&args.data_dir)?;
    let handle = local_cloud::start(opts).await?;
    guard.publish(&ServeRecord {
        pid: std::process::id(),
        endpoint: handle.endpoint.to_string(),
        ca_path: std::path::absolute(&handle.ca_path).unwrap_or_else(|_| handle.ca_path.clone()),
        time_factor: args.time_factor,
        hosts: args.hosts,
    })?;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "endpoint": handle.endpoint.as_str(), "ca": handle.ca_path,
            "token_file": handle.token_path,
        })),
        OutputFormat::Text => printer.data(&format!(
            "endpoint: {}\nca: {}\ntoken file: {}",
            handle.endpoint,
            handle.ca_path.display(),
            handle.token_path.display()
        )),
    }
    printer.info("serving until interrupted (Ctrl-C or SIGTERM)");
    // SIGTERM too: with --hosts, shutdown is what tears the hosts down.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Failed(format!("cannot wait for SIGTERM: {e}")))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.map_err(|e| Error::Failed(format!("cannot wait for Ctrl-C: {e}")))?;
        }
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    drop(guard);
    Ok(())
}

pub fn stop(config: &crate::config::Config, printer: &Printer) -> Result<()> {
    let dir = crate::cloud::local_data_dir(config);
    let was = crate::cloud::daemon::stop(&dir)?;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({"stopped": was})),
        OutputFormat::Text => printer.info(if was {
            "stopped the local cloud"
        } else {
            "the local cloud was not running"
        }),
    }
    Ok(())
}

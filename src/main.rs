//! The `platform` binary: parse arguments, run the command, map errors to exit codes.

use clap::Parser;
use platform::cli::Cli;
use platform::error::EXIT_FAILED;
use platform::output::{OutputFormat, Printer, init_tracing};

fn main() {
    // Inside a local-cloud host this binary is the host's init (docs/decisions/0007).
    if let Some(code) = local_cloud::multicall() {
        std::process::exit(code);
    }
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.output, cli.global.verbosity());
    init_tracing(cli.global.verbosity(), printer.multi().cloned());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            printer.error(&format!("cannot start the async runtime: {e}"));
            std::process::exit(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(platform::commands::execute(cli, &printer));
    log_peak_memory();
    if let Err(e) = result {
        let code = e.exit_code();
        if printer.format() == OutputFormat::Json && !printer.wrote_data() {
            printer
                .json(&serde_json::json!({"error": {"message": e.to_string(), "exit_code": code}}));
        }
        printer.error(&e.to_string());
        if let Some(h) = e.hint() {
            printer.hint(&h);
        }
        std::process::exit(code);
    }
}

/// Logs (at `-v`) this process's peak resident memory: `VmHWM` of `/proc/self/status`, which
/// counts from our own exec, unlike rusage's `ru_maxrss` (that keeps the high-water mark of
/// the process we were spawned from). Benchmarks and tests read it from the log.
fn log_peak_memory() {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    if let Some(kib) = kib {
        tracing::debug!(peak_rss_kib = kib, "peak memory");
    }
}

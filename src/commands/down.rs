//! `platform down`: delete what this cluster created, after confirmation.

use std::io::{BufRead, IsTerminal, Write};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use crate::phase::Phase;
use crate::phases::not_built;
use crate::state::{State, StateLock};

pub async fn run(config: &Config, yes: bool, printer: &Printer) -> Result<()> {
    if !yes {
        confirm(&config.cluster)?;
    }
    let _lock = StateLock::acquire(&config.state_dir, "platform down")?;
    let state = State::load(&config.state_dir)?;
    let Some(state) = state else {
        report(
            printer,
            "nothing to delete: no state, so this state directory never created anything",
        );
        return Ok(());
    };
    super::check_cluster(config, &state, &config.state_dir)?;
    if state.phase(Phase::Infra).is_none() {
        report(printer, "nothing to delete: the infra phase never started");
        return Ok(());
    }
    match not_built(Phase::Infra) {
        Some(what) => Err(Error::NotBuilt {
            phase: Phase::Infra,
            what,
        }),
        None => unreachable!("infra teardown is wired in when the infra phase is built"),
    }
}

fn report(printer: &Printer, text: &str) {
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({"deleted": [], "message": text})),
        OutputFormat::Text => printer.info(text),
    }
}

/// Asks for the cluster name on the terminal; refuses without a terminal.
fn confirm(cluster: &str) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Usage(
            "`platform down` deletes the cluster; pass --yes to confirm when not on a terminal"
                .into(),
        ));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "This deletes every resource of cluster {cluster:?}. Type the cluster name to confirm: "
    );
    let _ = err.flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Failed(format!("cannot read confirmation: {e}")))?;
    if line.trim() != cluster {
        return Err(Error::Usage(
            "confirmation did not match; nothing deleted".into(),
        ));
    }
    Ok(())
}

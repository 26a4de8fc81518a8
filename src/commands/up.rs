//! `platform up`: run the selected phases under the state lock.

use crate::config::Config;
use crate::error::Result;
use crate::output::{OutputFormat, Printer, table};
use crate::phase::{Phase, Selection};
use crate::phases::Phases;
use crate::runner::{PhaseOutcome, run as run_phases};
use crate::state::{State, StateLock};

pub async fn run(
    config: &Config,
    sel: &Selection,
    forced: &[Phase],
    printer: &Printer,
) -> Result<()> {
    // Before the lock, the state and the secrets: a missing credential writes nothing.
    crate::cloud::CloudConn::preflight(config, &sel.phases()).await?;
    let lock = StateLock::acquire(&config.state_dir, "platform up")?;
    let mut state = State::load(&config.state_dir)?.unwrap_or_else(|| State::new(&config.cluster));
    super::check_cluster(config, &state, &config.state_dir)?;
    let (progress, monitor) = crate::output::progress::start(printer);
    let result = run_phases(&Phases, config, &mut state, &lock, sel, forced, &progress).await;
    monitor.finish();
    let (outcomes, err) = match result {
        Ok(o) => (o, None),
        Err((o, e)) => (o, Some(e)),
    };
    report(&outcomes, err.as_ref(), printer);
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn report(outcomes: &[PhaseOutcome], err: Option<&crate::error::Error>, printer: &Printer) {
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "ok": err.is_none(),
            "phases": outcomes,
            "error": err.map(ToString::to_string),
        })),
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = outcomes
                .iter()
                .map(|o| {
                    vec![
                        o.phase.to_string(),
                        o.result.as_str().into(),
                        o.duration_ms
                            .map(|ms| {
                                crate::output::format_duration(std::time::Duration::from_millis(
                                    ms as u64,
                                ))
                            })
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                printer.data(&table::render(&["PHASE", "RESULT", "DURATION"], &rows));
            }
        }
    }
}

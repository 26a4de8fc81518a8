//! The phase runner: fixed order, input fingerprints, skip, resume.
//!
//! Each phase reads config sections and the outputs of earlier phases; the hash of exactly
//! those inputs is its fingerprint. `up` skips a phase whose last run succeeded with the same
//! fingerprint, so a changed upstream output re-runs everything downstream of it.

mod inputs;

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::clock::now;
use crate::config::Config;
use crate::error::Error;
use crate::output::Progress;
use crate::phase::{Phase, Selection};
use crate::state::{PhaseRecord, PhaseStatus, State, StateLock};

/// The fingerprint of a phase's inputs: config sections plus upstream outputs.
pub fn fingerprint(phase: Phase, config: &Config, state: &State) -> String {
    let upstream: serde_json::Map<String, serde_json::Value> = phase
        .upstream()
        .iter()
        .map(|p| {
            let out = state
                .phase(*p)
                .map(|r| r.outputs.clone())
                .unwrap_or_default();
            (p.name().to_owned(), out)
        })
        .collect();
    let inputs = serde_json::json!({
        "phase": phase.name(),
        "config": inputs::config_inputs(phase, config),
        "upstream": upstream,
    });
    // serde_json keeps insertion order; inputs are built the same way every time.
    let digest = Sha256::digest(inputs.to_string().as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

/// Whether `up` runs a phase, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "reason", rename_all = "snake_case")]
pub enum Decision {
    Run(String),
    Skip(String),
}

/// Decides from the last record and the current fingerprint.
pub fn decide(record: Option<&PhaseRecord>, fingerprint: &str, forced: bool) -> Decision {
    let run = |s: &str| Decision::Run(s.to_owned());
    match record {
        _ if forced => run("forced with --force-phase"),
        None => run("never ran"),
        Some(r) => match r.status {
            PhaseStatus::Running => run("last run was interrupted"),
            PhaseStatus::Failed => run("last run failed"),
            PhaseStatus::Succeeded if r.fingerprint != fingerprint => run("inputs changed"),
            PhaseStatus::Succeeded => Decision::Skip("unchanged since last success".into()),
        },
    }
}

/// Runs one phase's work. The product's implementation is `crate::phases::Phases`; unit
/// tests of the runner use their own.
pub trait PhaseExec {
    /// Does the phase's work and returns its outputs for the state file.
    fn run(
        &self,
        phase: Phase,
        config: &Config,
        state: &State,
        progress: &Progress,
    ) -> impl Future<Output = Result<serde_json::Value, Error>>;
}

/// What happened to one phase in a run.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseOutcome {
    pub phase: Phase,
    #[serde(flatten)]
    pub decision: Decision,
    /// `succeeded`, `failed` or `skipped`.
    pub result: &'static str,
    pub duration_ms: Option<u128>,
}

/// Runs the selected phases in order, recording each in state (saved after every change so a
/// crash leaves an accurate record). Stops at the first failure, which is recorded and
/// returned; a re-run resumes there because a failed phase always runs again.
pub async fn run<E: PhaseExec>(
    exec: &E,
    config: &Config,
    state: &mut State,
    lock: &StateLock,
    selection: &Selection,
    forced: &[Phase],
    progress: &Progress,
) -> Result<Vec<PhaseOutcome>, (Vec<PhaseOutcome>, Error)> {
    let dir: &Path = &config.state_dir;
    let mut outcomes = Vec::new();
    for phase in selection.phases() {
        for up in phase.upstream() {
            let ok = state
                .phase(*up)
                .is_some_and(|r| r.status == PhaseStatus::Succeeded);
            if !ok {
                let e = Error::Usage(format!(
                    "phase {phase} needs the outputs of {up}, which has not succeeded yet; run `platform up --from {up}`"
                ));
                return Err((outcomes, e));
            }
        }
        let fp = fingerprint(phase, config, state);
        let decision = decide(state.phase(phase), &fp, forced.contains(&phase));
        if let Decision::Skip(_) = &decision {
            progress.info(format!("{phase}: unchanged, skipped"));
            outcomes.push(PhaseOutcome {
                phase,
                decision,
                result: "skipped",
                duration_ms: None,
            });
            continue;
        }
        let attempts = state.phase(phase).map_or(0, |r| r.attempts) + 1;
        let started = now();
        state.phases.insert(
            phase,
            PhaseRecord {
                status: PhaseStatus::Running,
                started_at: started,
                finished_at: None,
                fingerprint: fp.clone(),
                outputs: state
                    .phase(phase)
                    .map(|r| r.outputs.clone())
                    .unwrap_or_default(),
                error: None,
                attempts,
            },
        );
        if let Err(e) = state.save(dir, lock) {
            return Err((outcomes, e.into()));
        }
        let t0 = std::time::Instant::now();
        let result = exec.run(phase, config, state, progress).await;
        let rec = state.phases.get_mut(&phase).expect("inserted above");
        rec.finished_at = Some(now());
        let ms = Some(t0.elapsed().as_millis());
        match result {
            Ok(outputs) => {
                rec.status = PhaseStatus::Succeeded;
                rec.outputs = outputs;
                if let Err(e) = state.save(dir, lock) {
                    return Err((outcomes, e.into()));
                }
                outcomes.push(PhaseOutcome {
                    phase,
                    decision,
                    result: "succeeded",
                    duration_ms: ms,
                });
            }
            Err(e) => {
                rec.status = PhaseStatus::Failed;
                rec.error = Some(e.to_string());
                let _ = state.save(dir, lock);
                outcomes.push(PhaseOutcome {
                    phase,
                    decision,
                    result: "failed",
                    duration_ms: ms,
                });
                let e = match e {
                    e @ (Error::NotBuilt { .. } | Error::Usage(_) | Error::Config(_)) => e,
                    other => Error::PhaseFailed {
                        phase,
                        message: other.to_string(),
                    },
                };
                return Err((outcomes, e));
            }
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests;

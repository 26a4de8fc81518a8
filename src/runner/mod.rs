//! The phase runner: fixed order, input fingerprints, verified skips, resume.
//!
//! Each phase reads config sections and the outputs of earlier phases; the hash of exactly
//! those inputs is its fingerprint. A phase is skipped only when its last run succeeded with
//! the same fingerprint AND a cheap live check ([`PhaseExec::verify`]: GETs, list calls, one
//! SSH round trip per host) finds the world still matching its recorded outputs: the state
//! file is memory, never the source of truth. `plan` and `up` decide through the same
//! [`decide`], so what `plan` prints is what `up` does.

mod inputs;

pub use inputs::{INFRA_CA_BUNDLE, upstream_outputs};

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::clock::now;
use crate::config::Config;
use crate::error::Error;
use crate::output::Progress;
use crate::phase::{Phase, Selection};
use crate::state::{PhaseRecord, PhaseStatus, State, StateLock};

/// The fingerprint of a phase's inputs: config sections plus the upstream outputs it reads
/// ([`upstream_outputs`]).
pub fn fingerprint(phase: Phase, config: &Config, state: &State) -> String {
    let upstream: serde_json::Map<String, serde_json::Value> = phase
        .upstream()
        .iter()
        .map(|p| {
            let out = state
                .phase(*p)
                .map(|r| r.outputs.clone())
                .unwrap_or_default();
            (
                p.name().to_owned(),
                inputs::upstream_outputs(phase, *p, out),
            )
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

/// What a phase's live check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The world still matches the recorded outputs.
    Matches,
    /// It does not, and this says where.
    Differs(String),
    /// The check itself failed (the cloud or a host could not be asked).
    Failed(String),
}

/// Decides from the last record and the current fingerprint alone (no live check).
pub fn decide_recorded(record: Option<&PhaseRecord>, fingerprint: &str, forced: bool) -> Decision {
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

/// Whether `up` runs `phase` now: the recorded decision, and for a skip the phase's live
/// check. The one decision function of `plan` and `up`.
pub async fn decide<E: PhaseExec>(
    exec: &E,
    phase: Phase,
    config: &Config,
    state: &State,
    forced: bool,
) -> Decision {
    let fp = fingerprint(phase, config, state);
    let record = state.phase(phase);
    match (decide_recorded(record, &fp, forced), record) {
        (Decision::Skip(_), Some(rec)) => match exec.verify(phase, config, rec).await {
            Verification::Matches => {
                Decision::Skip("unchanged since last success, verified live".into())
            }
            Verification::Differs(why) => Decision::Run(format!("live check: {why}")),
            Verification::Failed(why) => Decision::Run(format!("live check failed: {why}")),
        },
        (d, _) => d,
    }
}

/// What `plan` shows for a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    Run,
    Skip,
    /// Skipped on its own, but runs if an upstream phase that runs changes its outputs.
    Depends,
}

impl PlanAction {
    /// The word in the plan table.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Run => "run",
            PlanAction::Skip => "skip",
            PlanAction::Depends => "depends",
        }
    }
}

/// The plan of one phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhasePlan {
    pub phase: Phase,
    pub action: PlanAction,
    pub reason: String,
    /// `false` for a phase this build cannot run yet.
    pub built: bool,
}

/// What `up` would do with the selected phases, decided by [`decide`] with today's state.
pub async fn plan<E: PhaseExec>(
    exec: &E,
    config: &Config,
    state: &State,
    selection: &Selection,
) -> Vec<PhasePlan> {
    let mut running: Vec<Phase> = Vec::new();
    let mut plans = Vec::new();
    for phase in selection.phases() {
        let (action, reason) = match decide(exec, phase, config, state, false).await {
            Decision::Run(r) => (PlanAction::Run, r),
            Decision::Skip(r) => match phase.upstream().iter().find(|u| running.contains(u)) {
                Some(u) => (
                    PlanAction::Depends,
                    format!("runs if {u} changes its outputs"),
                ),
                None => (PlanAction::Skip, r),
            },
        };
        if action != PlanAction::Skip {
            running.push(phase);
        }
        plans.push(PhasePlan {
            phase,
            action,
            reason,
            built: exec.not_built(phase).is_none(),
        });
    }
    plans
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

    /// Checks cheaply, against the real world, that a succeeded phase's recorded outputs
    /// still hold. Reads only.
    fn verify(
        &self,
        phase: Phase,
        config: &Config,
        record: &PhaseRecord,
    ) -> impl Future<Output = Verification>;

    /// What is missing when this build cannot run `phase` yet.
    fn not_built(&self, _phase: Phase) -> Option<&'static str> {
        None
    }
}

/// How a phase ended in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseResult {
    Succeeded,
    Failed,
    Skipped,
}

impl PhaseResult {
    /// The word in the `up` table.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseResult::Succeeded => "succeeded",
            PhaseResult::Failed => "failed",
            PhaseResult::Skipped => "skipped",
        }
    }
}

/// What happened to one phase in a run.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseOutcome {
    pub phase: Phase,
    #[serde(flatten)]
    pub decision: Decision,
    pub result: PhaseResult,
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
        let decision = decide(exec, phase, config, state, forced.contains(&phase)).await;
        if let Decision::Skip(_) = &decision {
            progress.info(format!("{phase}: unchanged, skipped (verified live)"));
            outcomes.push(PhaseOutcome {
                phase,
                decision,
                result: PhaseResult::Skipped,
                duration_ms: None,
            });
            continue;
        }
        if let Decision::Run(why) = &decision {
            progress.info(format!("{phase}: runs ({why})"));
        }
        let fp = fingerprint(phase, config, state);
        let attempts = state.phase(phase).map_or(0, |r| r.attempts) + 1;
        let started = now();
        let running = PhaseRecord {
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
        };
        state.phases.insert(phase, running.clone());
        if let Err(e) = state.save(dir, lock) {
            return Err((outcomes, e.into()));
        }
        let t0 = std::time::Instant::now();
        let result = exec.run(phase, config, state, progress).await;
        let rec = state.phases.entry(phase).or_insert(running);
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
                    result: PhaseResult::Succeeded,
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
                    result: PhaseResult::Failed,
                    duration_ms: ms,
                });
                let e = match e {
                    e @ (Error::NotBuilt { .. }
                    | Error::Usage(_)
                    | Error::Config(_)
                    | Error::Unmet { explicit: true, .. }) => e,
                    other => Error::PhaseFailed {
                        phase,
                        message: other.to_string(),
                        hint: other.hint(),
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

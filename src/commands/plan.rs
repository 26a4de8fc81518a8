//! `platform plan`: what `up` would do, per phase, without changing anything.

use serde::Serialize;

use crate::config::Config;
use crate::error::Result;
use crate::output::{OutputFormat, Printer, table};
use crate::phase::{Phase, Selection};
use crate::phases::not_built;
use crate::runner::{Decision, decide, fingerprint};

/// The plan of one phase.
#[derive(Debug, Serialize)]
pub struct PhasePlan {
    pub phase: Phase,
    /// `run`, `skip`, or `depends` (runs if an upstream phase that runs changes its outputs).
    pub action: &'static str,
    pub reason: String,
    pub built: bool,
}

/// Computes the plan from state and config. Shared by `plan` and `up` (which prints the
/// same decisions as it goes).
pub fn compute(config: &Config, state: &crate::state::State, sel: &Selection) -> Vec<PhasePlan> {
    let mut running: Vec<Phase> = Vec::new();
    let mut plans = Vec::new();
    for phase in sel.phases() {
        let fp = fingerprint(phase, config, state);
        let (action, reason) = match decide(state.phase(phase), &fp, false) {
            Decision::Run(r) => ("run", r),
            Decision::Skip(r) => match phase.upstream().iter().find(|u| running.contains(u)) {
                Some(u) => ("depends", format!("runs if {u} changes its outputs")),
                None => ("skip", r),
            },
        };
        if action != "skip" {
            running.push(phase);
        }
        plans.push(PhasePlan {
            phase,
            action,
            reason,
            built: not_built(phase).is_none(),
        });
    }
    plans
}

pub async fn run(config: &Config, sel: &Selection, printer: &Printer) -> Result<()> {
    let state = super::read_state(config)?;
    super::check_cluster(config, &state, &config.state_dir)?;
    let plans = compute(config, &state, sel);
    // Static inventories have no cloud resources to plan.
    let has_cloud = config.cloud.kind != crate::config::CloudKind::Static;
    let infra = if has_cloud && sel.phases().contains(&Phase::Infra) {
        Some(crate::phases::infra::plan(config).await?)
    } else {
        None
    };
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "cluster": config.cluster, "phases": plans, "infra": infra,
        })),
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = plans
                .iter()
                .map(|p| {
                    let reason = if p.built || p.action == "skip" {
                        p.reason.clone()
                    } else {
                        format!("{} (not built yet)", p.reason)
                    };
                    vec![p.phase.to_string(), p.action.into(), reason]
                })
                .collect();
            let mut out = table::render(&["PHASE", "ACTION", "REASON"], &rows);
            if let Some(resources) = &infra {
                let rows: Vec<Vec<String>> = resources
                    .iter()
                    .map(|o| {
                        let detail = match (&o.error, o.changes.is_empty()) {
                            (Some(e), _) => e.clone(),
                            (None, false) => o.changes.join(", "),
                            (None, true) => String::new(),
                        };
                        vec![
                            o.key.clone(),
                            crate::azure::ids::name_of(&o.id).to_owned(),
                            o.action.into(),
                            detail,
                        ]
                    })
                    .collect();
                out.push_str(
                    "
infra resources:
",
                );
                out.push_str(&table::render(
                    &["RESOURCE", "NAME", "ACTION", "CHANGES"],
                    &rows,
                ));
            }
            printer.data(&out);
        }
    }
    Ok(())
}

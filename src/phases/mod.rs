//! The product's phase implementations behind [`PhaseExec`]. A phase whose issue has not
//! landed yet fails with [`Error::NotBuilt`] instead of pretending to work.

pub mod gitops;
pub mod infra;
pub mod inventory;
pub mod nodes;

use crate::config::{CloudKind, Config, Controller};
use crate::error::Error;
use crate::output::Progress;
use crate::phase::Phase;
use crate::runner::{PhaseExec, Verification};
use crate::state::{PhaseRecord, State};

/// The real phases.
#[derive(Debug, Default)]
pub struct Phases;

/// What is missing for a phase that is not built yet.
pub fn not_built(phase: Phase) -> Option<&'static str> {
    match phase {
        Phase::Infra => None,
        Phase::Inventory => None,
        Phase::Nodes => None,
        // Flux and Argo CD.
        Phase::Gitops => None,
    }
}

impl PhaseExec for Phases {
    fn not_built(&self, phase: Phase) -> Option<&'static str> {
        not_built(phase)
    }

    async fn verify(&self, phase: Phase, config: &Config, record: &PhaseRecord) -> Verification {
        match phase {
            Phase::Infra if config.cloud.kind == CloudKind::Static => Verification::Matches,
            Phase::Infra => infra::verify(config, &record.outputs).await,
            Phase::Inventory => inventory::verify(config, &record.outputs).await,
            Phase::Nodes => nodes::outputs::verify(config, &record.outputs).await,
            Phase::Gitops if config.gitops.controller == Controller::None => Verification::Matches,
            // Re-applying is cheap and sends no writes when nothing changed, and it is how
            // drift (a deleted object, a changed Secret) is repaired.
            Phase::Gitops => Verification::Differs(format!(
                "{phase} re-applies and re-checks the controller every run"
            )),
        }
    }

    async fn run(
        &self,
        phase: Phase,
        config: &Config,
        state: &State,
        progress: &Progress,
    ) -> Result<serde_json::Value, Error> {
        match phase {
            // Bring-your-own hosts: there is nothing to provision.
            Phase::Infra if config.cloud.kind == CloudKind::Static => {
                progress.info("infra: skipped, cloud.kind is static (bring-your-own hosts)");
                Ok(infra::InfraOutputs::Skipped {
                    skipped: "cloud.kind static".into(),
                }
                .to_value())
            }
            Phase::Infra => infra::run(config, progress).await,
            Phase::Inventory => inventory::run_phase(config, progress).await,
            Phase::Nodes => nodes::run(config, state, progress).await,
            // The user asked for no controller: the cluster is done after `nodes`.
            Phase::Gitops if config.gitops.controller == Controller::None => {
                progress.info("gitops: skipped, gitops.controller is none");
                Ok(serde_json::json!({"skipped": "gitops.controller none"}))
            }
            Phase::Gitops => gitops::run(config, state, progress).await,
        }
    }
}

//! The product's phase implementations behind [`PhaseExec`]. A phase whose issue has not
//! landed yet fails with [`Error::NotBuilt`] instead of pretending to work.

use crate::config::Config;
use crate::error::Error;
use crate::output::Printer;
use crate::phase::{Phase, PhaseExec};
use crate::state::State;

/// The real phases.
#[derive(Debug, Default)]
pub struct Phases;

impl Phases {
    /// Whether the phase does real work in this build.
    pub fn is_built(phase: Phase) -> bool {
        not_built(phase).is_none()
    }
}

/// What is missing for a phase that is not built yet.
pub fn not_built(phase: Phase) -> Option<&'static str> {
    match phase {
        Phase::Infra => {
            Some("the ARM client and the infra resources are being built (issue: Azure infra)")
        }
        Phase::Inventory => {
            Some("listing scale-set VMs into Ansible inventories comes with the inventory issue")
        }
        Phase::Nodes => {
            Some("SSH fan-out, playbooks and the k3s install come with the nodes issues")
        }
        Phase::Gitops => Some("Flux / Argo CD bootstrap comes with the gitops issue"),
    }
}

impl PhaseExec for Phases {
    async fn run(
        &self,
        phase: Phase,
        _config: &Config,
        _state: &State,
        _printer: &Printer,
    ) -> Result<serde_json::Value, Error> {
        match not_built(phase) {
            Some(what) => Err(Error::NotBuilt { phase, what }),
            None => unreachable!("every built phase has an arm above"),
        }
    }
}

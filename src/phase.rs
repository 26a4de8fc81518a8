//! The phases of `up` as a leaf type: their order, names and upstream phases. Nothing here
//! knows the config, the state or how a phase runs (that is `crate::runner`), so every layer
//! may name a phase.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One phase of `up`, in execution order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Azure resources: network, load balancer, scale sets, PostgreSQL.
    Infra,
    /// The hosts of the scale sets (or a static file) as Ansible inventories.
    Inventory,
    /// k3s on the hosts over SSH.
    Nodes,
    /// Flux or Argo CD through the Kubernetes API.
    Gitops,
}

impl Phase {
    /// Every phase in execution order.
    pub const ALL: [Phase; 4] = [Phase::Infra, Phase::Inventory, Phase::Nodes, Phase::Gitops];

    /// The phase's name in state, output and flags.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Infra => "infra",
            Phase::Inventory => "inventory",
            Phase::Nodes => "nodes",
            Phase::Gitops => "gitops",
        }
    }

    /// What the phase does, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Infra => "Azure network, load balancer, scale sets and PostgreSQL",
            Phase::Inventory => "hosts of the scale sets as Ansible inventories",
            Phase::Nodes => "k3s installed on the hosts over SSH",
            Phase::Gitops => "GitOps controller and sync of the repository",
        }
    }

    /// Earlier phases whose outputs this phase reads.
    pub fn upstream(self) -> &'static [Phase] {
        match self {
            Phase::Infra => &[],
            Phase::Inventory => &[Phase::Infra],
            // Load balancer addresses and the Postgres server come from infra.
            Phase::Nodes => &[Phase::Infra, Phase::Inventory],
            Phase::Gitops => &[Phase::Infra, Phase::Nodes],
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which phases a command covers.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// `--only`: exactly these phases.
    pub only: Vec<Phase>,
    /// `--from`: this phase and all after it.
    pub from: Option<Phase>,
}

impl Selection {
    /// The selected phases in execution order.
    pub fn phases(&self) -> Vec<Phase> {
        Phase::ALL
            .into_iter()
            .filter(|p| self.only.is_empty() || self.only.contains(p))
            .filter(|p| self.from.is_none_or(|f| *p >= f))
            .collect()
    }
}

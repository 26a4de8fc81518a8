//! The seam to Kubernetes: the cluster's kubeconfig as a structure (`kubeconfig.rs`), the
//! `kube` client every Kubernetes call of the product goes through (`client.rs`), and what the
//! nodes phase and `status` ask of it (`nodes.rs`; `drain.rs`: cordon, drain, delete), and
//! what the gitops phase does (`apply.rs`: server-side apply without no-op writes;
//! `install.rs`: staged install, CRD and Deployment waits, pruning).

pub mod apply;
pub mod client;
pub mod drain;
pub mod install;
pub mod kubeconfig;
pub mod nodes;

pub use client::{KubeError, client};

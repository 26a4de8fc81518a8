//! The seam to Kubernetes: the cluster's kubeconfig as a structure (`kubeconfig.rs`), the
//! `kube` client every Kubernetes call of the product goes through (`client.rs`), and what the
//! nodes phase and `status` ask of it (`nodes.rs`; `drain.rs`: cordon, drain, delete).

pub mod client;
pub mod drain;
pub mod kubeconfig;
pub mod nodes;

pub use client::{KubeError, client};

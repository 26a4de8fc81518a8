//! The `platform` binary as a user meets it on a directory of its own: commands, exit codes
//! and config errors (`cli`), a newcomer's completions, man pages and `doctor`, the state lock
//! and atomic state writes, playbooks over a local connection (and the same files through
//! Ansible, the k3s playbooks' modules included), static inventories, and the api-version pins. Clusters here have a local cloud
//! of their own or none (decision 0006).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod api_versions_local_cloud;
mod cli;
mod inventory_static;
mod kubeconfig;
mod newcomer_cli;
mod playbook_cli;
mod playbook_modules;
mod playbook_output;
mod playbooks_lint;
mod ssh_connect_guard;
mod state_atomic;
mod state_lock;
mod state_shared;

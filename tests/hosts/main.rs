//! Real SSH hosts on this machine (root; run the suite under `flock
//! /tmp/platform-hosts.lock`): the local cloud's scale-set VMs as namespaced hosts
//! (`local_hosts_*`), the SSH engine and `platform run` against test sshds (`ssh_*`), the
//! nodes phase and Ansible on a cluster's hosts (`nodes_*`), `prepare.yml` and the k3s
//! playbooks on namespace hosts (`playbook_prepare`, `playbook_k3s`), and `scripts/demo.sh` end to end (`newcomer_demo`), the
//! platform's Postgres as a real server on the hosts (`postgres_local`). Every test
//! gates itself with `support::require` and keeps to an address space of its own: fixed ones,
//! except the demo's, which takes the machine's first free one, far below them (decision 0006).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod fleet;
mod gitops_argocd;
mod gitops_flux;
mod local_hosts_restart;
mod local_hosts_ssh;
mod newcomer_demo;
mod nodes_ansible;
mod nodes_e2e;
mod nodes_k3s;
mod nodes_k3s_ansible;
mod nodes_k3s_kill;
mod nodes_k3s_postgres;
mod nodes_k3s_sources;
mod nodes_k3s_token;
mod nodes_static;
mod ns_host;
mod playbook_k3s;
mod playbook_prepare;
mod postgres_local;
mod ssh_engine;
mod ssh_run_command;

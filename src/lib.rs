//! `platform`: provision a k3s platform on Azure end to end from one config file.
//!
//! The binary (`src/main.rs`) only parses arguments and maps errors to exit codes; every
//! command is an operation in this library. See `docs/ARCHITECTURE.md` for the code map.

pub mod azure;
pub mod certs;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod error;
pub mod fsutil;
pub mod hostname;
pub mod kube;
pub mod output;
pub mod paths;
pub mod pattern;
pub mod phase;
pub mod phases;
pub mod playbook;
pub mod runner;
pub mod ssh;
pub mod state;
pub mod sync;
pub mod templates;
#[cfg(test)]
mod tidy;
pub mod yaml;

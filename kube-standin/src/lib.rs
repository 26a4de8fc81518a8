//! kube-standin: a Kubernetes API server subset over HTTPS, the API core of the local
//! cloud's k3s stand-in. See README.md for what it serves and what it does not do.
//!
//! Start one with [`start`] over a [`store::Store`] (in memory: [`store::memory::MemoryStore`]),
//! a [`ServerConfig`] with a serving certificate, and a client CA and/or bearer tokens;
//! [`pki::DevPki`] makes all the certificates and a kubeconfig for tests.

mod api;
pub mod auth;
pub mod config;
mod controllers;
mod discovery;
pub mod error;
mod kinds;
mod objects;
mod openapi;
mod patch;
pub mod pki;
mod selectors;
mod server;
mod ssa;
pub mod store;
mod table;

pub use config::{Front, FrontRequest, FrontResponse, ServerConfig, UserInfo, VersionInfo};
pub use server::{RunningServer, StartError, start};

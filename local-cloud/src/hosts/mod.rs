//! Scale-set VMs as real Linux hosts reachable over SSH (DESIGN.md section 3), when
//! `LocalCloudOptions::realize_hosts` is set.
//!
//! Each VM becomes a network namespace with the VM's private IP on the instance's bridge, a
//! copy-on-write root (overlay of `/` in a private mount namespace) and an OpenSSH server
//! with its own host key that admits the scale set's admin user and SSH keys. That needs
//! root and system tools, so it is behind the crate's `hosts` feature: without it this
//! module keeps only the host types and `spec` (VM records to host specs, which the
//! control API shows), and asking for hosts fails with `HostError::NotBuilt`.
//!
//! Layout: `spec` (VM records to host specs), and with the feature `realizer` (follows the
//! store, one actor per VM), `actor` (one task per host), `exe` (which executable is the
//! hosts' init, see `crate::guest`), `sys` (commands, preflight), `net` (bridge, netns,
//! veth), `gateway` (the release mirror on each subnet's gateway), `rootfs` (host key,
//! provisioning into the upper dir), `image` (what makes the root look like a fresh VM's:
//! hosts, resolv.conf, machine-id, `/etc/local-cloud/host.json`), `host`
//! (boot and halt of one host), `cleanup` (leftovers of a crashed run); without it
//! `absent` (the same API, refusing).

#[cfg(not(feature = "hosts"))]
mod absent;
#[cfg(feature = "hosts")]
mod actor;
#[cfg(feature = "hosts")]
mod claim;
#[cfg(feature = "hosts")]
mod cleanup;
#[cfg(feature = "hosts")]
mod exe;
#[cfg(feature = "hosts")]
mod forward;
#[cfg(feature = "hosts")]
mod gateway;
#[cfg(feature = "hosts")]
mod host;
#[cfg(feature = "hosts")]
mod image;
mod lbspec;
#[cfg(feature = "hosts")]
mod net;
#[cfg(feature = "hosts")]
mod pg;
#[cfg(feature = "hosts")]
mod pgserver;
#[cfg(feature = "hosts")]
mod pgset;
mod pgspec;
#[cfg(feature = "hosts")]
mod realizer;
#[cfg(feature = "hosts")]
mod rootfs;
mod spec;
#[cfg(feature = "hosts")]
mod sys;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

#[cfg(not(feature = "hosts"))]
pub use absent::{Realizer, preflight};
pub use lbspec::{lb_specs, public_addresses};
pub use pgspec::pg_specs;
#[cfg(feature = "hosts")]
pub use realizer::Realizer;
pub use spec::specs;
#[cfg(feature = "hosts")]
pub use sys::preflight;

/// What the local cloud tells a host's own programs about the cloud (JSON, written at every
/// boot): `vm` and `time_factor` (how fast the cloud's clock runs, which the k3s stand-in
/// scales its delays by: it has no flag for it, as unknown k3s flags must fail).
#[cfg(any(feature = "hosts", feature = "k3s"))]
pub const HOST_INFO: &str = "/etc/local-cloud/host.json";

/// The local cloud's CA certificate on every host (what its PostgreSQL servers' and ARM
/// endpoint's certificates chain to), for clients such as `psql sslrootcert=`.
#[cfg(feature = "hosts")]
pub const HOST_CA: &str = "/etc/local-cloud/ca.pem";

/// Why a host could not be realized, or hosts cannot be realized at all.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// This build of the local cloud has no host support (the `hosts` feature is off).
    #[error(
        "this build of the local cloud has no host support (local-cloud was built without \
         its `hosts` feature); serve without hosts, or use a build with it (the platform \
         binary has it)"
    )]
    NotBuilt,
    /// Root or a needed tool is missing; the message says what to do.
    #[error("{0}")]
    Preflight(String),
    /// A system command failed.
    #[error("`{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    /// A file of a host could not be read or written.
    #[error("host file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The host key could not be made or read.
    #[error("host key: {0}")]
    Key(String),
    /// sshd did not come up.
    #[error("VM {vm} did not boot: {detail}")]
    Boot { vm: String, detail: String },
    /// The subnet's addresses are already routed elsewhere on this machine.
    #[error(
        "subnet {subnet} overlaps {route}, already routed via {dev} on this machine \
         (another local cloud with hosts, or a real network); give this cloud's VNet \
         another address space"
    )]
    AddressInUse {
        subnet: String,
        route: String,
        dev: String,
    },
    /// A service of the hosts' network could not listen on its gateway address.
    #[error(
        "cannot serve the hosts' network service on {addr}: {source} (does another program \
         of this machine listen on that port of every address?)"
    )]
    Gateway {
        addr: String,
        source: std::io::Error,
    },
    /// The VM record cannot be made into a host.
    #[error("VM {vm} cannot be realized: {detail}")]
    Spec { vm: String, detail: String },
}

/// What a VM record asks of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Lower-case VM resource id.
    pub key: String,
    /// VM name (`<vmss>_<hex>`).
    pub name: String,
    /// `osProfile.computerName`.
    pub hostname: String,
    pub admin_user: String,
    /// `ssh.publicKeys[].keyData` lines.
    pub ssh_keys: Vec<String>,
    pub ip: Ipv4Addr,
    pub subnet: Ipv4Net,
    /// The other subnets of the VM's VNet, routed on-link (Azure routes inside a VNet).
    pub routes: Vec<Ipv4Net>,
    /// `(address, names)` lines for `/etc/hosts`: the private DNS records the VM's VNet
    /// resolves (`pgspec::private_names`).
    pub names: Vec<(Ipv4Addr, String)>,
    /// false when the VM is stopped or deallocated.
    pub running: bool,
    /// Set when the record cannot be realized (the host fails with this).
    pub problem: Option<String>,
}

/// A host's state as the control API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Booting: sshd not answering yet.
    Starting,
    /// sshd accepts connections.
    Running,
    /// The VM is stopped or deallocated: no sshd, disk kept.
    Stopped,
    /// Realizing failed (see `error`).
    Failed,
    /// Torn down (cloud shut down or VM deleted).
    Down,
}

/// What the control API tells about a host (`GET /_local/vms/{name}`).
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub name: String,
    pub state: HostState,
    pub address: String,
    pub admin_user: String,
    pub netns: String,
    pub host_key_fingerprint: Option<String>,
    pub host_public_key: Option<String>,
    /// The machine's pid of the host's sshd listener when the host booted.
    pub sshd_pid: Option<u32>,
    pub error: Option<String>,
}

//! Invariants of an [`InfraInput`] that every body relies on, checked before any body is
//! built. Naming and value rules (what Azure accepts for a cluster, server or login name,
//! which tiers and sizes exist) are the config's, in `src/config/validate.rs`, and checked
//! before anything is touched; this layer keeps only what would otherwise produce an unsafe
//! or malformed request: parseable, nested address ranges and a non-empty admin source list
//! (we never fall back to "open to everyone").

use std::net::IpAddr;

use ipnet::IpNet;

use super::infra::InfraInput;

/// An input the `infra` phase cannot build resources from. `field` names the input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfraError {
    /// A value breaks an invariant of the request bodies.
    #[error("{field}: `{value}` is invalid: {allowed}")]
    Invalid {
        /// Input field, such as `admin_cidrs[1]`.
        field: String,
        /// The offending value.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// No admin sources: SSH and the k3s API would be unreachable, and we never default to `*`.
    #[error("admin_cidrs: empty; give the CIDRs allowed to reach SSH (22) and the k3s API (6443)")]
    NoAdminCidrs,
}

pub(super) fn invalid(field: impl Into<String>, value: &str, allowed: &str) -> InfraError {
    InfraError::Invalid {
        field: field.into(),
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

fn cidr(field: &str, value: &str) -> Result<IpNet, InfraError> {
    value
        .parse::<IpNet>()
        .map_err(|_| invalid(field, value, "a CIDR such as 10.42.0.0/16"))
}

/// Checks the invariants; the first broken one is returned.
pub fn validate(input: &InfraInput) -> Result<(), InfraError> {
    if !input.ssh_public_key.starts_with("ssh-") && !input.ssh_public_key.starts_with("ecdsa-") {
        return Err(invalid(
            "ssh_public_key",
            "<key>",
            "an OpenSSH public key line (ssh-ed25519 ...)",
        ));
    }
    if input.servers.count == 0 {
        return Err(invalid("servers.count", "0", "at least 1"));
    }
    let space = cidr("address_space", &input.address_space)?;
    let nodes = cidr("node_subnet", &input.node_subnet)?;
    let pg = cidr("postgres_subnet", &input.postgres_subnet)?;
    for (field, net) in [("node_subnet", nodes), ("postgres_subnet", pg)] {
        if !space.contains(&net) {
            return Err(invalid(
                field,
                &net.to_string(),
                &format!("a subnet inside {space}"),
            ));
        }
    }
    if nodes.contains(&pg) || pg.contains(&nodes) {
        return Err(invalid(
            "postgres_subnet",
            &input.postgres_subnet,
            "a range apart from node_subnet",
        ));
    }
    if input.admin_cidrs.is_empty() {
        return Err(InfraError::NoAdminCidrs);
    }
    for (i, src) in input.admin_cidrs.iter().enumerate() {
        // "*" only if the caller wrote it; we never add it ourselves.
        if src != "*" && src.parse::<IpNet>().is_err() && src.parse::<IpAddr>().is_err() {
            return Err(invalid(
                format!("admin_cidrs[{i}]"),
                src,
                "an IP, a CIDR, or \"*\"",
            ));
        }
    }
    if input.postgres.enabled && input.postgres.password.expose().is_empty() {
        return Err(invalid(
            "postgres.password",
            "<redacted>",
            "a generated password",
        ));
    }
    Ok(())
}

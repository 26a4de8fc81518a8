//! Checks on [`InfraInput`] before any body is built: names Azure would reject, CIDRs that do
//! not fit, and an empty admin source list (we never fall back to "open to everyone").

use std::net::IpAddr;

use ipnet::IpNet;

use super::infra::InfraInput;

/// An input the `infra` phase cannot build resources from. `field` names the input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfraError {
    /// A value has the wrong shape.
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

fn invalid(field: impl Into<String>, value: &str, allowed: &str) -> InfraError {
    InfraError::Invalid {
        field: field.into(),
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

/// Lowercase letters, digits and inner hyphens, starting with a letter.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && !s.ends_with('-')
        && !s.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn cidr(field: &str, value: &str) -> Result<IpNet, InfraError> {
    value
        .parse::<IpNet>()
        .map_err(|_| invalid(field, value, "a CIDR such as 10.42.0.0/16"))
}

const RESERVED_PG_LOGINS: &[&str] = &[
    "azure_superuser",
    "azure_pg_admin",
    "admin",
    "administrator",
    "root",
    "guest",
    "public",
];

/// Validates the whole input; the first problem found is returned.
pub fn validate(input: &InfraInput) -> Result<(), InfraError> {
    let c = &input.cluster;
    if c.len() > 40 || !is_dns_label(c) {
        return Err(invalid(
            "cluster",
            c,
            "1-40 chars: lowercase letters, digits, single inner '-', starting with a letter",
        ));
    }
    for (field, v) in [
        ("subscription", &input.subscription),
        ("location", &input.location),
        ("resource_group", &input.resource_group),
        ("ssh_user", &input.ssh_user),
        ("servers.vm_size", &input.servers.vm_size),
        ("agents.vm_size", &input.agents.vm_size),
    ] {
        if v.trim().is_empty() {
            return Err(invalid(field, v, "a non-empty value"));
        }
    }
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
    if input.postgres.enabled && pg.prefix_len() > 28 {
        return Err(invalid(
            "postgres_subnet",
            &input.postgres_subnet,
            "at least a /28",
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

    let p = &input.postgres;
    if p.enabled {
        let name = &p.server_name;
        if !(3..=63).contains(&name.len()) || !is_dns_label(name) {
            return Err(invalid(
                "postgres.server_name",
                name,
                "3-63 lowercase letters, digits and '-', not starting or ending with '-'",
            ));
        }
        let login = &p.admin_login;
        let login_ok = (1..=63).contains(&login.len())
            && login
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && !login.starts_with("pg_")
            && !RESERVED_PG_LOGINS.contains(&login.to_ascii_lowercase().as_str());
        if !login_ok {
            return Err(invalid(
                "postgres.admin_login",
                login,
                "1-63 letters or digits, not a reserved name (admin, root, azure_superuser, ...)",
            ));
        }
        if p.password.expose().len() < 8 {
            return Err(invalid(
                "postgres.password",
                "<redacted>",
                "at least 8 characters",
            ));
        }
        for (field, v) in [
            ("postgres.version", &p.version),
            ("postgres.sku_name", &p.sku_name),
        ] {
            if v.trim().is_empty() {
                return Err(invalid(field, v, "a non-empty value"));
            }
        }
        if !["Burstable", "GeneralPurpose", "MemoryOptimized"].contains(&p.tier.as_str()) {
            return Err(invalid(
                "postgres.tier",
                &p.tier,
                "Burstable, GeneralPurpose or MemoryOptimized",
            ));
        }
        for (i, db) in p.databases.iter().enumerate() {
            let ok = !db.is_empty()
                && db.len() <= 63
                && db
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
            if !ok {
                return Err(invalid(
                    format!("postgres.databases[{i}]"),
                    db,
                    "1-63 of [A-Za-z0-9_-]",
                ));
            }
        }
    }
    Ok(())
}

//! From the store's records to what the hosts' network and PostgreSQL servers need: the
//! subnets routed inside a VNet, the private DNS names a VNet's hosts resolve (the records
//! Azure registers in a private DNS zone linked to the VNet) and one spec per
//! VNet-integrated flexible server (`PgSpec`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::arm::store::{Res, Store};
use crate::arm::types::subnet_prefix;

const SERVER: &str = "Microsoft.DBforPostgreSQL/flexibleServers";
const DATABASE: &str = "Microsoft.DBforPostgreSQL/flexibleServers/databases";
const LINK: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";

/// What a VNet-integrated flexible server record asks of its PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSpec {
    /// Lower-case server resource id.
    pub key: String,
    /// Server name (the first label of its FQDN).
    pub name: String,
    /// `properties.fullyQualifiedDomainName`.
    pub fqdn: String,
    /// `properties.administratorLogin`.
    pub admin: String,
    /// The address the local cloud gave it in its delegated subnet.
    pub ip: Ipv4Addr,
    pub subnet: Ipv4Net,
    /// The other subnets of its VNet (routed on-link, as Azure routes inside a VNet).
    pub routes: Vec<Ipv4Net>,
    /// Databases with a record that is not being deleted.
    pub databases: Vec<String>,
    /// `properties.version` (the major version asked for).
    pub version: String,
    /// The server's operation in flight: a new one may carry a new password.
    pub generation: Option<String>,
    /// Set when the record cannot be realized.
    pub problem: Option<String>,
}

/// The VNet id of a subnet id (`.../virtualNetworks/v/subnets/s` -> `.../virtualNetworks/v`).
pub fn vnet_of(subnet_id: &str) -> &str {
    let lower = subnet_id.to_ascii_lowercase();
    match lower.rfind("/subnets/") {
        Some(i) => &subnet_id[..i],
        None => subnet_id,
    }
}

/// Every IPv4 prefix of the VNet's subnets but `own`.
pub fn vnet_routes(store: &Store, vnet_id: &str, own: Ipv4Net) -> Vec<Ipv4Net> {
    let Some(vnet) = store.get(vnet_id) else {
        return Vec::new();
    };
    let mut routes: Vec<Ipv4Net> = vnet
        .body
        .pointer("/properties/subnets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(subnet_prefix)
        .map(|p| p.trunc())
        .filter(|p| *p != own)
        .collect();
    routes.sort();
    routes.dedup();
    routes
}

/// The names the hosts of VNet `vnet_id` resolve to the local cloud's servers: for each
/// realized server whose private DNS zone is linked to the VNet, its FQDN and its record
/// in the zone (`<name>.<zone>`), as Azure's DNS answers them there.
pub fn private_names(store: &Store, vnet_id: &str) -> Vec<(Ipv4Addr, String)> {
    let mut names = Vec::new();
    // A server being created too: its name resolves before its operation ends, as Azure
    // registers the record while it provisions.
    let servers = store
        .resources
        .values()
        .filter(|r| r.rtype.eq_ignore_ascii_case(SERVER));
    for s in servers {
        let Some(ip) = local_address(s) else {
            continue;
        };
        let Some(zone) = s
            .body
            .pointer("/properties/network/privateDnsZoneArmResourceId")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let prefix = format!("{}/virtualnetworklinks/", zone.to_ascii_lowercase());
        let linked = store.of_type(LINK).any(|l| {
            l.key().starts_with(&prefix)
                && l.body
                    .pointer("/properties/virtualNetwork/id")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(vnet_id))
        });
        if !linked {
            continue;
        }
        let zone_name = crate::arm::ids::name_of(zone).to_ascii_lowercase();
        let fqdn = s.body["properties"]["fullyQualifiedDomainName"]
            .as_str()
            .unwrap_or_default();
        names.push((ip, format!("{fqdn} {}.{zone_name}", s.name())));
    }
    names.sort();
    names
}

/// The address the local cloud gave a server (`properties.localCloud.address`).
fn local_address(server: &Res) -> Option<Ipv4Addr> {
    server
        .body
        .pointer("/properties/localCloud/address")
        .and_then(Value::as_str)?
        .parse()
        .ok()
}

/// A spec for every flexible server with a delegated subnet and an address (including one
/// whose create is in flight).
pub fn pg_specs(store: &Store) -> Vec<PgSpec> {
    store
        .resources
        .values()
        .filter(|r| r.rtype.eq_ignore_ascii_case(SERVER))
        .filter_map(|s| pg_spec(store, s))
        .collect()
}

fn pg_spec(store: &Store, s: &Res) -> Option<PgSpec> {
    let sid = s
        .body
        .pointer("/properties/network/delegatedSubnetResourceId")
        .and_then(Value::as_str)?;
    let ip = local_address(s)?;
    let text = |p: &str| {
        s.body
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let subnet = store.inline_child(sid).and_then(subnet_prefix);
    let mut problem = None;
    if subnet.is_none() {
        problem = Some(format!("subnet {sid} not found or without an IPv4 prefix"));
    }
    let subnet = subnet.map(|p| p.trunc()).unwrap_or_default();
    let prefix = format!("{}/databases/", s.key());
    let mut databases: Vec<String> = store
        .resources
        .values()
        .filter(|d| d.rtype.eq_ignore_ascii_case(DATABASE) && d.key().starts_with(&prefix))
        .filter(|d| d.provisioning_state() != Some("Deleting"))
        .map(|d| d.name().to_string())
        .collect();
    databases.sort();
    Some(PgSpec {
        key: s.key(),
        name: s.name().to_ascii_lowercase(),
        fqdn: text("/properties/fullyQualifiedDomainName"),
        admin: text("/properties/administratorLogin"),
        ip,
        subnet,
        routes: vnet_routes(store, vnet_of(sid), subnet),
        databases,
        version: text("/properties/version"),
        generation: s.pending_op.clone(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vnet_of_a_subnet_is_its_parent() {
        assert_eq!(
            vnet_of("/s/x/providers/Microsoft.Network/virtualNetworks/v/subnets/pg"),
            "/s/x/providers/Microsoft.Network/virtualNetworks/v"
        );
    }
}

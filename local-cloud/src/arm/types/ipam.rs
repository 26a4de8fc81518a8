//! Address allocation: private IPs from a subnet's prefix, public IPs from documentation ranges.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

use super::super::store::Store;
use crate::error::ArmError;

/// Public addresses come from TEST-NET-3 then TEST-NET-2 (RFC 5737): never routable.
const PUBLIC_RANGES: [&str; 2] = ["203.0.113.0/24", "198.51.100.0/24"];

/// The first IPv4 prefix of a subnet body.
pub fn subnet_prefix(subnet: &Value) -> Option<Ipv4Net> {
    let p = subnet
        .pointer("/properties/addressPrefix")
        .and_then(Value::as_str)
        .or_else(|| {
            subnet
                .pointer("/properties/addressPrefixes/0")
                .and_then(Value::as_str)
        })?;
    p.parse().ok()
}

/// Private addresses in use in `subnet_id` by NICs' ipConfigurations and load balancers'
/// private frontends, but those of resource `except` (the one being PUT).
pub fn used_private(store: &Store, subnet_id: &str, except: &str) -> HashSet<Ipv4Addr> {
    let mut used = HashSet::new();
    for res in store.resources.values() {
        let key = match res.rtype.as_str() {
            "Microsoft.Network/networkInterfaces" => "ipConfigurations",
            "Microsoft.Network/loadBalancers" => "frontendIPConfigurations",
            _ => continue,
        };
        if res.id.eq_ignore_ascii_case(except) {
            continue;
        }
        for cfg in res
            .body
            .pointer(&format!("/properties/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let same = cfg
                .pointer("/properties/subnet/id")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id));
            let ip = cfg
                .pointer("/properties/privateIPAddress")
                .and_then(Value::as_str);
            if same && let Some(Ok(ip)) = ip.map(str::parse) {
                used.insert(ip);
            }
        }
    }
    used
}

/// Allocates the lowest free address of the subnet. Azure reserves the network address,
/// the next three and the broadcast address, so the first usable one is `.4`.
pub fn allocate_private(
    store: &Store,
    subnet_id: &str,
    prefix: Ipv4Net,
    except_nic: &str,
    taken: &HashSet<Ipv4Addr>,
) -> Result<Ipv4Addr, ArmError> {
    let used = used_private(store, subnet_id, except_nic);
    let hosts: Vec<Ipv4Addr> = prefix.hosts().collect();
    let net = u32::from(prefix.network());
    let bcast = u32::from(prefix.broadcast());
    hosts
        .into_iter()
        .filter(|ip| {
            let n = u32::from(*ip);
            n >= net + 4 && n < bcast
        })
        .find(|ip| !used.contains(ip) && !taken.contains(ip))
        .ok_or_else(|| {
            ArmError::bad_request(
                "SubnetIsFull",
                format!(
                    "Subnet {subnet_id} with address prefix {prefix} does not have enough capacity."
                ),
            )
        })
}

/// Checks a static private address as Azure does: inside the subnet, not one of the
/// addresses Azure reserves (the first four and the broadcast), not held by another NIC or
/// frontend (`except` is the resource being PUT), nor in `taken`.
pub fn check_static(
    store: &Store,
    subnet_id: &str,
    prefix: Ipv4Net,
    ip: Ipv4Addr,
    except: &str,
    taken: &HashSet<Ipv4Addr>,
) -> Result<(), ArmError> {
    if !prefix.contains(&ip) {
        return Err(ArmError::bad_request(
            "PrivateIPAddressNotInSubnet",
            format!(
                "The private IP address {ip} is not in the address prefix {prefix} of subnet {subnet_id}."
            ),
        ));
    }
    let (n, net) = (u32::from(ip), u32::from(prefix.network()));
    if n < net + 4 || ip == prefix.broadcast() {
        return Err(ArmError::bad_request(
            "PrivateIPAddressInReservedRange",
            format!(
                "The private IP address {ip} is in a range Azure reserves in subnet {subnet_id} ({prefix}): the first four addresses and the last."
            ),
        ));
    }
    if taken.contains(&ip) || used_private(store, subnet_id, except).contains(&ip) {
        return Err(ArmError::bad_request(
            "PrivateIPAddressInUse",
            format!("The private IP address {ip} of subnet {subnet_id} is already in use."),
        ));
    }
    Ok(())
}

/// Allocates a public address not used by any public IP resource nor in `taken`, and, with
/// hosts, not held by another local cloud on this machine.
pub fn allocate_public(store: &Store, taken: &HashSet<Ipv4Addr>) -> Result<Ipv4Addr, ArmError> {
    let used: HashSet<Ipv4Addr> = store
        .resources
        .values()
        .filter(|r| r.rtype == "Microsoft.Network/publicIPAddresses")
        .filter_map(|r| {
            r.body
                .pointer("/properties/ipAddress")
                .and_then(Value::as_str)
        })
        .filter_map(|s| s.parse().ok())
        .collect();
    PUBLIC_RANGES
        .iter()
        .filter_map(|r| r.parse::<Ipv4Net>().ok())
        .flat_map(|n| n.hosts().collect::<Vec<_>>())
        .find(|ip| {
            !used.contains(ip)
                && !taken.contains(ip)
                && store.claims.as_ref().is_none_or(|c| c.claim(*ip))
        })
        .ok_or_else(|| {
            ArmError::bad_request(
                "PublicIPCountLimitReached",
                "No public IP addresses are left in the local cloud.",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_allocation_skips_reserved_and_taken() {
        let store = Store::default();
        let prefix: Ipv4Net = "10.0.1.0/29".parse().unwrap();
        let mut taken = HashSet::new();
        let a = allocate_private(&store, "s", prefix, "", &taken).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 0, 1, 4));
        taken.insert(a);
        let b = allocate_private(&store, "s", prefix, "", &taken).unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 0, 1, 5));
        taken.insert(b);
        taken.insert(Ipv4Addr::new(10, 0, 1, 6));
        assert_eq!(
            allocate_private(&store, "s", prefix, "", &taken)
                .unwrap_err()
                .detail
                .code,
            "SubnetIsFull"
        );
    }

    #[test]
    fn public_allocation_uses_test_net() {
        let ip = allocate_public(&Store::default(), &HashSet::new()).unwrap();
        assert_eq!(ip, Ipv4Addr::new(203, 0, 113, 1));
    }
}

//! From the store's load balancers to what the forwarders realize: per TCP load-balancing
//! rule, the frontend address and port (a public IP's address, or a private frontend's
//! `privateIPAddress`), the backend port, the pool's members (the private addresses of the
//! NIC ipConfigurations whose `loadBalancerBackendAddressPools` name the pool) and the
//! rule's health probe.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::Value;

use crate::arm::store::Store;

const LB: &str = "Microsoft.Network/loadBalancers";
const NIC: &str = "Microsoft.Network/networkInterfaces";
const PIP: &str = "Microsoft.Network/publicIPAddresses";

/// One load balancer's realizable rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSpec {
    /// Lower-case id.
    pub key: String,
    pub name: String,
    pub rules: Vec<RuleSpec>,
}

/// A TCP load-balancing rule: `frontend:frontend_port` to `member:backend_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub name: String,
    pub frontend: Ipv4Addr,
    /// Whether the frontend is a public IP resource's address (else a private frontend).
    pub public: bool,
    pub frontend_port: u16,
    pub backend_port: u16,
    /// Sorted, without duplicates.
    pub members: Vec<Ipv4Addr>,
    pub probe: Option<ProbeSpec>,
}

/// A health probe: members that fail `threshold` probes in a row get no new connections;
/// one success brings a member back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub port: u16,
    /// `Some(path)` for `Http` probes (`requestPath`), `None` for `Tcp` (and `Https`, probed
    /// as a TCP connect: the forwarder speaks no TLS).
    pub http_path: Option<String>,
    pub interval_secs: u64,
    pub threshold: u32,
}

fn text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn port(v: &Value, ptr: &str) -> Option<u16> {
    v.pointer(ptr)
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
}

/// The child of `lb` listed under `key` whose id is `id` (ids compare case-insensitively).
fn child<'a>(lb: &'a Value, key: &str, id: &str) -> Option<&'a Value> {
    lb.pointer(&format!("/properties/{key}"))?
        .as_array()?
        .iter()
        .find(|c| c["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

/// Every visible load balancer with the rules that can be realized (TCP, an IPv4 frontend).
pub fn lb_specs(store: &Store) -> Vec<LbSpec> {
    store
        .of_type(LB)
        .map(|lb| LbSpec {
            key: lb.key(),
            name: lb.name().to_string(),
            rules: rules(store, &lb.body),
        })
        .collect()
}

fn rules(store: &Store, lb: &Value) -> Vec<RuleSpec> {
    let Some(rules) = lb
        .pointer("/properties/loadBalancingRules")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    rules
        .iter()
        .filter(|r| text(r, "/properties/protocol").is_some_and(|p| p.eq_ignore_ascii_case("Tcp")))
        .filter_map(|r| {
            let fe_id = text(r, "/properties/frontendIPConfiguration/id")?;
            let (frontend, public) =
                frontend_address(store, child(lb, "frontendIPConfigurations", fe_id)?)?;
            let frontend_port = port(r, "/properties/frontendPort")?;
            let backend_port = match port(r, "/properties/backendPort") {
                Some(0) | None => frontend_port,
                Some(p) => p,
            };
            let pool = text(r, "/properties/backendAddressPool/id")?;
            let probe = text(r, "/properties/probe/id")
                .and_then(|id| child(lb, "probes", id))
                .and_then(probe);
            Some(RuleSpec {
                name: r["name"].as_str().unwrap_or_default().to_string(),
                frontend,
                public,
                frontend_port,
                backend_port,
                members: members(store, pool),
                probe,
            })
        })
        .collect()
}

/// The frontend's address, and whether it is public.
fn frontend_address(store: &Store, fe: &Value) -> Option<(Ipv4Addr, bool)> {
    if let Some(pip) = text(fe, "/properties/publicIPAddress/id") {
        let pip = store.visible(pip).filter(|r| r.rtype == PIP)?;
        let ip = text(&pip.body, "/properties/ipAddress")?.parse().ok()?;
        return Some((ip, true));
    }
    let ip = text(fe, "/properties/privateIPAddress")?.parse().ok()?;
    Some((ip, false))
}

/// The addresses of every public IP resource (this cloud claims them machine-wide).
pub fn public_addresses(store: &Store) -> HashSet<Ipv4Addr> {
    store
        .resources
        .values()
        .filter(|r| r.rtype == PIP)
        .filter_map(|r| text(&r.body, "/properties/ipAddress")?.parse().ok())
        .collect()
}

fn probe(p: &Value) -> Option<ProbeSpec> {
    let protocol = text(p, "/properties/protocol")?;
    let http = protocol.eq_ignore_ascii_case("Http");
    let num = |ptr: &str| p.pointer(ptr).and_then(Value::as_u64);
    Some(ProbeSpec {
        port: port(p, "/properties/port")?,
        http_path: http.then(|| {
            text(p, "/properties/requestPath")
                .unwrap_or("/")
                .to_string()
        }),
        // Azure's defaults: every 5 s; `probeThreshold` (or the older `numberOfProbes`) 1.
        interval_secs: num("/properties/intervalInSeconds").unwrap_or(5).max(1),
        threshold: num("/properties/probeThreshold")
            .or_else(|| num("/properties/numberOfProbes"))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1)
            .max(1),
    })
}

/// Private addresses of the NIC ipConfigurations in `pool` (scale-set VMs' NICs carry the
/// scale set's `loadBalancerBackendAddressPools`).
fn members(store: &Store, pool: &str) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = store
        .of_type(NIC)
        .flat_map(|nic| {
            nic.body
                .pointer("/properties/ipConfigurations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|cfg| {
            cfg.pointer("/properties/loadBalancerBackendAddressPools")
                .and_then(Value::as_array)
                .is_some_and(|pools| {
                    pools.iter().any(|p| {
                        p["id"]
                            .as_str()
                            .is_some_and(|i| i.eq_ignore_ascii_case(pool))
                    })
                })
        })
        .filter_map(|cfg| text(&cfg, "/properties/privateIPAddress")?.parse().ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

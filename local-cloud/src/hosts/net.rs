//! Host networking: one bridge per local cloud instance holding each subnet's gateway
//! address (`.1`) with its services (`gateway`), and per host a network namespace joined to
//! it by a veth pair. The bridge has no uplink and nothing forwards or NATs, so host
//! addresses are reachable from this machine only; the subnets of one VNet reach each
//! other on-link (`set_routes`).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::HostError;
use super::gateway::{self, Service};
use super::sys::{run, run_quiet};

/// The instance's bridge: created on first use, gateway addresses added per subnet.
#[derive(Debug)]
pub struct Bridge {
    pub name: String,
    created: bool,
    /// Each subnet whose gateway the bridge holds, with the services listening on it.
    subnets: HashMap<Ipv4Net, Vec<Service>>,
}

impl Bridge {
    /// A bridge not created yet.
    pub fn new(name: String) -> Self {
        Self {
            name,
            created: false,
            subnets: HashMap::new(),
        }
    }

    /// Creates the bridge if needed and gives it the gateway (first host address) of
    /// `subnet` with its services (the release mirror), after checking that no other interface routes an overlapping prefix (another
    /// local cloud with hosts on the same address space would make both unreachable).
    pub async fn ensure_subnet(&mut self, subnet: Ipv4Net) -> Result<(), HostError> {
        if self.subnets.contains_key(&subnet) {
            return Ok(());
        }
        check_free(&self.name, subnet).await?;
        self.ensure_created().await?;
        let gw = format!("{}/{}", gateway(subnet), subnet.prefix_len());
        run("ip", &["addr", "replace", &gw, "dev", &self.name]).await?;
        let services = gateway::start(gateway(subnet)).await?;
        self.subnets.insert(subnet, services);
        Ok(())
    }

    /// Creates the bridge (up, no address) if this instance has not yet.
    pub async fn ensure_created(&mut self) -> Result<(), HostError> {
        if !self.created {
            run_quiet("ip", &["link", "del", &self.name]).await;
            run("ip", &["link", "add", &self.name, "type", "bridge"]).await?;
            run("ip", &["link", "set", &self.name, "up"]).await?;
            self.created = true;
        }
        Ok(())
    }

    /// Adds `ip/32` to the bridge (a load balancer's frontend), creating the bridge if
    /// needed: the address is then local to this machine and routed to by every host.
    pub async fn add_address(&mut self, ip: Ipv4Addr) -> Result<(), HostError> {
        self.ensure_created().await?;
        run(
            "ip",
            &["addr", "replace", &format!("{ip}/32"), "dev", &self.name],
        )
        .await?;
        Ok(())
    }

    /// Removes `ip/32` from the bridge.
    pub async fn remove_address(&mut self, ip: Ipv4Addr) {
        if self.created {
            run_quiet(
                "ip",
                &["addr", "del", &format!("{ip}/32"), "dev", &self.name],
            )
            .await;
        }
    }

    /// Stops the gateway services and deletes the bridge (its veth ends go with the
    /// namespaces).
    pub async fn remove(&mut self) {
        for (_, services) in self.subnets.drain() {
            for s in services {
                s.stop().await;
            }
        }
        if self.created {
            run_quiet("ip", &["link", "del", &self.name]).await;
        }
        self.created = false;
    }
}

/// The gateway Azure gives a subnet: its first host address (`.1`).
pub fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

async fn check_free(bridge: &str, subnet: Ipv4Net) -> Result<(), HostError> {
    let routes = run("ip", &["-4", "-o", "route", "show"]).await?;
    for line in routes.lines() {
        let mut words = line.split_whitespace();
        let Some(Ok(dest)) = words.next().map(str::parse::<Ipv4Net>) else {
            continue; // `default` or a host route without a prefix
        };
        let dev = line
            .split_whitespace()
            .skip_while(|w| *w != "dev")
            .nth(1)
            .unwrap_or_default();
        if dev != bridge && (dest.contains(&subnet) || subnet.contains(&dest)) {
            return Err(HostError::AddressInUse {
                subnet: subnet.to_string(),
                route: dest.to_string(),
                dev: dev.to_string(),
            });
        }
    }
    Ok(())
}

/// Creates namespace `netns` (replacing a stale one) with `eth0` = `ip`/`subnet` on the
/// bridge through veth `veth`, loopback up, and with `default_route` a default route via
/// the gateway (a PostgreSQL server's namespace has none: its delegated subnet has no
/// gateway on this machine, so this machine cannot reach it).
pub async fn create_netns(
    netns: &str,
    veth: &str,
    bridge: &str,
    (ip, subnet): (Ipv4Addr, Ipv4Net),
    default_route: bool,
) -> Result<(), HostError> {
    remove_netns(netns, veth).await;
    run("ip", &["netns", "add", netns]).await?;
    run(
        "ip",
        &[
            "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns,
        ],
    )
    .await?;
    run("ip", &["link", "set", veth, "master", bridge, "up"]).await?;
    let addr = format!("{ip}/{}", subnet.prefix_len());
    run("ip", &["-n", netns, "addr", "add", &addr, "dev", "eth0"]).await?;
    run("ip", &["-n", netns, "link", "set", "eth0", "up"]).await?;
    run("ip", &["-n", netns, "link", "set", "lo", "up"]).await?;
    if default_route {
        let gw = gateway(subnet).to_string();
        run("ip", &["-n", netns, "route", "add", "default", "via", &gw]).await?;
    }
    Ok(())
}

/// Routes each of `new` on-link through `eth0` of `netns` and removes the routes of `old`
/// no longer in `new`. The instance's hosts share one bridge, so a VNet's subnets reach
/// each other on-link without a router, and a VNet without such a route to another (no
/// peering) sends through its gateway on this machine, which forwards nothing.
pub async fn set_routes(netns: &str, old: &[Ipv4Net], new: &[Ipv4Net]) -> Result<(), HostError> {
    for gone in old.iter().filter(|p| !new.contains(p)) {
        run_quiet(
            "ip",
            &[
                "-n",
                netns,
                "route",
                "del",
                &gone.to_string(),
                "dev",
                "eth0",
            ],
        )
        .await;
    }
    for p in new {
        run(
            "ip",
            &[
                "-n",
                netns,
                "route",
                "replace",
                &p.to_string(),
                "dev",
                "eth0",
            ],
        )
        .await?;
    }
    Ok(())
}

/// Deletes the namespace and the veth (gone already when the namespace's end went).
pub async fn remove_netns(netns: &str, veth: &str) {
    run_quiet("ip", &["netns", "del", netns]).await;
    run_quiet("ip", &["link", "del", veth]).await;
}

/// Whether namespace `netns` exists.
pub fn netns_exists(netns: &str) -> bool {
    std::path::Path::new("/run/netns").join(netns).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_is_the_first_host_address() {
        assert_eq!(
            gateway("10.10.1.0/24".parse().unwrap()),
            Ipv4Addr::new(10, 10, 1, 1)
        );
    }
}

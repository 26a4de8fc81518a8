//! Machine-wide claims on the public addresses a local cloud with hosts hands out, so two
//! clouds on one machine (tests run in parallel) never allocate, and then forward, the same
//! TEST-NET address: a claim is a TCP socket bound with `IP_FREEBIND` to `<address>:1`
//! (without `SO_REUSEADDR`), which the kernel gives to one socket only and frees when the
//! process ends. The address itself is added to the bridge only when a load balancer's
//! frontend uses it (`forward`).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, socket_with, sockopt};

use crate::arm::store::AddressClaims;

/// The port a claim binds (tcpmux, which nothing here serves).
const CLAIM_PORT: u16 = 1;

/// This cloud's claims.
#[derive(Debug, Default)]
pub struct Claims {
    held: Mutex<HashMap<Ipv4Addr, OwnedFd>>,
}

fn try_claim(ip: Ipv4Addr) -> std::io::Result<OwnedFd> {
    let fd = socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_ip_freebind(&fd, true)?;
    bind(&fd, &SocketAddrV4::new(ip, CLAIM_PORT))?;
    Ok(fd)
}

impl Claims {
    /// Holds exactly the addresses in `wanted` (the public IPs in the store): claims the
    /// missing ones (a stored address another cloud holds is logged, it stays a record) and
    /// frees the others.
    pub fn reconcile(&self, wanted: &HashSet<Ipv4Addr>) {
        let mut held = super::realizer::lock(&self.held);
        held.retain(|ip, _| wanted.contains(ip));
        for ip in wanted {
            if held.contains_key(ip) {
                continue;
            }
            match try_claim(*ip) {
                Ok(fd) => {
                    held.insert(*ip, fd);
                }
                Err(e) => {
                    tracing::debug!(%ip, error = %e, "public address held elsewhere on this machine");
                }
            }
        }
    }

    /// Whether this cloud holds `ip`.
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        super::realizer::lock(&self.held).contains_key(&ip)
    }
}

impl AddressClaims for Claims {
    fn claim(&self, ip: Ipv4Addr) -> bool {
        let mut held = super::realizer::lock(&self.held);
        if held.contains_key(&ip) {
            return true;
        }
        match try_claim(ip) {
            Ok(fd) => {
                held.insert(ip, fd);
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_claimed_by_one_cloud_only() {
        let (a, b) = (Claims::default(), Claims::default());
        let ip = Ipv4Addr::new(198, 51, 100, 250);
        assert!(a.claim(ip));
        assert!(a.claim(ip), "a claim is kept");
        assert!(!b.claim(ip), "another cloud cannot claim it");
        a.reconcile(&HashSet::new());
        assert!(!a.holds(ip));
        assert!(b.claim(ip), "a freed address can be claimed");
    }
}

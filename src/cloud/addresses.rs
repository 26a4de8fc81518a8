//! Address spaces for local clusters: a local cloud with real hosts puts each subnet's
//! gateway on a bridge of this machine, so two local clusters on one machine need disjoint
//! VNets. `platform init --cloud local` picks a /16 that no route of this machine uses.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The IPv4 routes of this machine's network namespace (from `/proc/net/route`, readable
/// without root), without the default route.
pub fn machine_routes() -> Vec<Ipv4Net> {
    machine_routes_by_iface()
        .into_iter()
        .map(|(_, net)| net)
        .collect()
}

/// Like [`machine_routes`], with the interface each route goes through (a local cloud's
/// bridges are named after its instance, so its own routes can be told apart).
pub fn machine_routes_by_iface() -> Vec<(String, Ipv4Net)> {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_routes(&t))
        .unwrap_or_default()
}

fn parse_routes(text: &str) -> Vec<(String, Ipv4Net)> {
    // The file prints each address as the hex of a u32 holding its bytes little-endian.
    let bytes = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_le_bytes);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            let dest = Ipv4Addr::from(bytes(f.get(1)?)?);
            let prefix = u32::from_be_bytes(bytes(f.get(7)?)?).leading_ones() as u8;
            Some(((*f.first()?).to_owned(), Ipv4Net::new(dest, prefix).ok()?))
        })
        .filter(|(_, n)| n.prefix_len() > 0)
        .collect()
}

/// The first `10.N.0.0/16` that overlaps none of `used` (nor k3s's default pod and service
/// ranges, 10.42/16 and 10.43/16); `10.0.0.0/16` when it is free.
pub fn free_address_space(used: &[Ipv4Net]) -> Option<Ipv4Net> {
    (0u8..=255)
        .filter(|n| *n != 42 && *n != 43)
        .filter_map(|n| Ipv4Net::new(Ipv4Addr::new(10, n, 0, 0), 16).ok())
        .find(|cand| !used.iter().any(|u| crate::config::overlap(cand, u)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
plcbr\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn reads_routes_and_picks_a_free_slash_16() {
        let with_iface = parse_routes(ROUTES);
        assert_eq!(with_iface[1].0, "plcbr");
        let r: Vec<Ipv4Net> = with_iface.into_iter().map(|(_, n)| n).collect();
        assert_eq!(
            r,
            [
                "192.0.2.0/24".parse::<Ipv4Net>().unwrap(),
                "10.0.1.0/24".parse().unwrap()
            ]
        );
        // 10.0.1.0/24 is a bridge of another local cluster: 10.0/16 is taken.
        assert_eq!(free_address_space(&r), Some("10.1.0.0/16".parse().unwrap()));
        assert_eq!(
            free_address_space(&[]),
            Some("10.0.0.0/16".parse().unwrap())
        );
        let busy: Vec<Ipv4Net> = (0..=41)
            .map(|n| format!("10.{n}.0.0/16").parse().unwrap())
            .collect();
        assert_eq!(
            free_address_space(&busy),
            Some("10.44.0.0/16".parse().unwrap())
        );
        assert_eq!(free_address_space(&["10.0.0.0/8".parse().unwrap()]), None);
    }
}

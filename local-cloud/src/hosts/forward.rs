//! Load balancers realized as TCP forwarders in the local cloud's process: per rule, a
//! listener on the frontend (its address added as a /32 on the instance's bridge, so this
//! machine and every host reach it), a prober that marks each backend member up or down
//! with the rule's health probe, and for each accepted connection a connection to one
//! healthy member's backend port (chosen by a hash of the client's address and port, as
//! Azure's distribution keeps a flow on one member), bytes copied both ways.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::gateway::Service;
use super::lbspec::{LbSpec, ProbeSpec, RuleSpec};
use super::net::Bridge;
use super::realizer::lock;

/// How long a connection to a member or a probe may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest probe interval, whatever the time factor (many members on two cores).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Members' health: up after `threshold` successful probes in a row, down after as many
/// failed ones (Azure's `probeThreshold`); a member not probed yet is down, so no
/// connection goes to a member never seen up.
type Health = Arc<Mutex<HashMap<Ipv4Addr, Member>>>;

#[derive(Debug, Default, Clone, Copy)]
struct Member {
    up: bool,
    /// Consecutive probes that disagreed with `up`.
    streak: u32,
}

/// One realized rule: its listener and prober, and where updates to its members go.
struct Rule {
    spec: watch::Sender<RuleSpec>,
    tasks: [Service; 2],
}

impl Rule {
    /// Stops the rule and waits until its listener is closed (open connections stay).
    async fn stop(self) {
        for t in self.tasks {
            t.stop().await;
        }
    }
}

/// The realized load balancers of one cloud.
#[derive(Default)]
pub(super) struct Forwarders {
    /// (lb key, rule name, frontend, frontend port) -> the running rule.
    rules: HashMap<(String, String, Ipv4Addr, u16), Rule>,
    /// Frontend addresses this cloud added to the bridge.
    addresses: HashSet<Ipv4Addr>,
}

impl Forwarders {
    /// Brings the forwarders in line with `lbs`: rules that went away stop, new ones start,
    /// changed members, ports or probes of a running rule apply to its next connections.
    /// `holds` tells whether this cloud holds a public address (`claim`); private
    /// frontends are the cloud's own by its VNet.
    pub async fn apply(
        &mut self,
        lbs: &[LbSpec],
        bridge: &tokio::sync::Mutex<Bridge>,
        factor: f64,
        holds: impl Fn(Ipv4Addr) -> bool,
    ) {
        let mut wanted = HashMap::new();
        for lb in lbs {
            for r in &lb.rules {
                let key = (lb.key.clone(), r.name.clone(), r.frontend, r.frontend_port);
                wanted.insert(key, (lb.name.clone(), r.clone()));
            }
        }
        let gone: Vec<_> = self
            .rules
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(rule) = self.rules.remove(&k) {
                rule.stop().await;
            }
        }
        let frontends: HashSet<Ipv4Addr> = wanted.keys().map(|k| k.2).collect();
        for ip in self.addresses.clone() {
            if !frontends.contains(&ip) {
                bridge.lock().await.remove_address(ip).await;
                self.addresses.remove(&ip);
            }
        }
        for (key, (lb, spec)) in wanted {
            if let Some(rule) = self.rules.get(&key) {
                rule.spec.send_if_modified(|cur| {
                    let changed = *cur != spec;
                    *cur = spec.clone();
                    changed
                });
                continue;
            }
            if !self.addresses.contains(&spec.frontend) {
                if spec.public && !holds(spec.frontend) {
                    tracing::warn!(lb, frontend = %spec.frontend, "frontend address held by another local cloud on this machine: not forwarded");
                    continue;
                }
                if let Err(e) = bridge.lock().await.add_address(spec.frontend).await {
                    tracing::warn!(lb, error = %e, "load balancer frontend not realized");
                    continue;
                }
                self.addresses.insert(spec.frontend);
            }
            match start(spec, factor).await {
                Ok(rule) => {
                    self.rules.insert(key, rule);
                }
                Err(e) => tracing::warn!(lb, error = %e, "load balancer rule not realized"),
            }
        }
    }
}

async fn start(spec: RuleSpec, factor: f64) -> std::io::Result<Rule> {
    let listener = TcpListener::bind(SocketAddr::from((spec.frontend, spec.frontend_port))).await?;
    tracing::debug!(rule = %spec.name, frontend = %spec.frontend, port = spec.frontend_port, "load balancer rule forwarding");
    let (tx, rx) = watch::channel(spec);
    let health: Health = Arc::default();
    let prober = tokio::spawn(probe_loop(rx.clone(), health.clone(), factor));
    let accept = tokio::spawn(accept_loop(listener, rx, health));
    Ok(Rule {
        spec: tx,
        tasks: [Service::new(prober), Service::new(accept)],
    })
}

async fn accept_loop(listener: TcpListener, spec: watch::Receiver<RuleSpec>, health: Health) {
    loop {
        let Ok((client, peer)) = listener.accept().await else {
            continue;
        };
        let rule = spec.borrow().clone();
        let healthy: Vec<Ipv4Addr> = {
            let h = lock(&health);
            rule.members
                .iter()
                .copied()
                .filter(|m| rule.probe.is_none() || h.get(m).is_some_and(|s| s.up))
                .collect()
        };
        let Some(member) = pick(&healthy, peer) else {
            continue; // no healthy member: the connection is closed (Azure: no answer)
        };
        if std::net::IpAddr::V4(member) == peer.ip() && !rule.public {
            // Azure: a backend's flow to its own internal frontend that lands on itself fails.
            continue;
        }
        tokio::spawn(relay(client, SocketAddr::from((member, rule.backend_port))));
    }
}

/// The member a flow from `peer` goes to: the same one for the same source address and port.
fn pick(healthy: &[Ipv4Addr], peer: SocketAddr) -> Option<Ipv4Addr> {
    if healthy.is_empty() {
        return None;
    }
    let mut h = DefaultHasher::new();
    peer.hash(&mut h);
    let i = usize::try_from(h.finish() % healthy.len() as u64).unwrap_or(0);
    healthy.get(i).copied()
}

async fn relay(mut client: TcpStream, to: SocketAddr) {
    let Ok(Ok(mut backend)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await
    else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}

async fn probe_loop(mut spec: watch::Receiver<RuleSpec>, health: Health, factor: f64) {
    loop {
        let rule = spec.borrow_and_update().clone();
        let Some(probe) = rule.probe.clone() else {
            let _ = spec.changed().await;
            continue;
        };
        let interval =
            Duration::from_secs_f64(probe.interval_secs as f64 * factor).max(MIN_INTERVAL);
        let results = probe_all(&rule.members, &probe, interval).await;
        {
            let mut h = lock(&health);
            h.retain(|m, _| rule.members.contains(m));
            for (m, ok) in results {
                let e = h.entry(m).or_default();
                if ok == e.up {
                    e.streak = 0;
                } else {
                    e.streak += 1;
                    if e.streak >= probe.threshold {
                        *e = Member { up: ok, streak: 0 };
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            r = spec.changed() => if r.is_err() { return },
        }
    }
}

/// Probes every member at once; returns (member, passed).
async fn probe_all(
    members: &[Ipv4Addr],
    probe: &ProbeSpec,
    interval: Duration,
) -> Vec<(Ipv4Addr, bool)> {
    let timeout = interval.clamp(MIN_INTERVAL * 5, CONNECT_TIMEOUT);
    let tasks: Vec<_> = members
        .iter()
        .map(|m| {
            let (m, probe) = (*m, probe.clone());
            tokio::spawn(async move {
                let ok = tokio::time::timeout(timeout, probe_once(m, &probe))
                    .await
                    .unwrap_or(false);
                (m, ok)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            out.push(r);
        }
    }
    out
}

/// One probe: a TCP connect; for HTTP probes, a GET of the path answered 200.
async fn probe_once(member: Ipv4Addr, probe: &ProbeSpec) -> bool {
    let Ok(mut s) = TcpStream::connect((member, probe.port)).await else {
        return false;
    };
    let Some(path) = &probe.http_path else {
        return true;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {member}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

//! Leader election among servers (client-go's `leaderelection` over a `Lease`, as
//! kube-controller-manager runs it): the controllers a cluster needs once (pod CIDRs, the
//! node lifecycle, node and etcd member cleanup) act only on the server holding
//! `kube-system/kube-controller-manager`, so servers sharing one etcd never fight. Every
//! write is a compare-and-swap on the Lease's `resourceVersion`; a holder that has not
//! renewed for the lease duration (as observed by the others, not by comparing clocks) is
//! replaced.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::kubelet::now;
use super::log;

/// The Lease the controllers are elected by.
pub const LEASE: &str = "kube-controller-manager";

/// Lease timings: how long a silent holder keeps it, within how long a holder must renew
/// or stop acting, and how often everyone tries.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub duration: Duration,
    pub renew_deadline: Duration,
    pub retry: Duration,
}

struct Elector {
    leases: Api<Lease>,
    identity: String,
    t: Timings,
    /// The holder and renew time last seen, and when that record was first seen.
    observed: Option<((String, String), Instant)>,
    /// When this server last renewed successfully.
    renewed: Option<Instant>,
}

impl Elector {
    fn lease(&self, acquire: &str, transitions: i64) -> Lease {
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": "kube-system"},
            "spec": {"holderIdentity": self.identity,
                "leaseDurationSeconds": self.t.duration.as_secs().max(1),
                "acquireTime": acquire, "renewTime": now(true), "leaseTransitions": transitions},
        });
        serde_json::from_value(body).unwrap_or_default()
    }

    /// One round; whether this server leads after it.
    async fn round(&mut self) -> bool {
        let current = match self.leases.get_opt(LEASE).await {
            Ok(c) => c,
            // The API cannot be reached: keep leading only within the renew deadline.
            Err(_) => {
                return self
                    .renewed
                    .is_some_and(|r| r.elapsed() < self.t.renew_deadline);
            }
        };
        let Some(current) = current else {
            let fresh = self.lease(&now(true), 0);
            return self.wrote(self.leases.create(&PostParams::default(), &fresh).await);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let renew = serde_json::to_string(&spec.renew_time).unwrap_or_default();
        let record = (holder.clone(), renew);
        match &self.observed {
            Some((r, _)) if *r == record => {}
            _ => self.observed = Some((record, Instant::now())),
        }
        let ours = holder == self.identity;
        let expired = self
            .observed
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= self.t.duration);
        if !ours && !holder.is_empty() && !expired {
            self.renewed = None;
            return false;
        }
        let acquire = match (&spec.acquire_time, ours) {
            (Some(t), true) => serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| now(true)),
            _ => now(true),
        };
        let transitions = i64::from(spec.lease_transitions.unwrap_or(0)) + i64::from(!ours);
        let mut next = self.lease(&acquire, transitions);
        next.metadata.resource_version = current.metadata.resource_version.clone();
        let written = self
            .leases
            .replace(LEASE, &PostParams::default(), &next)
            .await;
        self.wrote(written)
    }

    fn wrote(&mut self, result: kube::Result<Lease>) -> bool {
        match result {
            Ok(_) => {
                self.renewed = Some(Instant::now());
                true
            }
            // Another server wrote first (409) or the API failed: leading only while the
            // last renewal is recent enough.
            Err(_) => self
                .renewed
                .is_some_and(|r| r.elapsed() < self.t.renew_deadline),
        }
    }
}

/// Starts electing with `identity`; the receiver tells whether this server leads now.
pub fn spawn(client: kube::Client, identity: String, t: Timings) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let mut e = Elector {
        leases: Api::namespaced(client, "kube-system"),
        identity,
        t,
        observed: None,
        renewed: None,
    };
    tokio::spawn(async move {
        loop {
            let leads = e.round().await;
            if leads != *tx.borrow() {
                if leads {
                    log::info(format!("successfully acquired lease kube-system/{LEASE}"));
                } else {
                    log::info(format!("lost lease kube-system/{LEASE}"));
                }
                let _ = tx.send(leads);
            }
            tokio::time::sleep(e.t.retry).await;
        }
    });
    rx
}

//! A new server's member joins the cluster (k3s's `join`): the members from the join
//! server's `/db/info`, a duplicate node name refused, this member added as a learner
//! through the voters' client URLs (the join server's first), then started with
//! `initial-cluster-state=existing`. etcd's "too many learners" and "unhealthy cluster"
//! (another member still joining) and a member list that cannot be fetched are retried
//! every second (scaled); anything else fails the join.

use std::time::Duration;

use kube_standin::store::etcd::{EtcdConfig, EtcdStore, Member};

use super::process::MemberProcess;
use super::{ManagedEtcd, message};
use crate::k3s::bootstrap::Join;
use crate::k3s::log;

/// Why one join attempt did not finish.
enum Retry {
    /// The member list could not be fetched.
    Members(String),
    /// etcd refused the change for now.
    Busy(String),
    Fatal(String),
}

fn host(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_owned())
}

/// The voters' client URLs, the join server's first, this server's own left out.
fn client_urls(members: &[Member], own: &str, join_host: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for m in members.iter().filter(|m| !m.is_learner) {
        let hosts: Vec<String> = m.client_urls.iter().filter_map(|u| host(u)).collect();
        if hosts.iter().any(|h| h == own) {
            continue;
        }
        if hosts.iter().any(|h| h == join_host) {
            urls.splice(0..0, m.client_urls.iter().cloned());
        } else {
            urls.extend(m.client_urls.iter().cloned());
        }
    }
    urls
}

/// One attempt: the `name=peerURL` list to start with.
async fn attempt(etcd: &ManagedEtcd, via: &Join) -> Result<Vec<String>, Retry> {
    let members = via.members().await.map_err(Retry::Members)?;
    let own = etcd.address.to_string();
    let join_host = host(via.base()).unwrap_or_default();
    let mut cluster = Vec::new();
    let mut add = true;
    for m in &members {
        let mut name = m.name.clone();
        for peer in &m.peer_urls {
            let peer_host = host(peer).unwrap_or_default();
            // A member added but not started has no name; at our address it is us.
            if name.is_empty() && peer_host == own {
                name = etcd.name.clone();
            }
            if name == etcd.name && peer_host == own {
                add = false;
            }
        }
        if let Some(first) = m.peer_urls.first() {
            cluster.push(format!("{name}={first}"));
        }
        let node = match name.rfind('-') {
            Some(i) if i > 1 => &name[..i],
            _ => name.as_str(),
        };
        if name != etcd.name && node == etcd.node_name {
            // A new name is made once the node name is fixed.
            let _ = std::fs::remove_file(etcd.dir.join("name"));
            return Err(Retry::Fatal(
                "duplicate node name found, please use a unique name for this node".into(),
            ));
        }
    }
    if add {
        log::info(format!(
            "Adding member {}={} to etcd cluster [{}]",
            etcd.name,
            etcd.peer_url(),
            cluster.join(" ")
        ));
        let urls = client_urls(&members, &own, &join_host);
        if urls.is_empty() {
            return Err(Retry::Fatal("etcdclient: no available endpoints".into()));
        }
        let mut config = EtcdConfig::new(urls);
        config.request_timeout = Duration::from_secs(20);
        let store = EtcdStore::new(config).map_err(|e| Retry::Fatal(e.to_string()))?;
        if let Err(e) = store.member_add(&[etcd.peer_url()], true).await {
            let text = message(&e);
            return Err(
                if text.contains("too many learner members") || text.contains("unhealthy cluster") {
                    Retry::Busy(text)
                } else {
                    Retry::Fatal(text)
                },
            );
        }
        cluster.push(format!("{}={}", etcd.name, etcd.peer_url()));
    }
    Ok(cluster)
}

/// Adds this member to the cluster of `via` and starts it.
pub async fn join(etcd: &ManagedEtcd, via: &Join) -> Result<MemberProcess, String> {
    loop {
        match attempt(etcd, via).await {
            Ok(cluster) => {
                log::info(format!(
                    "Starting etcd to join cluster with members [{}]",
                    cluster.join(" ")
                ));
                return etcd.spawn(Some((&cluster.join(","), "existing")));
            }
            Err(Retry::Members(e)) => {
                log::info(format!("Waiting to retrieve etcd cluster member list: {e}"));
            }
            Err(Retry::Busy(e)) => {
                log::info(format!(
                    "Waiting for other members to finish joining etcd cluster: {e}"
                ));
            }
            Err(Retry::Fatal(e)) => return Err(format!("etcd cluster join failed: {e}")),
        }
        tokio::time::sleep(etcd.timing.join_retry()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, ip: &str, learner: bool) -> Member {
        Member {
            id: 1,
            name: name.into(),
            peer_urls: vec![format!("http://{ip}:2380")],
            client_urls: vec![format!("http://{ip}:2379")],
            is_learner: learner,
        }
    }

    #[test]
    fn voters_of_others_with_the_join_server_first() {
        let members = [
            member("a-1", "10.0.0.4", false),
            member("b-2", "10.0.0.5", false),
            member("c-3", "10.0.0.6", true),
            member("d-4", "10.0.0.7", false),
        ];
        assert_eq!(
            client_urls(&members, "10.0.0.7", "10.0.0.5"),
            ["http://10.0.0.5:2379", "http://10.0.0.4:2379"]
        );
    }
}

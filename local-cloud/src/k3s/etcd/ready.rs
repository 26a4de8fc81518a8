//! Whether this server's member is ready (k3s's `Test`: it answers, is a voter, sees a
//! leader and is listed under its name), the wait for that before the API starts, with
//! k3s's log lines, and the etcd leader's promotion of learners that caught up.

use std::time::Duration;

use kube_standin::store::etcd::{EtcdStore, MemberStatus};

use super::process::MemberProcess;
use super::{ManagedEtcd, message};
use crate::k3s::log;

impl ManagedEtcd {
    /// k3s's `Test`: this member answers, is a voter, sees a leader and is in the member
    /// list under its name and peer URL.
    async fn test(&self, local: &EtcdStore) -> Result<MemberStatus, String> {
        let st = local
            .member_status(0)
            .await
            .map_err(|e| format!("failed to get etcd status: {}", message(&e)))?;
        if st.is_learner {
            return Err(
                "this server has not yet been promoted from learner to voting member".into(),
            );
        }
        if !st.errors.is_empty() {
            return Err(format!("etcd cluster errors: {}", st.errors.join(", ")));
        }
        if st.leader.is_none() {
            return Err("etcdserver: no leader".into());
        }
        let members = local.member_list().await.map_err(|e| message(&e))?;
        if members
            .iter()
            .any(|m| m.name == self.name && m.peer_urls.contains(&self.peer_url()))
        {
            return Ok(st);
        }
        let found: Vec<String> = members
            .iter()
            .filter_map(|m| Some(format!("{}={}", m.name, m.peer_urls.first()?)))
            .collect();
        Err(format!(
            "this server is a not a member of the etcd cluster. Found [{}], expect: {}={}",
            found.join(" "),
            self.name,
            self.peer_url()
        ))
    }

    /// Runs the readiness test every 5 s (scaled) until it passes, logging each failure as
    /// k3s does; fails if the member process exits meanwhile.
    pub async fn wait_ready(&self, member: &MemberProcess) -> Result<(), String> {
        let local = self.local_store(Duration::from_secs(5))?;
        loop {
            let tested = tokio::select! {
                status = member.exited() => return Err(format!("etcd exited: {status}")),
                t = self.test(&local) => t,
            };
            match tested {
                Ok(st) => {
                    log::info("Connection to etcd is ready");
                    log::info(format!(
                        "Connected to etcd v{} - datastore using {} of {} bytes",
                        st.version, st.db_size_in_use, st.db_size
                    ));
                    log::info("ETCD server is now running");
                    return Ok(());
                }
                Err(e) => log::info(format!("Failed to test etcd connection: {e}")),
            }
            tokio::select! {
                status = member.exited() => return Err(format!("etcd exited: {status}")),
                () = tokio::time::sleep(self.timing.etcd_test()) => {}
            }
        }
    }

    /// The etcd leader's learner management (k3s's `manageLearners`): every 15 s (scaled),
    /// if this member leads, promote each learner that caught up. Runs until the process ends.
    pub async fn manage_learners(self) {
        let Ok(local) = self.local_store(Duration::from_secs(5)) else {
            return;
        };
        loop {
            tokio::time::sleep(self.timing.learner_tick()).await;
            let status = match local.member_status(0).await {
                Ok(s) => s,
                Err(e) => {
                    log::error(format!(
                        "Failed to check local etcd status for learner management: {}",
                        message(&e)
                    ));
                    continue;
                }
            };
            if !status.is_leader() {
                continue;
            }
            let Ok(members) = local.member_list().await else {
                continue;
            };
            for m in members.iter().filter(|m| m.is_learner) {
                // A learner that still lags is refused; the next tick tries again.
                if local.member_promote(m.id).await.is_ok() {
                    log::info(format!("Promoted learner {}", m.name));
                }
            }
        }
    }
}

//! How a server brings up its embedded etcd, in k3s's order (`pkg/cluster/bootstrap.go`,
//! `pkg/etcd/etcd.go`): first the bootstrap (a joining server validates the token, compares
//! its critical configuration and fetches the cluster's CAs and passwords; a restarted one
//! uses its data), then the member (new cluster, joining, or existing) and the wait until
//! it is a voter that sees a leader.

use kube_standin::store::etcd::EtcdStore;

use super::ManagedEtcd;
use super::process::MemberProcess;
use crate::k3s::bootstrap::Join;
use crate::k3s::log;
use crate::k3s::settings::Settings;
use crate::k3s::token::Token;

/// Wraps a bootstrap failure as k3s reports it.
fn bootstrap_error(e: String) -> String {
    format!("preparing server: failed to bootstrap cluster data: {e}")
}

/// k3s's `cluster.Bootstrap` for embedded etcd: a joining server validates the token,
/// compares its critical configuration and fetches the cluster's CAs and passwords.
pub async fn bootstrap(
    s: &Settings,
    etcd: &ManagedEtcd,
    token: Option<&Token>,
) -> Result<Option<Join>, String> {
    if etcd.initialized() {
        log::info("Managed etcd cluster bootstrap already complete and initialized");
        return Ok(None);
    }
    let Some(url) = &s.server_url else {
        log::info("Managed etcd cluster initializing");
        return Ok(None);
    };
    let token =
        token.ok_or_else(|| bootstrap_error("K3S_TOKEN is required to join a cluster".into()))?;
    let join = Join::connect(url, token).await.map_err(|e| {
        bootstrap_error(format!(
            "failed to check if bootstrap data has been initialized: {e}"
        ))
    })?;
    log::info("Managed etcd cluster not yet initialized");
    let agent_token = s.agent_token.as_deref().and_then(|t| Token::parse(t).ok());
    join.compare_config(&s.critical, agent_token.as_ref())
        .await
        .map_err(bootstrap_error)?;
    join.server_bootstrap(&s.server_dir())
        .await
        .map_err(bootstrap_error)?;
    Ok(Some(join))
}

/// Starts the member (new cluster, joining, or on its data) and waits until it is a voter
/// that sees a leader; the member and the store the API uses.
pub async fn start(
    etcd: &ManagedEtcd,
    join: Option<&Join>,
) -> Result<(MemberProcess, EtcdStore), String> {
    let member = if etcd.initialized() {
        log::info("Starting etcd for existing cluster member");
        etcd.spawn(None)?
    } else if let Some(j) = join {
        super::join::join(etcd, j).await?
    } else {
        log::info("Starting etcd for new cluster, cluster-reset=false");
        let cluster = format!("{}={}", etcd.name, etcd.peer_url());
        etcd.spawn(Some((&cluster, "new")))?
    };
    etcd.wait_ready(&member).await?;
    tokio::spawn(etcd.clone().manage_learners());
    let store = etcd.api_store().await?;
    Ok((member, store))
}

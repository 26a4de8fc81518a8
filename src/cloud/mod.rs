//! The ARM endpoint a config points at: Azure, a local cloud served elsewhere, or the
//! cluster's own local cloud running in the background ([`daemon`]). Every phase that talks
//! to ARM gets its client here, so the code path after this point is the same for Azure and
//! the local cloud.

pub mod addresses;
pub mod daemon;

use std::time::Duration;

use crate::azure::{ArmClient, ArmClientOptions, CredentialKind, PollConfig, RetryConfig, Secret};
use crate::config::{CloudKind, Config, CredentialChoice};
use crate::error::Error;
use crate::phase::Phase;

/// A connected ARM client.
#[derive(Debug)]
pub struct CloudConn {
    pub client: ArmClient,
    /// A local cloud's own CA (PEM), which the client trusts for its endpoint and which signs
    /// the certificates of the servers it runs (the Flexible Server's among them); `None` for
    /// Azure.
    pub local_ca: Option<String>,
}

/// The data directory of the cluster's own local cloud.
pub fn local_data_dir(config: &Config) -> std::path::PathBuf {
    config.paths().local_cloud_dir()
}

/// A local cloud's API token from `path`: a private regular file (what `platform local-cloud
/// serve` writes). One that group or others can read is refused, since whoever reads it can
/// create VMs carrying their own key.
fn read_local_token(path: &std::path::Path) -> Result<Secret, Error> {
    use std::os::unix::fs::MetadataExt;
    let text = crate::fsutil::read_capped(path, 1024)?;
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::io("cannot read", path, e))?
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::Failed(format!(
            "the local cloud's API token {} is readable by group or others (mode {:o}); \
             run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::Failed(format!(
            "the local cloud's API token file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(token.to_string()))
}

/// The ARM client's credential kind for a `cloud.credential` choice.
pub fn credential(c: CredentialChoice) -> CredentialKind {
    match c {
        CredentialChoice::Auto => CredentialKind::Auto,
        CredentialChoice::ServicePrincipal => CredentialKind::ServicePrincipal,
        CredentialChoice::WorkloadIdentity => CredentialKind::WorkloadIdentity,
        CredentialChoice::ManagedIdentity => CredentialKind::ManagedIdentity,
        CredentialChoice::AzureCli => CredentialKind::AzureCli,
    }
}

/// Polling and retry settings for a local cloud: its clock runs `time_factor` times Azure's,
/// so waits shrink with it (never to a busy loop).
fn local_timing(time_factor: f64) -> (PollConfig, RetryConfig) {
    let scale = |secs: f64, floor_ms: u64| {
        Duration::from_secs_f64(secs * time_factor).max(Duration::from_millis(floor_ms))
    };
    let poll = PollConfig {
        default_interval: scale(10.0, 50),
        min_interval: Duration::from_millis(20),
        max_interval: scale(60.0, 200),
        ..PollConfig::default()
    };
    let retry = RetryConfig {
        initial_delay: Duration::from_millis(20),
        max_backoff: scale(30.0, 200),
        ..RetryConfig::default()
    };
    (poll, retry)
}

impl CloudConn {
    /// Connects as the config says; for Azure this gets a token first (see
    /// [`ArmClient::check_credential`]). For `cloud.kind: local` without `arm_endpoint` this
    /// uses the cluster's local cloud (data in `<state_dir>/local-cloud`), starting it in the
    /// background when it is not running.
    pub async fn connect(config: &Config) -> Result<CloudConn, Error> {
        let cloud = &config.cloud;
        match cloud.kind {
            CloudKind::Static => Err(Error::Usage(
                "cloud.kind static has no cloud to connect to: its hosts come from cloud.inventory"
                    .into(),
            )),
            CloudKind::Azure => {
                let mut opts =
                    ArmClientOptions::azure(&cloud.subscription_id, credential(cloud.credential));
                opts.region = Some(cloud.location.clone());
                if let Some(e) = &cloud.arm_endpoint {
                    opts.endpoint = parse_endpoint(e)?;
                }
                let client = ArmClient::new(opts)?;
                client.check_credential().await?;
                Ok(CloudConn {
                    client,
                    local_ca: None,
                })
            }
            CloudKind::Local => {
                let (poll, retry) = local_timing(cloud.local_time_factor);
                let (endpoint, ca) = match &cloud.arm_endpoint {
                    Some(e) => (
                        parse_endpoint(e)?,
                        cloud
                            .local_ca
                            .clone()
                            .unwrap_or_else(|| local_data_dir(config).join(local_cloud::CA_FILE)),
                    ),
                    None => {
                        let dir = local_data_dir(config);
                        let factor = cloud.local_time_factor;
                        let hosts = local_hosts(config)?;
                        // Only a command holding the state lock may restart it under others.
                        let may_restart = crate::state::lock::held();
                        let rec = tokio::task::spawn_blocking(move || {
                            daemon::ensure_running(&dir, factor, hosts, may_restart)
                        })
                        .await
                        .map_err(|e| Error::Failed(format!("local cloud start: {e}")))??;
                        (parse_endpoint(&rec.endpoint)?, rec.ca_path)
                    }
                };
                let ca_pem = std::fs::read_to_string(&ca)
                    .map_err(|e| Error::io("cannot read the local cloud's CA", &ca, e))?;
                // The API token lives beside the CA in the cloud's data directory.
                let token_path = ca
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(local_cloud::TOKEN_FILE);
                let token = read_local_token(&token_path)?;
                let mut opts = ArmClientOptions::local(
                    endpoint,
                    &cloud.subscription_id,
                    ca_pem.clone(),
                    token,
                );
                opts.poll = poll;
                opts.retry = retry;
                opts.region = Some(cloud.location.clone());
                Ok(CloudConn {
                    client: ArmClient::new(opts)?,
                    local_ca: Some(ca_pem),
                })
            }
        }
    }

    /// The check a command that needs ARM for `phases` runs before touching anything (state,
    /// lock, secrets): for Azure, get a token, so that a missing credential is one error and
    /// exit 1 with nothing written. A no-op for the local cloud (its token cannot fail, and
    /// only a command holding the state lock may start it) and for static inventories.
    pub async fn preflight(config: &Config, phases: &[Phase]) -> Result<(), Error> {
        let needs_arm = phases
            .iter()
            .any(|p| matches!(p, Phase::Infra | Phase::Inventory));
        if config.cloud.kind != CloudKind::Azure || !needs_arm {
            return Ok(());
        }
        CloudConn::connect(config).await?.close().await;
        Ok(())
    }

    /// Poll timing the client uses (for waits the engine does itself).
    pub fn poll_interval(&self, config: &Config) -> Duration {
        match config.cloud.kind {
            CloudKind::Azure | CloudKind::Static => PollConfig::default().default_interval,
            CloudKind::Local => {
                local_timing(config.cloud.local_time_factor)
                    .0
                    .default_interval
            }
        }
    }

    /// Ends the connection. (The local cloud keeps running; `down` stops it.)
    pub async fn close(self) {}
}

/// Whether the cluster's local cloud realizes VMs as hosts: `cloud.local_hosts`, or (auto)
/// when this process may (root, openssh-server, sudo, iproute2). An explicit `true` that
/// cannot be honoured is an error naming what is missing.
pub fn local_hosts(config: &Config) -> Result<bool, Error> {
    match config.cloud.local_hosts {
        Some(false) => Ok(false),
        Some(true) => local_cloud::hosts_preflight()
            .map(|()| true)
            .map_err(|e| Error::Unmet {
                message: format!("cloud.local_hosts: {e}"),
                explicit: true,
            }),
        None => Ok(local_cloud::hosts_preflight().is_ok()),
    }
}

fn parse_endpoint(e: &str) -> Result<url::Url, Error> {
    url::Url::parse(e).map_err(|err| Error::Usage(format!("cloud.arm_endpoint {e:?}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_local_token_is_read_only_from_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(local_cloud::TOKEN_FILE);
        std::fs::write(&path, "s3cr3t-token-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_local_token(&path).unwrap().secret(),
            "s3cr3t-token-value"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_local_token(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("644"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "\n").unwrap();
        assert!(
            read_local_token(&path)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(read_local_token(&dir.path().join("missing")).is_err());
    }
}

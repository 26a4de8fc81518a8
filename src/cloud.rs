//! The ARM endpoint a config points at: Azure, a local cloud served elsewhere, or a local
//! cloud started in this process. Every phase that talks to ARM gets its client here, so the
//! code path after this point is the same for Azure and the local cloud.

use std::time::Duration;

use crate::azure::{ArmClient, ArmClientOptions, CredentialKind, PollConfig, RetryConfig};
use crate::config::{CloudKind, Config, CredentialChoice};
use crate::error::Error;
use crate::local_cloud::{self, LatencyModel, LocalCloudHandle, LocalCloudOptions};

/// A connected ARM client, and the in-process local cloud behind it when there is one.
#[derive(Debug)]
pub struct CloudConn {
    pub client: ArmClient,
    local: Option<LocalCloudHandle>,
}

/// The data directory of the in-process local cloud.
pub fn local_data_dir(config: &Config) -> std::path::PathBuf {
    config.state_path("local-cloud")
}

fn credential(c: CredentialChoice) -> CredentialKind {
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
    /// Connects as the config says; for `cloud.kind: local` without `arm_endpoint` this starts
    /// the local cloud in this process (its data in `<state_dir>/local-cloud`).
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
                if let Some(e) = &cloud.arm_endpoint {
                    opts.endpoint = parse_endpoint(e)?;
                }
                Ok(CloudConn {
                    client: ArmClient::new(opts)?,
                    local: None,
                })
            }
            CloudKind::Local => {
                let (poll, retry) = local_timing(cloud.local_time_factor);
                let (endpoint, ca_pem, local) = match &cloud.arm_endpoint {
                    Some(e) => {
                        let ca = cloud
                            .local_ca
                            .clone()
                            .unwrap_or_else(|| local_data_dir(config).join(local_cloud::CA_FILE));
                        let pem = std::fs::read_to_string(&ca)
                            .map_err(|e| Error::io("cannot read the local cloud's CA", &ca, e))?;
                        (parse_endpoint(e)?, pem, None)
                    }
                    None => {
                        let mut opts = LocalCloudOptions::new(local_data_dir(config));
                        opts.latency = LatencyModel::scaled(cloud.local_time_factor);
                        if cloud.local_time_factor < 0.1 {
                            // Scaled operations finish in well under a second; a whole-second
                            // Retry-After would dominate the run.
                            opts.latency.retry_after_secs = Some(0);
                        }
                        let h = local_cloud::start(opts).await?;
                        tracing::debug!(endpoint = %h.endpoint, "local cloud started in-process");
                        (h.endpoint.clone(), h.ca_pem.clone(), Some(h))
                    }
                };
                let mut opts = ArmClientOptions::local(endpoint, &cloud.subscription_id, ca_pem);
                opts.poll = poll;
                opts.retry = retry;
                Ok(CloudConn {
                    client: ArmClient::new(opts)?,
                    local,
                })
            }
        }
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

    /// The in-process local cloud, if any.
    pub fn local(&self) -> Option<&LocalCloudHandle> {
        self.local.as_ref()
    }

    /// Shuts the in-process local cloud down (after its last write is on disk).
    pub async fn close(self) {
        if let Some(h) = self.local {
            h.shutdown().await;
        }
    }
}

fn parse_endpoint(e: &str) -> Result<url::Url, Error> {
    url::Url::parse(e).map_err(|err| Error::Usage(format!("cloud.arm_endpoint {e:?}: {err}")))
}

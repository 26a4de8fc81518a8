//! Services the local cloud runs for its hosts on each subnet's gateway address (`.1`, on
//! the instance's bridge), as Azure serves its platform endpoints at fixed addresses: the
//! k3s release mirror (`crate::mirror`) on `<gateway>:80`, with the `k3s` feature. They
//! listen on the gateway only, so they exist while the bridge does and are reached by the
//! hosts (and this machine), never from outside.

use std::net::Ipv4Addr;

use super::HostError;

/// A service task, stopped when dropped (with its subnet, or the bridge).
#[derive(Debug)]
pub struct Service(tokio::task::JoinHandle<()>);

impl Service {
    /// A service that is this task.
    pub fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Self(task)
    }

    /// Stops the service and waits until its listener is closed.
    pub async fn stop(self) {
        self.0.abort();
        let task = &mut { self }.0;
        let _ = task.await;
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the gateway services of `gateway` (none without the `k3s` feature).
pub async fn start(gateway: Ipv4Addr) -> Result<Vec<Service>, HostError> {
    #[cfg(feature = "k3s")]
    {
        let bind = std::net::SocketAddr::from((gateway, crate::mirror::PORT));
        // The `k3s` asset runs the stand-in at the path the hosts see their init at.
        let init = std::path::PathBuf::from(crate::guest::INIT_PATH);
        let (_, task) =
            crate::mirror::serve(bind, init)
                .await
                .map_err(|source| HostError::Gateway {
                    addr: bind.to_string(),
                    source,
                })?;
        tracing::debug!(%bind, "k3s release mirror listening for the hosts");
        Ok(vec![Service(task)])
    }
    #[cfg(not(feature = "k3s"))]
    {
        let _ = gateway;
        Ok(Vec::new())
    }
}

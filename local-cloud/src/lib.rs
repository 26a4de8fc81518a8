//! The test world of `platform`: an ARM-compatible local cloud, and its VMs as real hosts.
//!
//! A test stand-in for Azure Resource Manager, not an emulator of Azure: an HTTPS server on
//! loopback (its own CA, written to `data_dir/ca.pem`) that answers the ARM REST shapes the
//! `platform` ARM client uses, so the real client code path runs against it. It validates
//! requests (api-versions against its own table of what ARM serves), runs long-running
//! operations on a scaled clock (201/202 with `Azure-AsyncOperation`/`Location` and
//! `Retry-After`), pages lists with `nextLink`, throttles and fails on demand, and keeps its
//! resources in `data_dir/cloud.json` across restarts. What it does not emulate is listed in
//! `local-cloud/README.md`.
//!
//! The product depends on this crate, never the reverse: a stand-in that borrowed the
//! client's ids or api-versions could not catch the client's mistakes.
//!
//! Layout:
//! - this file: `start`, the running [`LocalCloudHandle`] and the state its servers share;
//!   `config` (options, latency, faults), `error`, `tls` (the CA every server of the local
//!   cloud presents), `persist` (`cloud.json`, atomic writes), `control` (`/_local/` API).
//! - `arm/`: the ARM stand-in: `server` (front: auth, api-version, throttling, faults),
//!   `path`, `handlers`, `listing`, `put`, `delete`, `ops` (operations), `store`, `types/`
//!   (per-type validation and side effects), `api_versions`, `ids`, `faults`, `stats`.
//! - `hosts/`: scale-set VMs as real Linux hosts reachable over SSH, when `realize_hosts`
//!   is set (cargo feature `hosts`; root at run time).
//! - `guest/`: what runs inside those hosts: their init (PID 1 of each host) and service
//!   manager, `systemctl` and `journalctl`, started from the executable that embeds this
//!   crate through [`multicall`].
//! - `k3s/`: the k3s stand-in the hosts run as `/usr/local/bin/k3s` (cargo feature `k3s`):
//!   flags and config file, CAs and tokens, the supervisor, joins, nodes and leases,
//!   packaged components, `READY=1`, over `kube-standin`'s API.

mod arm;
mod auth;
mod config;
mod control;
mod error;
#[cfg(feature = "hosts")]
mod guest;
mod hosts;
#[cfg(feature = "k3s")]
pub mod k3s;
#[cfg(feature = "k3s")]
pub mod mirror;
mod persist;
mod tls;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub use arm::api_versions;
pub use arm::stats::RequestStats;
pub use auth::TOKEN_FILE;
pub use config::{
    Bucket, FailRule, FaultConfig, LatencyModel, LocalCloudOptions, OpKind, RateLimits,
};
pub use error::{ErrorDetail, LocalCloudError};
pub use hosts::{HostError, HostInfo, HostState, preflight as hosts_preflight};
pub use tls::{CA_FILE, install_crypto_provider};

/// Shared state of a running local cloud.
struct Cloud {
    store: Mutex<arm::store::Store>,
    faults: Mutex<arm::faults::FaultState>,
    stats: Mutex<RequestStats>,
    latency: LatencyModel,
    page_size: usize,
    endpoint: url::Url,
    data_dir: PathBuf,
    /// The API token every request must carry (`auth.rs`).
    token: String,
    /// The host realizer, when VMs are realized as hosts.
    hosts: Option<Arc<hosts::Realizer>>,
}

/// How often the hosts follow the store without requests (scale-ins and deletes settle on
/// the clock; a host should go when its VM does, not at the next request).
const HOST_TICK: std::time::Duration = std::time::Duration::from_millis(250);

impl Cloud {
    /// Hands the VM records to the realizer; `settle` first applies due operations (the
    /// background tick), persisting them like a request would.
    fn sync_hosts(&self, settle: bool) {
        let Some(realizer) = &self.hosts else {
            return;
        };
        let (specs, pg, lbs, public) = {
            let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            if settle
                && store.settle(arm::ops::now_ms())
                && let Err(e) = store.save(&self.data_dir)
            {
                tracing::error!(error = %e, "local cloud could not persist its store");
            }
            (
                hosts::specs(&store),
                hosts::pg_specs(&store),
                hosts::lb_specs(&store),
                hosts::public_addresses(&store),
            )
        };
        realizer.sync(specs);
        realizer.sync_postgres(pg);
        realizer.sync_network(lbs, &public);
    }

    fn stats(&self) -> MutexGuard<'_, RequestStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_faults(&self, f: FaultConfig) {
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).set(f);
    }
}

/// A running local cloud. Dropping it without `shutdown` leaves the server running until
/// the runtime ends.
pub struct LocalCloudHandle {
    /// `https://127.0.0.1:PORT/`: the ARM base URL to give the client.
    pub endpoint: url::Url,
    /// PEM of the CA that signed the server certificate; trust only this for `endpoint`.
    pub ca_pem: String,
    /// Where `ca_pem` was written (`data_dir/ca.pem`).
    pub ca_path: PathBuf,
    /// Where the API token is kept (`data_dir/api-token`, mode 0600).
    pub token_path: PathBuf,
    cloud: Arc<Cloud>,
    server: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    tick: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for LocalCloudHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCloudHandle")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl LocalCloudHandle {
    /// The API token: send it as `Authorization: Bearer <token>` on every request.
    pub fn token(&self) -> &str {
        &self.cloud.token
    }

    /// Request counters since start or the last reset.
    pub fn stats(&self) -> RequestStats {
        self.cloud.stats().clone()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        *self.cloud.stats() = RequestStats::default();
    }

    /// Replaces the fault configuration (takes effect on the next request).
    pub fn set_faults(&self, f: FaultConfig) {
        self.cloud.set_faults(f);
    }

    /// Sets a VM's power state at once, like `POST /_local/vms/{name}/{action}` (`start`,
    /// `stop`, `deallocate`). Returns the VM id; the error is ARM's code and message.
    pub fn set_vm_power(&self, vm_name: &str, action: &str) -> Result<String, ErrorDetail> {
        control::set_power(&self.cloud, vm_name, action)
            .map(|(id, _)| id)
            .map_err(|e| e.detail)
    }

    /// The host realized for VM `name`, when hosts are enabled and it has one.
    pub fn host(&self, name: &str) -> Option<HostInfo> {
        self.cloud.hosts.as_ref()?.info(name)
    }

    /// Every realized host (empty when hosts are disabled).
    pub fn hosts(&self) -> Vec<HostInfo> {
        self.cloud
            .hosts
            .as_ref()
            .map(|h| h.all())
            .unwrap_or_default()
    }

    /// Stops accepting connections, lets requests in flight finish, and waits; then tears
    /// every host down (their disks stay for a restart on the same data dir).
    pub async fn shutdown(self) {
        self.server
            .graceful_shutdown(Some(std::time::Duration::from_secs(2)));
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "local cloud server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "local cloud server task failed"),
            Ok(Ok(())) => {}
        }
        if let Some(tick) = self.tick {
            tick.abort();
            let _ = tick.await;
        }
        if let Some(h) = &self.cloud.hosts {
            h.shutdown().await;
        }
    }
}

/// Runs the program a realized host started this executable as (its init), if it was, and
/// returns its exit code; `None` for any other start. An executable given as
/// [`LocalCloudOptions::host_exe`] calls this first thing in `main` and exits with the code.
pub fn multicall() -> Option<i32> {
    #[cfg(feature = "hosts")]
    return guest::multicall();
    #[cfg(not(feature = "hosts"))]
    None
}

/// Starts the local cloud: loads `data_dir/cloud.json`, prepares TLS, listens on `bind`.
pub async fn start(opts: LocalCloudOptions) -> Result<LocalCloudHandle, LocalCloudError> {
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| LocalCloudError::io(&opts.data_dir, e))?;
    let tls = tls::prepare(&opts.data_dir)?;
    let token = auth::prepare(&opts.data_dir)?;
    let mut store = arm::store::Store::load(&opts.data_dir)?;
    let realizer = if opts.realize_hosts {
        let live = hosts::specs(&store)
            .into_iter()
            .map(|s| s.name.to_ascii_lowercase())
            .collect();
        let exe = opts.host_exe.as_deref();
        let factor = opts.latency.time_factor;
        let r = Arc::new(hosts::Realizer::new(&opts.data_dir, &live, exe, factor).await?);
        store.gate = Some(r.clone());
        store.claims = Some(r.claims());
        r.sync_network(hosts::lb_specs(&store), &hosts::public_addresses(&store));
        Some(r)
    } else {
        None
    };
    let listener =
        std::net::TcpListener::bind(opts.bind).map_err(|source| LocalCloudError::Bind {
            addr: opts.bind.to_string(),
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| LocalCloudError::Bind {
            addr: opts.bind.to_string(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| LocalCloudError::Bind {
            addr: opts.bind.to_string(),
            source,
        })?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    let endpoint = url::Url::parse(&format!("https://{host}:{}/", addr.port()))
        .map_err(|e| LocalCloudError::Tls(e.to_string()))?;
    let cloud = Arc::new(Cloud {
        store: Mutex::new(store),
        faults: Mutex::new(arm::faults::FaultState::new(opts.faults)),
        stats: Mutex::new(RequestStats::default()),
        latency: opts.latency,
        page_size: opts.page_size.max(1),
        endpoint: endpoint.clone(),
        data_dir: opts.data_dir.clone(),
        token,
        hosts: realizer,
    });
    let tick = cloud.hosts.is_some().then(|| {
        let cloud = cloud.clone();
        tokio::spawn(async move {
            loop {
                cloud.sync_hosts(true);
                tokio::time::sleep(HOST_TICK).await;
            }
        })
    });
    let handle = axum_server::Handle::new();
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.server_config);
    let app = arm::server::router(cloud.clone());
    let server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
    let task = tokio::spawn(async move { server.serve(app.into_make_service()).await });
    tracing::info!(endpoint = %endpoint, "local cloud listening");
    Ok(LocalCloudHandle {
        endpoint,
        ca_pem: tls.ca_pem,
        ca_path: opts.data_dir.join(CA_FILE),
        token_path: opts.data_dir.join(TOKEN_FILE),
        cloud,
        server: handle,
        task,
        tick,
    })
}

//! Shared test helpers: an in-process API server on 127.0.0.1 with a random port, its
//! admin kubeconfig, kube clients, and the installed kubectl binaries.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::print_stderr,
    reason = "the skip reason must reach the person running the tests"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub mod etcd;
pub mod kubectl;
pub mod postgres;
pub mod store_contract;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_standin::pki::DevPki;
use kube_standin::store::memory::MemoryStore;
use kube_standin::{RunningServer, ServerConfig};

/// A running server with its files.
pub struct Cluster {
    pub server: RunningServer,
    pub pki: DevPki,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

/// Options tests vary.
#[derive(Clone)]
pub struct Options {
    pub workload_ready_delay: Duration,
    pub compaction_window: i64,
    pub bookmark_interval: Duration,
    pub tokens: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workload_ready_delay: Duration::from_millis(200),
            compaction_window: 1000,
            bookmark_interval: Duration::from_secs(60),
            tokens: Vec::new(),
        }
    }
}

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Starts a server with default options.
pub async fn start() -> Cluster {
    start_with(Options::default()).await
}

/// Starts a server on its own memory store.
pub async fn start_with(opts: Options) -> Cluster {
    let store = Arc::new(MemoryStore::new(opts.compaction_window));
    start_on(opts, store).await
}

/// Starts a server on `store` (several servers may share one).
pub async fn start_on(opts: Options, store: Arc<dyn kube_standin::store::Store>) -> Cluster {
    install_crypto();
    let pki = DevPki::generate(&[]).expect("pki");
    let mut config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        pki.serving.cert_pem.clone(),
        pki.serving.key_pem.clone(),
    );
    config.client_ca_pem = Some(pki.client_ca.cert_pem().to_string());
    config.workload_ready_delay = opts.workload_ready_delay;
    config.compaction_window = opts.compaction_window;
    config.bookmark_interval = opts.bookmark_interval;
    for (token, user) in &opts.tokens {
        config.tokens.insert(
            token.clone(),
            kube_standin::UserInfo::new(user.clone(), &[]),
        );
    }
    let server = kube_standin::start(config, store)
        .await
        .expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, pki.admin_kubeconfig(&server.url())).unwrap();
    Cluster {
        server,
        pki,
        dir,
        kubeconfig,
    }
}

impl Cluster {
    /// A kube client from the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("config");
        kube::Client::try_from(config).expect("client")
    }

    /// Like [`Cluster::client`], without kube-rs's retries of 429, 503 and 504 answers.
    pub async fn client_without_retry(&self) -> kube::Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("config");
        config.default_retry = false;
        kube::Client::try_from(config).expect("client")
    }

    /// A client trusting the server CA but with no credentials, or with a bearer token.
    pub async fn client_without_cert(&self, token: Option<&str>) -> kube::Client {
        let mut config = kube::Config::new(self.server.url().parse().unwrap());
        let ca = rustls_pemfile::certs(&mut self.pki.server_ca.cert_pem().as_bytes())
            .map(|c| c.unwrap().to_vec())
            .collect();
        config.root_cert = Some(ca);
        if let Some(t) = token {
            config.auth_info.token = Some(t.to_string().into());
        }
        kube::Client::try_from(config).expect("client")
    }
}

/// Whether the CI variable is set (then a missing tool is a failure, not a skip).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Installed versioned kubectl binaries (`kubectl.1.27` ... `kubectl.1.33`), oldest first.
pub fn kubectl_versions() -> Vec<(u32, PathBuf)> {
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(minor) = name
                .strip_prefix("kubectl.1.")
                .and_then(|m| m.parse::<u32>().ok())
            {
                out.push((minor, e.path()));
            }
        }
    }
    out.sort();
    out
}

/// The newest and oldest kubectl (one entry when only one is installed; every installed one
/// with `KUBE_STANDIN_ALL_KUBECTL=1`); skips (or, under CI, fails) when none is installed.
pub fn kubectls_or_skip(test: &str) -> Vec<(u32, PathBuf)> {
    let all = kubectl_versions();
    if all.is_empty() {
        let msg = format!(
            "skipped: {test}: no kubectl.1.* in /usr/lib/google-cloud-sdk/bin (Debian package `kubectl`)"
        );
        if in_ci() {
            panic!("{msg} (CI is set)");
        }
        eprintln!("{msg}");
        return all;
    }
    if std::env::var_os("KUBE_STANDIN_ALL_KUBECTL").is_some() {
        return all.into_iter().rev().collect();
    }
    let mut pick = vec![all[all.len() - 1].clone()];
    if all.len() > 1 {
        pick.push(all[0].clone());
    }
    pick
}

/// Fails the test after `secs` if `fut` has not finished: a guard against hangs, never the
/// thing a test measures.
pub async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {secs}s"))
}

/// The `Status` of an API error (panics on any other error).
pub fn api_err(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A ConfigMap with the given labels and one data key.
pub fn configmap(name: &str, labels: &[(&str, &str)]) -> k8s_openapi::api::core::v1::ConfigMap {
    let labels: std::collections::BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    serde_json::from_value(
        serde_json::json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

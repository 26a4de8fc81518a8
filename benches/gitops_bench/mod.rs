//! What `benches/gitops.rs` drives: a kube-standin API server on loopback that counts every
//! request it receives (a `Front` seeing each one before the API, whoever sent it), the
//! machine's `kubectl` run against it with its own `-v=6` request log, and the clean-up
//! between peers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube_standin::pki::DevPki;
use kube_standin::store::Store;
use kube_standin::store::memory::MemoryStore;
use kube_standin::{FrontRequest, FrontResponse};
use platform::kube::apply::{Applier, ObjectRef};

/// `name` from the environment, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `kubectl` to measure: `$KUBECTL`, else the one on PATH.
pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

/// What the server saw, cumulative (or, subtracted, during one run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    /// Creates, updates, patches and deletes that were not dry runs.
    pub writes: u64,
    pub dry_runs: u64,
    pub watches: u64,
    /// The store's revision: every write it made, the controllers' own included.
    pub store: i64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            requests: self.requests - o.requests,
            writes: self.writes - o.writes,
            dry_runs: self.dry_runs - o.dry_runs,
            watches: self.watches - o.watches,
            store: self.store - o.store,
        }
    }
}

/// The counting front: answers nothing itself, so every request goes on to the API.
#[derive(Debug, Default)]
struct Counter {
    requests: AtomicU64,
    writes: AtomicU64,
    dry_runs: AtomicU64,
    watches: AtomicU64,
}

#[async_trait::async_trait]
impl kube_standin::Front for Counter {
    async fn handle(&self, req: &FrontRequest) -> Option<FrontResponse> {
        let query = req.query.as_deref().unwrap_or_default();
        let has = |kv: &str| query.split('&').any(|q| q == kv);
        let mutating = matches!(
            req.method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH | http::Method::DELETE
        );
        self.requests.fetch_add(1, Ordering::Relaxed);
        if mutating && has("dryRun=All") {
            self.dry_runs.fetch_add(1, Ordering::Relaxed);
        } else if mutating {
            self.writes.fetch_add(1, Ordering::Relaxed);
        } else if has("watch=true") || has("watch=1") {
            self.watches.fetch_add(1, Ordering::Relaxed);
        }
        None
    }
}

/// One kubectl command: its wall time (process start to exit), the requests the server
/// counted and the ones its `-v=6` log shows, and the objects it reported applied.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    pub secs: f64,
    pub requests: u64,
    pub logged: u64,
    pub applied: usize,
}

/// The API server, its admin kubeconfig (as a file for kubectl and as text for platform).
pub struct Server {
    running: kube_standin::RunningServer,
    store: Arc<MemoryStore>,
    counter: Arc<Counter>,
    kubeconfig: PathBuf,
    pub kubeconfig_text: String,
}

impl Server {
    /// Starts it on 127.0.0.1 with Deployments Available `delay` after a change; the
    /// kubeconfig goes into `dir`.
    pub async fn start(delay: Duration, dir: &Path) -> Server {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pki = DevPki::generate(&[]).unwrap();
        let mut config = pki.server_config("127.0.0.1:0".parse().unwrap());
        config.workload_ready_delay = delay;
        let counter = Arc::new(Counter::default());
        config.front = Some(counter.clone());
        let store = Arc::new(MemoryStore::new(1000));
        let running = kube_standin::start(config, store.clone()).await.unwrap();
        let kubeconfig_text = pki.admin_kubeconfig(&running.url());
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, &kubeconfig_text).unwrap();
        Server {
            running,
            store,
            counter,
            kubeconfig,
            kubeconfig_text,
        }
    }

    /// The counts so far.
    pub async fn snapshot(&self) -> Counts {
        let c = &self.counter;
        Counts {
            requests: c.requests.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            dry_runs: c.dry_runs.load(Ordering::Relaxed),
            watches: c.watches.load(Ordering::Relaxed),
            store: self.store.current_revision().await.unwrap(),
        }
    }

    /// Runs `kubectl -v=6 ARGS` with its discovery cache in `cache`; it must succeed.
    pub async fn kubectl(&self, name: &'static str, cache: &Path, args: &[&str]) -> Step {
        let before = self.snapshot().await;
        let t = Instant::now();
        let out = tokio::process::Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(cache)
            .arg("-v=6")
            .args(args)
            .output()
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "kubectl {args:?}: {stdout}\n{stderr}");
        Step {
            name,
            secs,
            requests: (self.snapshot().await - before).requests,
            logged: stderr.lines().filter(|l| logged_request(l)).count() as u64,
            applied: stdout
                .lines()
                .filter(|l| l.ends_with(" serverside-applied"))
                .count(),
        }
    }

    /// Deletes `objects` (CRDs and Namespaces last) and waits until the namespace
    /// flux-system and Flux's CRDs are gone: an empty cluster again.
    pub async fn remove(&self, objects: &[ObjectRef]) {
        let doc = platform::kube::kubeconfig::parse(&self.kubeconfig_text, "kubeconfig").unwrap();
        let client = platform::kube::client::client(&doc).await.unwrap();
        let applier = Applier::new(client.clone()).await.unwrap();
        platform::kube::install::prune(&applier, objects, &[], &|_| {})
            .await
            .unwrap();
        let ns: Api<Namespace> = Api::all(client.clone());
        let crds: Api<CustomResourceDefinition> = Api::all(client);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut left = ns.get_opt("flux-system").await.unwrap().is_some();
            for o in objects
                .iter()
                .filter(|o| o.kind == "CustomResourceDefinition")
            {
                left |= crds.get_opt(&o.name).await.unwrap().is_some();
            }
            if !left {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not empty");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// Whether a `-v=6` line is client-go's log of one request: `round_trippers.go:NNN]
/// "Response" verb="GET" url="https://..." status="200 OK" milliseconds=3` (kubectl 1.31 and
/// later), or `round_trippers.go:NNN] GET https://... 200 OK in 3 milliseconds` (earlier).
fn logged_request(line: &str) -> bool {
    let Some((_, rest)) = line.split_once("round_trippers.go:") else {
        return false;
    };
    let Some((_, rest)) = rest.split_once("] ") else {
        return false;
    };
    rest.starts_with("\"Response\" verb=")
        || ["GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD "]
            .iter()
            .any(|m| rest.starts_with(m) && rest[m.len()..].starts_with("https://"))
}

/// `kubectl version`'s client and server versions against `s` (a dispatcher such as Google
/// Cloud SDK's `kubectl` runs the client matching the server).
pub async fn kubectl_versions(s: &Server) -> (String, String) {
    let out = tokio::process::Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["version", "-o", "json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "kubectl version: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = |k: &str| v[k]["gitVersion"].as_str().unwrap_or("?").to_owned();
    (text("clientVersion"), text("serverVersion"))
}

/// The median wall time of `kubectl version --client` (process start and exit, no request)
/// over 5 runs.
pub async fn kubectl_start() -> f64 {
    let mut v = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = tokio::process::Command::new(kubectl_bin())
            .args(["version", "--client"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "kubectl version --client: {out:?}");
        v.push(t.elapsed().as_secs_f64());
    }
    median(v)
}

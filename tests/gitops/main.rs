//! The gitops phase's steps against real servers on loopback: the Flux manifests' download
//! and pin against a local HTTP server (`flux_manifests`), and the staged install, pruning,
//! the postgres Secrets, Flux's source objects, the no-write re-run and the Ready wait
//! against the k3s stand-in's API server (`flux_install`, `flux_ready`), and the same for
//! Argo CD (`argocd`). These run the bare API server, without the k3s stand-in's
//! reconcilers, so the wait tests write the status a controller would; the reconcilers are
//! tested end to end on real hosts (tests/hosts/gitops_flux.rs, gitops_argocd.rs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod argocd;
mod flux_install;
mod flux_manifests;
mod flux_phase;
mod flux_ready;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube_standin::pki::DevPki;
use kube_standin::store::memory::MemoryStore;
use platform::config::Config;
use platform::kube::apply::Applier;
use platform::kube::client::RequestCount;
use platform::phases::gitops::{Bootstrapped, GitopsOutputs};

/// The k3s stand-in's API server on 127.0.0.1 with its admin kubeconfig.
pub struct ApiServer {
    pub server: kube_standin::RunningServer,
    pub kubeconfig: String,
}

impl ApiServer {
    pub async fn start() -> ApiServer {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pki = DevPki::generate(&[]).unwrap();
        let mut config = pki.server_config("127.0.0.1:0".parse().unwrap());
        config.workload_ready_delay = Duration::from_millis(50);
        let store = Arc::new(MemoryStore::new(1000));
        let server = kube_standin::start(config, store).await.unwrap();
        let kubeconfig = pki.admin_kubeconfig(&server.url());
        ApiServer { server, kubeconfig }
    }

    /// The product's client for this server, counting its requests.
    pub async fn client(&self) -> (kube::Client, RequestCount) {
        let doc = platform::kube::kubeconfig::parse(&self.kubeconfig, "kubeconfig").unwrap();
        platform::kube::client::counted_client(&doc).await.unwrap()
    }

    /// A fresh applier with its request count.
    pub async fn applier(&self) -> (Applier, RequestCount) {
        let (client, count) = self.client().await;
        (Applier::new(client).await.unwrap(), count)
    }
}

/// The Argo CD-shaped fixture, as the `gitops` lines of an argocd config.
pub fn argocd_lines() -> String {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gitops/argocd-install.yaml");
    format!("  controller: argocd\n  manifests: '{}'\n", f.display())
}

/// The Flux-shaped fixture.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gitops/flux-install.yaml")
}

/// A config in `dir` (base directory) with gitops fields `gitops` (the controller is flux
/// and the repository https://git.example.com/fleet.git unless they name others) and more
/// top-level YAML `more`; the postgres password file is written.
pub fn config(dir: &Path, gitops: &str, more: &str) -> Config {
    let repo = if gitops.contains("  repository: ") {
        ""
    } else {
        "  repository: https://git.example.com/fleet.git\n"
    };
    let controller = if gitops.contains("  controller: ") {
        ""
    } else {
        "  controller: flux\n"
    };
    let text = format!(
        "cluster: demo\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops:\n{controller}{repo}{gitops}{more}"
    );
    let c = Config::from_str(&text, dir, None).unwrap();
    let pw = c.paths().postgres_password();
    std::fs::create_dir_all(pw.parent().unwrap()).unwrap();
    std::fs::write(&pw, PASSWORD).unwrap();
    c
}

/// `gitops.manifests` set to the fixture, as a line of the `gitops` section.
pub fn fixture_line() -> String {
    format!("  manifests: '{}'\n", fixture().display())
}

/// Bootstraps `c` on `api` over `previous` with a fresh client (and an empty cache): the
/// result, the applier and the client's request count.
pub async fn bootstrap(
    api: &ApiServer,
    c: &Config,
    previous: &GitopsOutputs,
) -> (
    Result<Bootstrapped, platform::error::Error>,
    Applier,
    RequestCount,
) {
    let cache = tempfile::tempdir().unwrap();
    let (mut applier, count) = api.applier().await;
    let done = platform::phases::gitops::bootstrap(
        c,
        &mut applier,
        previous,
        &infra(),
        cache.path(),
        &platform::output::Progress::discard(),
    )
    .await;
    (done, applier, count)
}

/// The postgres password the tests put in the secrets directory.
pub const PASSWORD: &str = "Pg-s3cret/with:odd@chars7-";

/// Infra outputs with the server's address and its CA bundle (the Azure roots platform
/// carries).
pub fn infra() -> serde_json::Value {
    serde_json::json!({"postgres": {
        "fqdn": "demo-pg.private.postgres.database.azure.com",
        "ca_bundle": platform::phases::infra::ca::azure().unwrap(),
    }})
}

/// Sets `kind` flux-system's status through `api` as a Flux controller would after
/// reconciling its current generation: `Ready` = `ready` with `message`, plus `extra` fields.
pub async fn set_status(
    api: &kube::Api<kube::api::DynamicObject>,
    kind: &str,
    ready: &str,
    message: &str,
    extra: serde_json::Value,
) {
    use kube::api::{Patch, PatchParams};
    use platform::phases::gitops::source::reference;
    let obj = api.get("flux-system").await.unwrap();
    // A controller answers `flux reconcile`'s request (the annotation) when it reconciles.
    let requested = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt"))
        .cloned();
    let mut status = serde_json::json!({
        "lastHandledReconcileAt": requested,
        "observedGeneration": obj.metadata.generation,
        "conditions": [{"type": "Ready", "status": ready, "reason": "Test",
            "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    });
    status
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let body = serde_json::json!({"apiVersion": reference(kind).api_version, "kind": kind,
        "status": status});
    api.patch_status(
        "flux-system",
        &PatchParams::apply("source-controller").force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap();
}

/// Plays a Flux controller asked to reconcile again (`reconcile.fluxcd.io/requestedAt`):
/// answers each such request with the same verdict, until `for_how_long` has passed.
pub async fn answer_requests(
    api: kube::Api<kube::api::DynamicObject>,
    kind: &str,
    ready: &str,
    message: &str,
    for_how_long: std::time::Duration,
) {
    let pending = |o: Option<&kube::api::DynamicObject>| {
        o.is_some_and(|o| {
            let asked = o
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt"));
            asked.is_some()
                && asked.map(String::as_str) != o.data["status"]["lastHandledReconcileAt"].as_str()
        })
    };
    let answer = async {
        loop {
            kube::runtime::wait::await_condition(api.clone(), "flux-system", pending)
                .await
                .unwrap();
            set_status(&api, kind, ready, message, serde_json::json!({})).await;
        }
    };
    let _ = tokio::time::timeout(for_how_long, answer).await;
}

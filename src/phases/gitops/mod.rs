//! The `gitops` phase: the controller's install manifests (fetched and pinned by
//! `manifests.rs`) installed through the Kubernetes API in two stages with server-side apply
//! (`crate::kube::install`), the `postgres.secrets` Secrets (`postgres.rs`), then the
//! controller's source and sync objects and the wait until they have synced: Flux's
//! GitRepository and Kustomization Ready (`source.rs`), or Argo CD's root Application Synced
//! and Healthy (`argocd.rs`). Objects the previous run applied and this one does not are
//! deleted; a re-run of the same config sends no writes.

pub mod argocd;
pub mod manifests;
pub mod postgres;
pub mod source;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Controller};
use crate::error::Error;
use crate::kube::apply::{Applier, ObjectRef};
use crate::kube::install::{self, Event, Installed};
use crate::output::Progress;
use crate::phase::Phase;
use crate::phases::nodes::outputs::kube_err;
use crate::state::State;
use source::SourceInfo;

/// How long the install (CRDs, Deployments) and each Ready wait may take.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// What the phase records: no secret, and stable across no-op runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitopsOutputs {
    pub controller: String,
    /// The controller's release, or `manifests` for an offline copy.
    pub version: String,
    /// The sha256 of the applied install manifests.
    pub manifests_sha256: String,
    /// Every object of the install manifests, as applied (the set the next run prunes
    /// against).
    pub inventory: Vec<ObjectRef>,
    /// The `postgres.secrets` Secrets.
    #[serde(default)]
    pub postgres_secrets: Vec<ObjectRef>,
    pub source: Option<SourceInfo>,
    /// The revision the Kustomization applied (`<branch>@sha1:<sha>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// What [`bootstrap`] did, for the end of `up` and the tests.
#[derive(Debug)]
pub struct Bootstrapped {
    pub outputs: GitopsOutputs,
    pub installed: Installed,
    /// Secrets and controller objects applied (created or configured) after the install.
    pub source_writes: usize,
    /// Of those, the controller's own objects (source Secret, GitRepository, Kustomization,
    /// Application).
    pub controller_writes: usize,
    /// Postgres Secrets deleted because the config no longer lists them.
    pub secrets_deleted: usize,
}

/// The previous run's outputs, or none.
pub fn previous(state: &State) -> GitopsOutputs {
    state
        .phase(Phase::Gitops)
        .and_then(|r| serde_json::from_value(r.outputs.clone()).ok())
        .unwrap_or_default()
}

/// Runs the phase for `gitops.controller: flux` or `argocd`.
pub async fn run(
    config: &Config,
    state: &State,
    progress: &Progress,
) -> Result<serde_json::Value, Error> {
    let (client, count) = crate::phases::nodes::outputs::counted_client(config).await?;
    let mut applier = Applier::new(client).await.map_err(kube_err)?;
    let infra = state
        .phase(Phase::Infra)
        .map(|r| r.outputs.clone())
        .unwrap_or_default();
    let cache = crate::paths::user_cache_dir();
    let previous = previous(state);
    let done = bootstrap(config, &mut applier, &previous, &infra, &cache, progress).await?;
    let mut out = done.outputs;
    let name = manifests::Kind::of(&config.gitops).0.name;
    if config.gitops.controller == Controller::Argocd {
        let step = progress.step("gitops", "waiting for Application root to sync");
        let changed = done.controller_writes > 0;
        match argocd::wait_synced(&applier, &config.gitops.branch, changed, TIMEOUT).await {
            Ok(rev) => {
                progress.info(format!(
                    "gitops: Application {}/{} Synced and Healthy at {rev}",
                    argocd::NAMESPACE,
                    argocd::APP
                ));
                out.revision = Some(rev);
            }
            Err(e) => {
                step.failed("Application not Synced and Healthy");
                return Err(kube_err(e));
            }
        }
        progress.info(admin_password_hint());
        step.done(&synced(name, &out, &count));
        return Ok(serde_json::to_value(&out).unwrap_or_default());
    }
    let step = progress.step("gitops", "waiting for GitRepository and Kustomization");
    for kind in ["GitRepository", "Kustomization"] {
        match source::wait_ready(&applier, kind, TIMEOUT).await {
            Ok(rev) => {
                progress.info(format!("gitops: {kind} flux-system Ready at {rev}"));
                out.revision = Some(rev);
            }
            Err(e) => {
                step.failed(&format!("{kind} not Ready"));
                return Err(kube_err(e));
            }
        }
    }
    step.done(&synced(name, &out, &count));
    Ok(serde_json::to_value(&out).unwrap_or_default())
}

/// The end of a successful run: what synced and what it cost.
fn synced(name: &str, out: &GitopsOutputs, count: &crate::kube::client::RequestCount) -> String {
    format!(
        "{name} {} synced {} ({} requests, {} writes)",
        out.version,
        out.revision.as_deref().unwrap_or("?"),
        count.requests(),
        count.writes()
    )
}

/// Where Argo CD's first admin password is, never the password itself.
pub fn admin_password_hint() -> String {
    format!(
        "gitops: Argo CD's initial admin password is in Secret {ns}/{secret}, key `password` (`kubectl -n {ns} get secret {secret} -o jsonpath='{{.data.password}}' | base64 -d`); change it and delete the Secret",
        ns = argocd::NAMESPACE,
        secret = argocd::ADMIN_SECRET
    )
}

/// Everything before the wait: the manifests, the staged install with pruning, the
/// postgres Secrets and the controller's source objects.
pub async fn bootstrap(
    config: &Config,
    applier: &mut Applier,
    previous: &GitopsOutputs,
    infra: &serde_json::Value,
    cache: &std::path::Path,
    progress: &Progress,
) -> Result<Bootstrapped, Error> {
    let g = &config.gitops;
    // Credentials and the Secrets' inputs are settled before anything is applied.
    let (creds, generated) = source::credentials(config)?;
    let pg_secrets = postgres::objects(config, infra)?;
    let m = manifests::fetch(g, cache)
        .await
        .map_err(|e| Error::Failed(e.to_string()))?;
    let mut objs = crate::kube::apply::parse(&m.text, &m.source).map_err(kube_err)?;
    let name = manifests::Kind::of(g).0.name;
    if g.controller == Controller::Argocd {
        let known_hosts = match &creds {
            source::Credentials::Ssh { known_hosts, .. } => Some(known_hosts.as_str()),
            _ => None,
        };
        objs = argocd::prepare(objs, &g.interval, known_hosts)?;
    }
    let step = progress.step(
        "gitops",
        &format!(
            "installing {name} ({} objects from {})",
            objs.len(),
            m.source
        ),
    );
    let p = progress.clone();
    // Argo CD reads argocd-cm's interval when it starts: a changed argocd-cm restarts it.
    let argocd_cm_changed = std::sync::atomic::AtomicBool::new(false);
    let cm_flag = &argocd_cm_changed;
    let on = move |e: Event<'_>| match e {
        Event::Applied(r, o) => {
            if r.kind == "ConfigMap"
                && r.name == "argocd-cm"
                && o == crate::kube::apply::Outcome::Configured
            {
                cm_flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            p.info(format!("gitops: {r} {o}"));
        }
        Event::Established(n) => p.info(format!("gitops: CRD {n} Established")),
        Event::Deleted(r) => p.info(format!("gitops: {r} deleted (no longer in the manifests)")),
        Event::Available(r) => p.info(format!("gitops: {r} Available")),
    };
    let installed = match install::install(applier, &objs, &previous.inventory, TIMEOUT, &on).await
    {
        Ok(i) => i,
        Err(e) => {
            step.failed(&format!("{name} install failed"));
            return Err(kube_err(e));
        }
    };
    if argocd_cm_changed.load(std::sync::atomic::Ordering::Relaxed) {
        for r in argocd::restart(applier).await.map_err(kube_err)? {
            progress.info(format!(
                "gitops: {r} restarted (argocd-cm changed; Argo CD reads it when it starts)"
            ));
        }
    }
    step.done(&format!(
        "{name} installed: {} created, {} configured, {} unchanged, {} deleted",
        installed.created, installed.configured, installed.unchanged, installed.deleted
    ));
    postgres::ensure_namespaces(applier, &pg_secrets)
        .await
        .map_err(kube_err)?;
    let mut source_writes = 0;
    let mut secret_refs = Vec::new();
    for obj in &pg_secrets {
        let (r, o) = applier.apply(obj).await.map_err(kube_err)?;
        source_writes += usize::from(o != crate::kube::apply::Outcome::Unchanged);
        on(Event::Applied(&r, o));
        secret_refs.push(r);
    }
    let secrets_deleted = install::prune(applier, &previous.postgres_secrets, &secret_refs, &on)
        .await
        .map_err(kube_err)?;
    let (controller_objs, info) = match g.controller {
        Controller::Argocd => argocd::objects(config, &creds)?,
        _ => source::objects(config, &creds)?,
    };
    if generated && let Some(key) = &info.deploy_key {
        progress.warn(format!(
            "gitops: add this read-only deploy key to {} (then run `platform up` again if the source is not Ready): {key}",
            info.url
        ));
    }
    let mut controller_writes = 0;
    for obj in &controller_objs {
        let (r, o) = applier.apply(obj).await.map_err(kube_err)?;
        controller_writes += usize::from(o != crate::kube::apply::Outcome::Unchanged);
        on(Event::Applied(&r, o));
    }
    source_writes += controller_writes;
    let outputs = GitopsOutputs {
        controller: source::controller(config).into(),
        version: if g.manifests.is_some() {
            "manifests".into()
        } else {
            manifests::Kind::of(g).1.version.clone()
        },
        manifests_sha256: m.sha256,
        inventory: installed.inventory.clone(),
        postgres_secrets: secret_refs,
        source: Some(info),
        revision: previous.revision.clone(),
    };
    Ok(Bootstrapped {
        outputs,
        installed,
        source_writes,
        controller_writes,
        secrets_deleted,
    })
}

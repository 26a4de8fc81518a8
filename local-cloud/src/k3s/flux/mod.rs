//! The stand-in's Flux reconcilers: no Flux controller can run on the local cloud (no pod
//! ever runs), so a server of the k3s stand-in reconciles Flux's `GitRepository`
//! (`source.toolkit.fluxcd.io/v1`) and `Kustomization` (`kustomize.toolkit.fluxcd.io/v1`)
//! objects itself, once their CRDs are installed, with real `git` from its host and the
//! status Flux writes. Leader-elected with the other controllers; documented as a stand-in
//! in the crate's README (what it does not do is listed there). The same loop drives the
//! Argo CD stand-in (`super::argocd`), which reuses this module's `git` and manifest reader.

pub(crate) mod git;
pub(crate) mod kustomize;
pub(crate) mod manifests;
mod source;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::kubelet::now;
use super::settings::Timing;

/// The GitRepository API.
pub fn git_repositories() -> ApiResource {
    let gvk = GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository");
    ApiResource::from_gvk_with_plural(&gvk, "gitrepositories")
}

/// The Kustomization API.
pub fn kustomizations() -> ApiResource {
    let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    ApiResource::from_gvk_with_plural(&gvk, "kustomizations")
}

/// What the reconcilers need.
pub struct Flux {
    pub client: kube::Client,
    /// Where fetched repositories are kept (under the server's data dir).
    pub cache: PathBuf,
    pub timing: Timing,
    /// How often the objects are looked at.
    pub every: Duration,
    /// Whether this server holds the controllers' lease.
    pub leads: tokio::sync::watch::Receiver<bool>,
}

/// When each object was last reconciled (reset when this server is elected).
type Seen = HashMap<(String, String), Instant>;

/// `spec.interval` (a Go duration such as `1m0s`), scaled by the cloud's time factor with
/// a floor of one second; Flux's required field, 10 minutes if unreadable.
pub fn interval(obj: &Value, timing: &Timing) -> Duration {
    let secs = obj["spec"]["interval"]
        .as_str()
        .and_then(go_duration)
        .unwrap_or(600.0);
    timing.scaled(secs, 1000)
}

/// Seconds of a Go duration string (`1h2m3.5s`, `500ms`).
pub(crate) fn go_duration(text: &str) -> Option<f64> {
    let (mut total, mut rest) = (0.0, text);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let per = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += n * per;
        rest = &rest[unit_end..];
    }
    Some(total)
}

/// Whether `obj` is due: never seen here, its spec changed, a reconcile was requested
/// (`reconcile.fluxcd.io/requestedAt`), or its interval passed.
fn due(seen: &Seen, obj: &Value, every: Duration) -> bool {
    let generation = &obj["metadata"]["generation"];
    let requested = &obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"];
    let status = &obj["status"];
    let changed = *generation != status["observedGeneration"]
        || (!requested.is_null() && *requested != status["lastHandledReconcileAt"]);
    changed || seen.get(&key(obj)).is_none_or(|at| at.elapsed() >= every)
}

fn key(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_owned(),
        m["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A Flux condition: `lastTransitionTime` kept while the status does not change.
pub fn condition(old: &Value, typ: &str, ok: bool, reason: &str, message: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let generation = &old["metadata"]["generation"];
    let prev = old["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == typ));
    let since = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now(false)),
    };
    json!({"type": typ, "status": status, "reason": reason, "message": message,
        "observedGeneration": generation, "lastTransitionTime": since})
}

/// Writes `status` (a merge patch of the status subresource) with the fields every Flux
/// object reports: `observedGeneration` and `lastHandledReconcileAt`.
async fn write_status(api: &Api<DynamicObject>, obj: &Value, mut status: Value) {
    let Some(name) = obj["metadata"]["name"].as_str() else {
        return;
    };
    status["observedGeneration"] = obj["metadata"]["generation"].clone();
    let requested = &obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"];
    if !requested.is_null() {
        status["lastHandledReconcileAt"] = requested.clone();
    }
    let patch = json!({ "status": status });
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        super::log::warn(format!("flux stand-in: writing the status of {name}: {e}"));
    }
}

/// The objects of `ar` in every namespace, as JSON; `None` when the kind is not served
/// (its CRD is not installed).
pub(crate) async fn list(client: &kube::Client, ar: &ApiResource) -> Option<Vec<Value>> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let items = api.list(&ListParams::default()).await.ok()?.items;
    Some(
        items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect(),
    )
}

/// Reconciles the Flux objects while this server leads, until the process ends.
pub async fn run(mut f: Flux) {
    let (mut sources, mut syncs) = (Seen::new(), Seen::new());
    let mut apps = super::argocd::Seen::default();
    loop {
        let leads = *f.leads.borrow_and_update();
        if !leads {
            sources.clear();
            syncs.clear();
            apps.clear();
        }
        if leads {
            super::argocd::pass(&f, &mut apps).await;
        }
        if leads && let Some(repos) = list(&f.client, &git_repositories()).await {
            for repo in &repos {
                if suspended(repo) || !due(&sources, repo, interval(repo, &f.timing)) {
                    continue;
                }
                source::reconcile(&f, repo).await;
                sources.insert(key(repo), Instant::now());
            }
            for ks in list(&f.client, &kustomizations()).await.unwrap_or_default() {
                let moved = kustomize::source_moved(&f, &ks).await;
                if suspended(&ks) || !(moved || due(&syncs, &ks, interval(&ks, &f.timing))) {
                    continue;
                }
                kustomize::reconcile(&f, &ks).await;
                syncs.insert(key(&ks), Instant::now());
            }
        }
        tokio::select! {
            () = tokio::time::sleep(f.every) => {}
            _ = f.leads.changed() => {}
        }
    }
}

/// `spec.suspend: true` stops reconciling, as in Flux.
fn suspended(obj: &Value) -> bool {
    obj["spec"]["suspend"] == true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_read_as_flux_writes_them() {
        assert_eq!(go_duration("1m0s"), Some(60.0));
        assert_eq!(go_duration("10m"), Some(600.0));
        assert_eq!(go_duration("1h30m"), Some(5400.0));
        assert_eq!(go_duration("1.5s"), Some(1.5));
        assert_eq!(go_duration("500ms"), Some(0.5));
        assert_eq!(go_duration("5x"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn intervals_scale_with_the_cloud_and_keep_a_floor() {
        let t = Timing { factor: 0.5 };
        let obj = json!({"spec": {"interval": "1m0s"}});
        assert_eq!(interval(&obj, &t), Duration::from_secs(30));
        let fast = Timing { factor: 0.001 };
        assert_eq!(interval(&obj, &fast), Duration::from_secs(1));
    }
}

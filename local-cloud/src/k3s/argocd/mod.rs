//! The stand-in's Argo CD application controller: no Argo CD can run on the local cloud (no
//! pod ever runs), so a server of the k3s stand-in reconciles `Application`s
//! (`argoproj.io/v1alpha1`) itself once Argo CD's CRDs are installed, with real `git` from its
//! host (the Flux stand-in's `git` and manifest reader) and the status Argo CD writes:
//! `sync` (status, revision, comparedTo), `health`, `resources`, `operationState` of the
//! automated sync, `reconciledAt`, and `ComparisonError`/`InvalidSpecError` conditions.
//! It also does what `argocd-server` does at its first start: the `default` AppProject and
//! the `argocd-initial-admin-secret`. Leader-elected with the other controllers; what it
//! does not do is listed in the crate's README.

mod sync;

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::flux::{Flux, go_duration, list};
use super::settings::Timing;

/// The Application API (no status subresource: Argo CD writes the whole object).
pub fn applications() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    ApiResource::from_gvk_with_plural(&gvk, "applications")
}

/// The AppProject API.
pub fn projects() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject");
    ApiResource::from_gvk_with_plural(&gvk, "appprojects")
}

/// The annotation `argocd app get --refresh` sets; removed once the refresh is done.
pub const REFRESH: &str = "argocd.argoproj.io/refresh";

/// When each Application was last reconciled and the spec it had then, and the namespaces
/// whose first-start objects are done (so they are not read again every pass).
#[derive(Default)]
pub struct Seen(
    HashMap<(String, String), (Instant, Value)>,
    std::collections::HashSet<String>,
);

impl Seen {
    /// Forgets everything (this server lost or gained the lease).
    pub fn clear(&mut self) {
        self.0.clear();
        self.1.clear();
    }
}

fn key(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_owned(),
        m["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Argo CD's polling period: `timeout.reconciliation` of `argocd-cm` in the Application's
/// namespace (a Go duration; Argo CD's default 180 s), scaled by the cloud's time factor
/// with a floor of one second. Real Argo CD reads it at start; the stand-in each pass.
async fn period(client: &kube::Client, ns: &str, timing: &Timing) -> Duration {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let secs = cms
        .get_opt("argocd-cm")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data?.get("timeout.reconciliation").cloned())
        .and_then(|t| go_duration(&t))
        .unwrap_or(180.0);
    timing.scaled(secs, 1000)
}

/// Whether `app` is due: never seen here, its spec changed, a refresh was requested, its
/// health is not settled yet (Argo CD watches the resources it manages), or the period
/// passed.
fn due(seen: &Seen, app: &Value, every: Duration) -> bool {
    let refresh = !app["metadata"]["annotations"][REFRESH].is_null();
    let health = &app["status"]["health"]["status"];
    let settled = health == "Healthy" || health == "Degraded";
    match seen.0.get(&key(app)) {
        None => true,
        Some((at, spec)) => refresh || *spec != app["spec"] || !settled || at.elapsed() >= every,
    }
}

/// One pass over every Application (called from the Flux stand-in's loop while this server
/// leads); nothing when Argo CD's CRDs are not installed.
pub async fn pass(f: &Flux, seen: &mut Seen) {
    let Some(apps) = list(&f.client, &applications()).await else {
        return;
    };
    let mut periods: HashMap<String, Duration> = HashMap::new();
    for app in &apps {
        let ns = app["metadata"]["namespace"].as_str().unwrap_or_default();
        if !periods.contains_key(ns) {
            if !seen.1.contains(ns) && first_start(&f.client, ns).await {
                seen.1.insert(ns.to_owned());
            }
            periods.insert(ns.to_owned(), period(&f.client, ns, &f.timing).await);
        }
        if !due(seen, app, periods[ns]) || !app["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        sync::reconcile(f, app).await;
        seen.0
            .insert(key(app), (Instant::now(), app["spec"].clone()));
    }
}

/// What argocd-server and the application controller create when they first start in `ns`:
/// the `default` AppProject (any source, any destination) and, while `argocd-secret` has no
/// admin password, a random one in `argocd-initial-admin-secret` (key `password`). Whether
/// both are settled (false while `argocd-secret` does not exist yet: tried again next pass).
async fn first_start(client: &kube::Client, ns: &str) -> bool {
    let projects: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &projects());
    if let Ok(None) = projects.get_opt("default").await {
        let default: Result<DynamicObject, _> = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": ns},
            "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
        }));
        if let Ok(p) = default {
            let _ = projects.create(&PostParams::default(), &p).await;
        }
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let Ok(Some(main)) = secrets.get_opt("argocd-secret").await else {
        return false;
    };
    if main
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key("admin.passwordMtime"))
    {
        return true;
    }
    let password = random_password();
    let initial: Result<Secret, _> = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "argocd-initial-admin-secret", "namespace": ns},
        "type": "Opaque", "stringData": {"password": password},
    }));
    let Ok(initial) = initial else { return false };
    match secrets.create(&PostParams::default(), &initial).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => {
            super::log::warn(format!("argocd stand-in: the initial admin secret: {e}"));
            return false;
        }
    }
    // argocd-server keeps a bcrypt hash under admin.password; the stand-in serves no login,
    // so it records only when the password was set (the marker that it exists).
    let mark = json!({"stringData": {"admin.passwordMtime": super::kubelet::now(false)}});
    secrets
        .patch(
            "argocd-secret",
            &PatchParams::default(),
            &Patch::Merge(&mark),
        )
        .await
        .is_ok()
}

/// 16 random letters and digits, like argocd-server's initial password.
fn random_password() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_is_due_when_new_changed_refreshed_or_unsettled() {
        let app = json!({"metadata": {"namespace": "argocd", "name": "root"},
            "spec": {"a": 1}, "status": {"health": {"status": "Healthy"}}});
        let mut seen = Seen::default();
        let long = Duration::from_secs(3600);
        assert!(due(&seen, &app, long));
        seen.0
            .insert(key(&app), (Instant::now(), app["spec"].clone()));
        assert!(!due(&seen, &app, long));
        assert!(due(&seen, &app, Duration::ZERO));
        let mut changed = app.clone();
        changed["spec"]["a"] = json!(2);
        assert!(due(&seen, &changed, long));
        let mut refresh = app.clone();
        refresh["metadata"]["annotations"] = json!({REFRESH: "normal"});
        assert!(due(&seen, &refresh, long));
        let mut progressing = app;
        progressing["status"]["health"]["status"] = json!("Progressing");
        assert!(due(&seen, &progressing, long));
    }

    #[test]
    fn initial_passwords_are_long_and_random() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}

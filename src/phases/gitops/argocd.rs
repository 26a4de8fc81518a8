//! Argo CD: its install manifests made installable as `kubectl apply -n argocd` would make
//! them (the `argocd` Namespace first, namespaced objects without a namespace put in it), the
//! polling interval and the Git host's known_hosts written into Argo CD's own ConfigMaps,
//! the repository Secret and the root `Application`, and the wait until the Application is
//! Synced and Healthy with no operation running (`argocd app wait`'s test).

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

use super::source::{Credentials, SourceInfo, flux_url};
use crate::config::Config;
use crate::error::Error;
use crate::kube::apply::{Applier, ObjectRef};
use crate::kube::client::KubeError;

/// Argo CD's namespace (its ClusterRoleBindings name it).
pub const NAMESPACE: &str = "argocd";
/// The root Application.
pub const APP: &str = "root";
/// The repository Secret platform writes.
pub const REPO_SECRET: &str = "platform-repository";
/// Where argocd-server puts the first admin password (key `password`).
pub const ADMIN_SECRET: &str = "argocd-initial-admin-secret";
/// The annotation that asks the application controller to refresh now (what
/// `argocd app get --refresh` sets; the controller removes it when done).
const REFRESH: &str = "argocd.argoproj.io/refresh";

/// Builtin kinds that are not namespaced, among those an install manifest may carry.
const CLUSTER_KINDS: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "PersistentVolume",
];

/// Argo CD's `install.yaml` made ready to apply: the Namespace `argocd` first; namespaced
/// objects without a namespace put in `argocd` (kinds the manifests' own CRDs define are
/// judged by the CRD's scope); `timeout.reconciliation` in `argocd-cm` set to
/// `gitops.interval` (Argo CD's polling period); the user's known_hosts appended to
/// `argocd-ssh-known-hosts-cm` (Argo CD checks SSH host keys against it).
pub fn prepare(
    mut objs: Vec<DynamicObject>,
    interval: &str,
    known_hosts: Option<&str>,
) -> Result<Vec<DynamicObject>, Error> {
    let cluster_scoped: BTreeSet<String> = objs
        .iter()
        .filter(|o| {
            o.types
                .as_ref()
                .is_some_and(|t| t.kind == "CustomResourceDefinition")
        })
        .filter(|o| o.data["spec"]["scope"] == "Cluster")
        .filter_map(|o| o.data["spec"]["names"]["kind"].as_str().map(str::to_owned))
        .chain(CLUSTER_KINDS.iter().map(|k| (*k).to_owned()))
        .collect();
    for o in &mut objs {
        let kind = o.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
        if !cluster_scoped.contains(&kind) && o.metadata.namespace.is_none() {
            o.metadata.namespace = Some(NAMESPACE.into());
        }
        let name = o.metadata.name.as_deref().unwrap_or_default();
        if kind != "ConfigMap" || o.metadata.namespace.as_deref() != Some(NAMESPACE) {
            continue;
        }
        if name == "argocd-cm" {
            o.data["data"]["timeout.reconciliation"] = json!(interval);
        }
        if name == "argocd-ssh-known-hosts-cm"
            && let Some(extra) = known_hosts
        {
            let current = o.data["data"]["ssh_known_hosts"].as_str().unwrap_or("");
            let mut text = current.trim_end().to_owned();
            for line in extra.lines().filter(|l| !l.trim().is_empty()) {
                if !current.lines().any(|l| l == line) {
                    text.push('\n');
                    text.push_str(line);
                }
            }
            o.data["data"]["ssh_known_hosts"] = json!(format!("{}\n", text.trim_start()));
        }
    }
    let has_namespace = objs.iter().any(|o| {
        o.types.as_ref().is_some_and(|t| t.kind == "Namespace")
            && o.metadata.name.as_deref() == Some(NAMESPACE)
    });
    if !has_namespace {
        let ns = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE},
        }))
        .map_err(|e| Error::Failed(format!("the argocd Namespace: {e}")))?;
        objs.insert(0, ns);
    }
    Ok(objs)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn object(v: Value) -> Result<DynamicObject, Error> {
    serde_json::from_value(v).map_err(|e| Error::Failed(format!("building Argo CD's objects: {e}")))
}

/// The repository Secret (unless the repository is public) and the root Application, with
/// what the end of `up` reports about them.
pub fn objects(
    config: &Config,
    creds: &Credentials,
) -> Result<(Vec<DynamicObject>, SourceInfo), Error> {
    let g = &config.gitops;
    let url = flux_url(g.repository.as_deref().unwrap_or_default());
    let (auth, secret, deploy_key) = match creds {
        Credentials::Anonymous => ("none", None, None),
        Credentials::Token(t) => (
            "token",
            Some(json!({"username": b64("git"), "password": b64(t.expose())})),
            None,
        ),
        Credentials::Ssh {
            identity, public, ..
        } => (
            "ssh",
            Some(json!({"sshPrivateKey": b64(identity.expose())})),
            Some(public.clone()),
        ),
    };
    let mut out = Vec::new();
    if let Some(mut data) = secret {
        data["type"] = json!(b64("git"));
        data["url"] = json!(b64(&url));
        out.push(object(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": REPO_SECRET, "namespace": NAMESPACE, "labels": {
                "app.kubernetes.io/managed-by": "platform",
                "argocd.argoproj.io/secret-type": "repository",
            }},
            "type": "Opaque", "data": data,
        }))?);
    }
    out.push(object(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": APP, "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "platform"}},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": g.branch, "path": g.path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }))?);
    let info = SourceInfo {
        url,
        branch: g.branch.clone(),
        path: g.path.clone(),
        auth: auth.into(),
        deploy_key,
    };
    Ok((out, info))
}

/// The workloads that read `argocd-cm`'s `timeout.reconciliation` when they start.
const READERS: [(&str, &str); 2] = [
    ("StatefulSet", "argocd-application-controller"),
    ("Deployment", "argocd-repo-server"),
];

/// Restarts the workloads that read `argocd-cm` at start, as `kubectl rollout restart`
/// does (the pod template's `kubectl.kubernetes.io/restartedAt`); those it restarted.
pub async fn restart(applier: &Applier) -> Result<Vec<ObjectRef>, KubeError> {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": now}}}}});
    let mut done = Vec::new();
    for (kind, name) in READERS {
        let r = ObjectRef {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            namespace: Some(NAMESPACE.into()),
            name: name.into(),
        };
        let api = applier.api_of(&r)?;
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => done.push(r),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(KubeError::api(format!("restarting {r}"))(e)),
        }
    }
    Ok(done)
}

/// The root Application's reference.
pub fn reference() -> ObjectRef {
    ObjectRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some(NAMESPACE.into()),
        name: APP.into(),
    }
}

/// An Application's state as `argocd app get` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppState {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub health: String,
    /// The commit the sync compared with.
    pub revision: Option<String>,
    /// An operation is pending or running (top-level `operation`).
    pub operating: bool,
    /// The controller has not handled a requested refresh yet.
    pub refreshing: bool,
    /// The verdict is about the current spec: `status.sync.comparedTo` has the spec's
    /// source and destination (a verdict on an earlier spec does not count).
    pub current: bool,
    /// Error conditions (`ComparisonError`, `InvalidSpecError`, `SyncError`, ...), and a
    /// failed last operation, as messages.
    pub errors: Vec<String>,
}

impl AppState {
    /// Synced, Healthy, no operation: `argocd app wait`'s "done".
    pub fn done(&self) -> bool {
        self.sync == "Synced"
            && self.health == "Healthy"
            && !self.operating
            && !self.refreshing
            && self.current
    }
}

/// The state of an Application object.
pub fn state(obj: &DynamicObject) -> AppState {
    let st = &obj.data["status"];
    let text = |v: &Value| v.as_str().unwrap_or("Unknown").to_owned();
    let mut errors: Vec<String> = st["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"].as_str().is_some_and(|t| t.ends_with("Error")))
        .map(|c| {
            format!(
                "{}: {}",
                c["type"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let op = &st["operationState"];
    if matches!(op["phase"].as_str(), Some("Failed" | "Error")) {
        errors.push(format!(
            "sync {}: {}",
            op["phase"].as_str().unwrap_or_default(),
            op["message"].as_str().unwrap_or_default()
        ));
    }
    let compared = &st["sync"]["comparedTo"];
    let spec = &obj.data["spec"];
    let same = |a: &Value, b: &Value, keys: &[&str]| keys.iter().all(|k| a[k] == b[k]);
    let current = same(
        &compared["source"],
        &spec["source"],
        &["repoURL", "targetRevision", "path"],
    ) && same(
        &compared["destination"],
        &spec["destination"],
        &["server", "namespace"],
    );
    AppState {
        current,
        sync: text(&st["sync"]["status"]),
        health: text(&st["health"]["status"]),
        revision: st["sync"]["revision"].as_str().map(str::to_owned),
        operating: !obj.data["operation"].is_null(),
        refreshing: obj
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(REFRESH)),
        errors,
    }
}

/// Waits until the root Application is Synced and Healthy with no operation and returns
/// `<branch>@sha1:<commit>`. When the Application was just written (`changed`) or is not
/// done, a refresh is requested first and its verdict awaited, so an earlier run's verdict
/// is never taken for this one's; an error condition then fails at once, naming its
/// message (a branch that does not exist: `ComparisonError: ... unable to resolve ...`).
pub async fn wait_synced(
    applier: &Applier,
    branch: &str,
    changed: bool,
    timeout: Duration,
) -> Result<String, KubeError> {
    let r = reference();
    let api = applier.api_of(&r)?;
    let now = api
        .get_opt(APP)
        .await
        .map_err(KubeError::api(format!("reading {r}")))?;
    if changed || now.as_ref().is_none_or(|o| !state(o).done()) {
        let patch = json!({"metadata": {"annotations": {REFRESH: "normal"}}});
        api.patch(APP, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(KubeError::api(format!("requesting a refresh of {r}")))?;
    }
    let settled = |o: Option<&DynamicObject>| {
        o.map(state)
            .is_some_and(|s| !s.refreshing && s.current && (s.done() || !s.errors.is_empty()))
    };
    let fail = |why: String| KubeError::Invalid(format!("{r} is not Synced and Healthy: {why}"));
    match tokio::time::timeout(timeout, await_condition(api.clone(), APP, settled)).await {
        Ok(Ok(Some(obj))) => {
            let s = state(&obj);
            match s.errors.first() {
                Some(e) if !s.done() => Err(fail(e.clone())),
                _ => Ok(format!("{branch}@sha1:{}", s.revision.unwrap_or_default())),
            }
        }
        Ok(Ok(None)) => Err(fail("it does not exist".into())),
        Ok(Err(e)) => Err(fail(format!("watching it: {e}"))),
        Err(_) => {
            let s = api.get_opt(APP).await.ok().flatten().map(|o| state(&o));
            let why = s.map_or_else(
                || "it does not exist".to_owned(),
                |s| {
                    format!(
                        "sync {}, health {}{}{}",
                        s.sync,
                        s.health,
                        if s.refreshing {
                            ", refresh not handled"
                        } else {
                            ""
                        },
                        if s.current {
                            ""
                        } else {
                            ", the current spec not compared yet"
                        }
                    )
                },
            );
            Err(KubeError::Timeout {
                what: format!("Application {NAMESPACE}/{APP} not Synced and Healthy"),
                secs: timeout.as_secs(),
                waiting: vec![format!("{r}: {why}")],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<DynamicObject> {
        crate::kube::apply::parse(text, "test").unwrap()
    }

    #[test]
    fn objects_without_a_namespace_go_to_argocd_and_the_namespace_comes_first() {
        let objs = parse(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: apps.argoproj.io}\nspec: {group: argoproj.io, scope: Namespaced, names: {kind: Application}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: argocd-server}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: argocd-server}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-ssh-known-hosts-cm}\ndata: {ssh_known_hosts: \"github.com ssh-ed25519 AAAA\\n\"}\n",
        );
        let out = prepare(
            objs,
            "30s",
            Some("git.local ssh-ed25519 BBBB\ngithub.com ssh-ed25519 AAAA\n"),
        )
        .unwrap();
        let ns: Vec<(String, Option<String>)> = out
            .iter()
            .map(|o| {
                (
                    o.types.as_ref().unwrap().kind.clone(),
                    o.metadata.namespace.clone(),
                )
            })
            .collect();
        assert_eq!(ns[0], ("Namespace".into(), None));
        assert_eq!(ns[1], ("CustomResourceDefinition".into(), None));
        assert_eq!(ns[2], ("ServiceAccount".into(), Some("argocd".into())));
        assert_eq!(ns[3], ("ClusterRole".into(), None));
        assert_eq!(out[4].data["data"]["timeout.reconciliation"], "30s");
        assert_eq!(
            out[5].data["data"]["ssh_known_hosts"],
            "github.com ssh-ed25519 AAAA\ngit.local ssh-ed25519 BBBB\n"
        );
    }

    #[test]
    fn an_app_is_done_only_synced_healthy_and_idle() {
        let app = |status: Value, extra: Value| -> DynamicObject {
            let mut v = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": APP, "namespace": NAMESPACE}, "status": status});
            if let Some(o) = extra.as_object() {
                for (k, x) in o {
                    v[k] = x.clone();
                }
            }
            serde_json::from_value(v).unwrap()
        };
        let good = json!({"sync": {"status": "Synced", "revision": "abc", "comparedTo": {}},
            "health": {"status": "Healthy"}});
        assert!(state(&app(good.clone(), json!({}))).done());
        assert!(!state(&app(good.clone(), json!({"operation": {"sync": {}}}))).done());
        let refreshing = json!({"metadata": {"name": APP, "namespace": NAMESPACE,
            "annotations": {REFRESH: "normal"}}});
        assert!(!state(&app(good.clone(), refreshing)).done());
        let mut stale = good.clone();
        stale["sync"]["comparedTo"] = json!({"source": {"targetRevision": "old"}});
        assert!(!state(&app(stale, json!({}))).done());
        let bad = json!({"sync": {"status": "Unknown"}, "health": {"status": "Healthy"},
            "conditions": [{"type": "ComparisonError", "message": "unable to resolve 'nope' to a commit SHA"}]});
        let s = state(&app(bad, json!({})));
        assert!(!s.done());
        assert_eq!(
            s.errors,
            ["ComparisonError: unable to resolve 'nope' to a commit SHA"]
        );
    }
}

//! One Application's reconcile, as Argo CD's application controller and repo server do it
//! for a plain-YAML or `kustomization.yaml` directory: resolve `targetRevision` with real
//! `git ls-remote` (repository credentials from the Secrets labelled
//! `argocd.argoproj.io/secret-type: repository`, SSH host keys from
//! `argocd-ssh-known-hosts-cm`), read the manifests at `path` in that commit, and with
//! `syncPolicy.automated` sync them: server-side apply, Argo CD's tracking annotation,
//! `CreateNamespace=true`, prune of tracked objects gone from Git. Then the status: sync,
//! health of each resource, the operation's result, or a `ComparisonError` condition.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::{REFRESH, applications, projects};
use crate::k3s::flux::git::{self, Auth};
use crate::k3s::flux::kustomize::{Kinds, gvk_of, stage};
use crate::k3s::flux::{Flux, manifests};
use crate::k3s::kubelet::now;

/// The field manager of what the stand-in applies.
const MANAGER: &str = "argocd-controller";
/// Argo CD's default resource tracking (annotation, since 3.0).
const TRACKING: &str = "argocd.argoproj.io/tracking-id";

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// The repository credentials Argo CD would use for `url`, and its SSH known hosts.
async fn auth(f: &Flux, ns: &str, url: &str) -> Auth {
    let secrets: Api<Secret> = Api::namespaced(f.client.clone(), ns);
    let lp = ListParams::default().labels("argocd.argoproj.io/secret-type=repository");
    let mut auth = Auth::default();
    let list = secrets.list(&lp).await.map(|l| l.items).unwrap_or_default();
    for s in list {
        let data: BTreeMap<String, Vec<u8>> = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        if data.get("url").map(Vec::as_slice) != Some(url.as_bytes()) {
            continue;
        }
        auth.identity = data.get("sshPrivateKey").cloned();
        auth.username = data.get("username").cloned();
        auth.password = data.get("password").cloned();
    }
    let cms: Api<ConfigMap> = Api::namespaced(f.client.clone(), ns);
    auth.known_hosts = cms
        .get_opt("argocd-ssh-known-hosts-cm")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data?.get("ssh_known_hosts").cloned())
        .map(String::into_bytes);
    auth
}

/// The commit `targetRevision` (a branch, or `HEAD`/empty for the default branch) is at,
/// fetched into this server's cache; Argo CD's repo-server messages on failure.
async fn resolve(
    f: &Flux,
    app: &Value,
    url: &str,
    rev: &str,
) -> Result<(std::path::PathBuf, String), String> {
    let dir = f
        .cache
        .join("application")
        .join(meta(app, "namespace"))
        .join(format!("{}.git", meta(app, "name")));
    git::cache(&dir).await?;
    let auth = auth(f, meta(app, "namespace"), url).await;
    let refname = match rev {
        "" | "HEAD" => "HEAD".to_owned(),
        branch => format!("refs/heads/{branch}"),
    };
    let head = git::remote_ref(&dir, &auth, url, &refname)
        .await
        .map_err(|e| format!("failed to list refs: {e}"))?
        .ok_or_else(|| format!("unable to resolve '{rev}' to a commit SHA"))?;
    if !git::has_commit(&dir, &head).await {
        git::fetch_ref(&dir, &auth, url, &refname).await?;
    }
    Ok((dir, head))
}

/// The live health of one object: Deployments and StatefulSets by their rollout, anything
/// else Healthy once it exists (Argo CD has no health check for plain kinds either).
fn health(live: Option<&DynamicObject>) -> &'static str {
    let Some(o) = live else { return "Missing" };
    let kind = o
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or_default();
    let st = &o.data["status"];
    let seen = st["observedGeneration"].as_i64() >= o.metadata.generation;
    let want = o.data["spec"]["replicas"].as_i64().unwrap_or(1);
    match kind {
        "Deployment" => {
            let available = st["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Available" && c["status"] == "True");
            if seen && available && st["updatedReplicas"].as_i64().unwrap_or(0) >= want {
                "Healthy"
            } else {
                "Progressing"
            }
        }
        "StatefulSet" => {
            if seen && st["readyReplicas"].as_i64().unwrap_or(0) >= want {
                "Healthy"
            } else {
                "Progressing"
            }
        }
        _ => "Healthy",
    }
}

/// The worst of the resources' health, in Argo CD's order.
fn worst<'a>(all: impl Iterator<Item = &'a str>) -> &'a str {
    let rank = |h: &str| match h {
        "Healthy" => 0,
        "Suspended" => 1,
        "Progressing" => 2,
        "Missing" => 3,
        "Degraded" => 4,
        _ => 2,
    };
    all.max_by_key(|h| rank(h)).unwrap_or("Healthy")
}

/// A resource of the Application, as `status.resources[]` lists it.
struct Resource {
    gvk: GroupVersionKind,
    namespace: String,
    name: String,
    health: &'static str,
}

impl Resource {
    fn tracking(&self, app: &str) -> String {
        format!(
            "{app}:{}/{}:{}/{}",
            self.gvk.group, self.gvk.kind, self.namespace, self.name
        )
    }

    fn json(&self, status: &str) -> Value {
        let mut r = json!({"group": self.gvk.group, "version": self.gvk.version,
            "kind": self.gvk.kind, "name": self.name, "status": status,
            "health": {"status": self.health}});
        if !self.namespace.is_empty() {
            r["namespace"] = json!(self.namespace);
        }
        if self.health == "Healthy" && self.gvk.group.is_empty() && self.gvk.kind != "Namespace" {
            // Argo CD reports health only for kinds it has a check for.
            r.as_object_mut().map(|o| o.remove("health"));
        }
        r
    }
}

/// Applies `objects` for `app` (or only reads them when `apply` is false) and returns the
/// resources with their live health.
async fn sync(
    f: &Flux,
    app: &Value,
    mut objects: Vec<Value>,
    apply: bool,
) -> Result<Vec<Resource>, String> {
    objects.sort_by_key(stage);
    let name = meta(app, "name");
    let dest_ns = app["spec"]["destination"]["namespace"]
        .as_str()
        .unwrap_or("");
    let options: Vec<&str> = app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if apply && options.contains(&"CreateNamespace=true") && !dest_ns.is_empty() {
        let nss: Api<Namespace> = Api::all(f.client.clone());
        if let Ok(None) = nss.get_opt(dest_ns).await {
            let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": dest_ns}}))
                .map_err(|e| e.to_string())?;
            match nss.create(&PostParams::default(), &ns).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(format!("Namespace {dest_ns}: {e}")),
            }
        }
    }
    let pp = PatchParams::apply(MANAGER).force();
    let mut kinds = Kinds(HashMap::new());
    let mut out = Vec::new();
    for mut obj in objects {
        let gvk = gvk_of(&obj)?;
        let oname = meta(&obj, "name").to_owned();
        let own_ns = meta(&obj, "namespace");
        let ns = if own_ns.is_empty() { dest_ns } else { own_ns }.to_owned();
        let (api, namespaced) = kinds.api(&f.client, &gvk, &ns).await?;
        if namespaced && ns.is_empty() {
            return Err(format!("{}/{oname}: namespace not specified", gvk.kind));
        }
        let mut r = Resource {
            gvk,
            namespace: if namespaced { ns } else { String::new() },
            name: oname,
            health: "Missing",
        };
        let m = &mut obj["metadata"];
        if namespaced {
            m["namespace"] = json!(r.namespace);
        } else if let Some(o) = m.as_object_mut() {
            o.remove("namespace");
        }
        m["annotations"][TRACKING] = json!(r.tracking(name));
        let live = if apply {
            api.patch(&r.name, &pp, &Patch::Apply(&obj))
                .await
                .map(Some)
                .map_err(|e| format!("{}/{} apply failed: {e}", r.gvk.kind, r.name))?
        } else {
            api.get_opt(&r.name).await.ok().flatten()
        };
        r.health = health(live.as_ref());
        out.push(r);
    }
    Ok(out)
}

/// Deletes what the last sync tracked and Git no longer has (only objects whose tracking
/// annotation still names this Application).
async fn prune(f: &Flux, app: &Value, now: &[Resource]) -> Result<(), String> {
    let name = meta(app, "name");
    let mut kinds = Kinds(HashMap::new());
    let old = app["status"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for r in old.iter().rev() {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        let gvk = GroupVersionKind::gvk(&s("group"), &s("version"), &s("kind"));
        let (ns, oname) = (s("namespace"), s("name"));
        if now.iter().any(|n| {
            n.gvk.kind == gvk.kind
                && n.gvk.group == gvk.group
                && n.namespace == ns
                && n.name == oname
        }) {
            continue;
        }
        let Ok((api, _)) = kinds.api(&f.client, &gvk, &ns).await else {
            continue;
        };
        let Ok(Some(live)) = api.get_opt(&oname).await else {
            continue;
        };
        let tracked = live
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TRACKING))
            .is_some_and(|t| t.starts_with(&format!("{name}:")));
        if tracked {
            match api.delete(&oname, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(format!("{}/{ns}/{oname} prune failed: {e}", gvk.kind)),
            }
        }
    }
    Ok(())
}

/// Writes the Application's status (a merge patch of the whole object: the CRD has no
/// status subresource) and removes a handled refresh request; only if the object is still
/// the one reconciled (its resourceVersion: a spec or refresh request that came in since is
/// reconciled on the next pass, never answered with this verdict).
async fn write(f: &Flux, app: &Value, status: Value) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(f.client.clone(), meta(app, "namespace"), &applications());
    let patch = json!({"metadata": {"annotations": {REFRESH: null},
        "resourceVersion": app["metadata"]["resourceVersion"]}, "status": status});
    match api
        .patch(
            meta(app, "name"),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => {
            crate::k3s::log::warn(format!(
                "argocd stand-in: writing the status of {}: {e}",
                meta(app, "name")
            ));
        }
    }
}

/// A condition Argo CD shows on the Application.
fn condition(typ: &str, message: &str) -> Value {
    json!([{"type": typ, "message": message, "lastTransitionTime": now(false)}])
}

/// Reconciles one Application and writes its status.
pub async fn reconcile(f: &Flux, app: &Value) {
    let spec = &app["spec"];
    let source = &spec["source"];
    let compared = json!({"source": source, "destination": spec["destination"]});
    let invalid = |message: String| {
        json!({"sync": {"status": "Unknown", "comparedTo": compared}, "reconciledAt": now(false),
            "conditions": condition("InvalidSpecError", &message)})
    };
    if source.is_null() || !source["chart"].is_null() || !source["helm"].is_null() {
        let m = "only spec.source with a Git directory (plain YAML or kustomization.yaml) is supported by the local cloud's Argo CD stand-in";
        return write(f, app, invalid(m.into())).await;
    }
    let project = spec["project"].as_str().unwrap_or("default");
    let projects: Api<DynamicObject> =
        Api::namespaced_with(f.client.clone(), meta(app, "namespace"), &projects());
    if let Ok(None) = projects.get_opt(project).await {
        let m = format!("Application referencing project {project} which does not exist");
        return write(f, app, invalid(m)).await;
    }
    let url = source["repoURL"].as_str().unwrap_or_default();
    let rev = source["targetRevision"].as_str().unwrap_or("HEAD");
    let failed = |e: String| {
        json!({"sync": {"status": "Unknown", "comparedTo": compared}, "reconciledAt": now(false),
            "conditions": condition("ComparisonError", &format!(
                "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {e}"))})
    };
    let (dir, sha) = match resolve(f, app, url, rev).await {
        Ok(x) => x,
        Err(e) => return write(f, app, failed(e)).await,
    };
    let path = match manifests::clean_path(source["path"].as_str().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return write(f, app, failed(e)).await,
    };
    let objects = match manifests::read(&dir, &sha, &path).await {
        Ok(o) => o,
        Err(e) => return write(f, app, failed(e)).await,
    };
    let automated = &spec["syncPolicy"]["automated"];
    let auto = automated.is_object() && automated["enabled"] != false;
    let last = &app["status"]["operationState"]["syncResult"]["revision"];
    // An automated sync runs for a new commit or spec, and every pass with selfHeal.
    let apply = auto
        && (*last != sha.as_str()
            || app["status"]["sync"]["comparedTo"] != compared
            || automated["selfHeal"] == true);
    let started = now(false);
    let resources = match sync(f, app, objects, apply).await {
        Ok(r) => r,
        Err(e) => {
            let mut s = json!({"sync": {"status": "OutOfSync", "revision": sha, "comparedTo": compared},
                "reconciledAt": now(false), "conditions": condition("SyncError", &e)});
            if apply {
                s["operationState"] = json!({"phase": "Failed", "message": e,
                    "operation": {"sync": {"revision": sha}, "initiatedBy": {"automated": true}},
                    "startedAt": started, "finishedAt": now(false)});
            }
            return write(f, app, s).await;
        }
    };
    if apply
        && automated["prune"] == true
        && let Err(e) = prune(f, app, &resources).await
    {
        return write(f, app, json!({"conditions": condition("SyncError", &e)})).await;
    }
    let missing = resources.iter().any(|r| r.health == "Missing");
    let sync_status = if missing { "OutOfSync" } else { "Synced" };
    let health = worst(resources.iter().map(|r| r.health));
    let listed: Vec<Value> = resources.iter().map(|r| r.json(sync_status)).collect();
    let mut status = json!({
        "sync": {"status": sync_status, "revision": sha, "comparedTo": compared},
        "health": {"status": health, "lastTransitionTime": now(false)},
        "resources": listed,
        "reconciledAt": now(false),
        "sourceType": "Directory",
        "conditions": null,
    });
    if app["status"]["health"]["status"] == health {
        status["health"]["lastTransitionTime"] =
            app["status"]["health"]["lastTransitionTime"].clone();
    }
    if apply {
        if app["status"]["sync"]["revision"] != sha.as_str() {
            crate::k3s::log::info(format!(
                "argocd stand-in: Application {}/{} synced {sha} ({} objects)",
                meta(app, "namespace"),
                meta(app, "name"),
                listed.len()
            ));
        }
        status["operationState"] = json!({
            "operation": {"sync": {"revision": sha, "prune": automated["prune"] == true},
                "initiatedBy": {"automated": true}},
            "phase": "Succeeded", "message": "successfully synced (all tasks run)",
            "syncResult": {"revision": sha, "source": source,
                "resources": listed.iter().map(|r| {
                    let mut r = r.clone();
                    r["status"] = json!("Synced");
                    r["message"] = json!("configured");
                    r
                }).collect::<Vec<_>>()},
            "startedAt": started, "finishedAt": now(false),
        });
    }
    write(f, app, status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn health_follows_the_rollout_and_the_worst_wins() {
        let d = |available: &str, seen: i64| {
            obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 1},
                "status": {"observedGeneration": seen, "updatedReplicas": 1,
                    "conditions": [{"type": "Available", "status": available}]}}))
        };
        assert_eq!(health(Some(&d("True", 2))), "Healthy");
        assert_eq!(health(Some(&d("True", 1))), "Progressing");
        assert_eq!(health(Some(&d("False", 2))), "Progressing");
        assert_eq!(health(None), "Missing");
        let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
        assert_eq!(health(Some(&cm)), "Healthy");
        assert_eq!(
            worst(["Healthy", "Progressing", "Healthy"].into_iter()),
            "Progressing"
        );
        assert_eq!(worst(["Healthy", "Missing"].into_iter()), "Missing");
        assert_eq!(worst(std::iter::empty()), "Healthy");
    }

    #[test]
    fn tracking_ids_are_argo_cds() {
        let r = Resource {
            gvk: GroupVersionKind::gvk("apps", "v1", "Deployment"),
            namespace: "web".into(),
            name: "api".into(),
            health: "Healthy",
        };
        assert_eq!(r.tracking("root"), "root:apps/Deployment:web/api");
    }
}

//! The Kustomization reconciler (kustomize-controller's part): the source GitRepository's
//! artifact commit (fetched into its cache if this server lacks it), the manifests at
//! `spec.path`, server-side applied with field manager `kustomize-controller` and Flux's
//! ownership labels, objects of the previous inventory no longer there deleted when
//! `spec.prune`, and Flux's status: `inventory.entries` (`<ns>_<name>_<group>_<kind>`,
//! `v`), `lastAttemptedRevision`, `lastAppliedRevision` and `Ready`.

use std::collections::{BTreeMap, HashMap};

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube::discovery::{ApiCapabilities, Scope};
use serde_json::{Value, json};

use super::{Flux, condition, git_repositories, kustomizations, manifests, source, write_status};

/// The field manager, and the labels kustomize-controller puts on what it applies.
const MANAGER: &str = "kustomize-controller";
const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
const NS_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// The GitRepository a Kustomization names (`spec.sourceRef`), if it exists.
async fn source_of(f: &Flux, ks: &Value) -> Result<Value, String> {
    let r = &ks["spec"]["sourceRef"];
    let kind = r["kind"].as_str().unwrap_or_default();
    if kind != "GitRepository" {
        return Err(format!(
            "spec.sourceRef.kind {kind:?} is not supported by the local cloud's Flux stand-in (only GitRepository)"
        ));
    }
    let ns = r["namespace"].as_str().unwrap_or(meta(ks, "namespace"));
    let name = r["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(f.client.clone(), ns, &git_repositories());
    match api.get_opt(name).await {
        Ok(Some(o)) => serde_json::to_value(o).map_err(|e| e.to_string()),
        Ok(None) => Err(format!("Source '{kind}/{ns}/{name}' not found")),
        Err(e) => Err(format!("Source '{kind}/{ns}/{name}': {e}")),
    }
}

/// The source's artifact revision, when the source is Ready.
fn ready_revision(repo: &Value) -> Option<String> {
    let ready = repo["status"]["conditions"]
        .as_array()?
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let rev = repo["status"]["artifact"]["revision"].as_str()?;
    ready.then(|| rev.to_owned())
}

/// Whether the source has a revision this Kustomization has not attempted yet (Flux's
/// kustomize-controller watches its sources for that).
pub async fn source_moved(f: &Flux, ks: &Value) -> bool {
    let Ok(repo) = source_of(f, ks).await else {
        return false;
    };
    ready_revision(&repo).is_some_and(|rev| ks["status"]["lastAttemptedRevision"] != rev.as_str())
}

/// An inventory entry's id, as Flux writes it.
fn entry_id(ns: &str, name: &str, group: &str, kind: &str) -> String {
    format!("{ns}_{name}_{group}_{kind}")
}

/// Kinds applied before the others (Flux's staged apply: CRDs and Namespaces first).
pub(crate) fn stage(obj: &Value) -> u8 {
    match obj["kind"].as_str() {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    }
}

/// Resolves kinds once per reconcile.
pub(crate) struct Kinds(pub HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>);

impl Kinds {
    pub async fn api(
        &mut self,
        client: &kube::Client,
        gvk: &GroupVersionKind,
        ns: &str,
    ) -> Result<(Api<DynamicObject>, bool), String> {
        if !self.0.contains_key(gvk) {
            let found = kube::discovery::pinned_kind(client, gvk)
                .await
                .map_err(|e| format!("{}/{} {}: {e}", gvk.group, gvk.version, gvk.kind))?;
            self.0.insert(gvk.clone(), found);
        }
        let (ar, caps) = &self.0[gvk];
        Ok(match caps.scope {
            Scope::Cluster => (Api::all_with(client.clone(), ar), false),
            Scope::Namespaced => (Api::namespaced_with(client.clone(), ns, ar), true),
        })
    }
}

pub(crate) fn gvk_of(obj: &Value) -> Result<GroupVersionKind, String> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if version.is_empty() || kind.is_empty() || meta(obj, "name").is_empty() {
        return Err(format!(
            "an object without apiVersion, kind or metadata.name: {}",
            obj.to_string().chars().take(200).collect::<String>()
        ));
    }
    Ok(GroupVersionKind::gvk(group, version, kind))
}

/// Applies `objects` for Kustomization `ks`; the inventory entries (id -> version).
async fn apply(
    f: &Flux,
    ks: &Value,
    mut objects: Vec<Value>,
) -> Result<BTreeMap<String, String>, String> {
    objects.sort_by_key(stage);
    let target = ks["spec"]["targetNamespace"].as_str();
    let pp = PatchParams::apply(MANAGER).force();
    let mut kinds = Kinds(HashMap::new());
    let mut inventory = BTreeMap::new();
    for mut obj in objects {
        let gvk = gvk_of(&obj)?;
        let name = meta(&obj, "name").to_owned();
        let ns = target.unwrap_or(meta(&obj, "namespace")).to_owned();
        let (api, namespaced) = kinds.api(&f.client, &gvk, &ns).await?;
        if namespaced && ns.is_empty() {
            return Err(format!("{}/{name} namespace not specified", gvk.kind));
        }
        let m = &mut obj["metadata"];
        if namespaced {
            m["namespace"] = json!(ns);
        } else if let Some(o) = m.as_object_mut() {
            o.remove("namespace");
        }
        m["labels"][NAME_LABEL] = json!(meta(ks, "name"));
        m["labels"][NS_LABEL] = json!(meta(ks, "namespace"));
        api.patch(&name, &pp, &Patch::Apply(&obj))
            .await
            .map_err(|e| format!("{}/{name} apply failed: {e}", gvk.kind))?;
        let ns = if namespaced { ns.as_str() } else { "" };
        inventory.insert(entry_id(ns, &name, &gvk.group, &gvk.kind), gvk.version);
    }
    Ok(inventory)
}

/// Deletes what the previous inventory has and `now` does not, if kustomize-controller
/// still owns it (its labels name this Kustomization; `kustomize.toolkit.fluxcd.io/prune:
/// disabled` keeps it).
async fn prune(f: &Flux, ks: &Value, now: &BTreeMap<String, String>) -> Result<(), String> {
    let mut kinds = Kinds(HashMap::new());
    let old = ks["status"]["inventory"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for e in old.iter().rev() {
        let (Some(id), Some(v)) = (e["id"].as_str(), e["v"].as_str()) else {
            continue;
        };
        let parts: Vec<&str> = id.splitn(4, '_').collect();
        let [ns, name, group, kind] = parts[..] else {
            continue;
        };
        if now.contains_key(id) {
            continue;
        }
        let gvk = GroupVersionKind::gvk(group, v, kind);
        let Ok((api, _)) = kinds.api(&f.client, &gvk, ns).await else {
            continue;
        };
        let Ok(Some(live)) = api.get_opt(name).await else {
            continue;
        };
        let labels = live.metadata.labels.unwrap_or_default();
        let annotations = live.metadata.annotations.unwrap_or_default();
        let owned = labels.get(NAME_LABEL).map(String::as_str) == Some(meta(ks, "name"))
            && labels.get(NS_LABEL).map(String::as_str) == Some(meta(ks, "namespace"));
        let kept = annotations
            .get("kustomize.toolkit.fluxcd.io/prune")
            .map(String::as_str)
            == Some("disabled");
        if owned && !kept {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(format!("{kind}/{ns}/{name} prune failed: {e}")),
            }
        }
    }
    Ok(())
}

/// Reconciles one Kustomization and writes its status.
pub async fn reconcile(f: &Flux, ks: &Value) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(f.client.clone(), meta(ks, "namespace"), &kustomizations());
    let fail = |reason: &str, message: &str, attempted: Option<&str>| {
        let mut s = json!({"conditions": [condition(ks, "Ready", false, reason, message)]});
        if let Some(rev) = attempted {
            s["lastAttemptedRevision"] = json!(rev);
        }
        s
    };
    let repo = match source_of(f, ks).await {
        Ok(r) => r,
        Err(e) => return write_status(&api, ks, fail("ArtifactFailed", &e, None)).await,
    };
    let Some(revision) = ready_revision(&repo) else {
        let msg = format!(
            "Source artifact not found, retrying in {:?}",
            super::interval(ks, &f.timing)
        );
        return write_status(&api, ks, fail("ArtifactFailed", &msg, None)).await;
    };
    let sha = revision.rsplit(':').next().unwrap_or_default().to_owned();
    // The artifact's commit in this server's cache (another server may have fetched it).
    let checkout = match source::remote(f, &repo).await {
        Ok(r) => {
            let have = crate::k3s::flux::git::cache(&r.dir).await.is_ok()
                && crate::k3s::flux::git::has_commit(&r.dir, &sha).await;
            match have {
                true => Ok(r.dir),
                false => source::fetch_head(&r).await.and_then(|got| {
                    (got == sha).then_some(r.dir.clone()).ok_or_else(|| {
                        format!("revision {revision} is no longer the branch head; waiting for the source")
                    })
                }),
            }
        }
        Err((_, e)) => Err(e),
    };
    let dir = match checkout {
        Ok(d) => d,
        Err(e) => return write_status(&api, ks, fail("ArtifactFailed", &e, Some(&revision))).await,
    };
    let path = match manifests::clean_path(ks["spec"]["path"].as_str().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return write_status(&api, ks, fail("ArtifactFailed", &e, Some(&revision))).await,
    };
    let objects = match manifests::read(&dir, &sha, &path).await {
        Ok(o) => o,
        Err(e) if e.starts_with("kustomization path not found") => {
            return write_status(&api, ks, fail("ArtifactFailed", &e, Some(&revision))).await;
        }
        Err(e) => return write_status(&api, ks, fail("BuildFailed", &e, Some(&revision))).await,
    };
    let inventory = match apply(f, ks, objects).await {
        Ok(i) => i,
        Err(e) => {
            return write_status(&api, ks, fail("ReconciliationFailed", &e, Some(&revision))).await;
        }
    };
    if ks["spec"]["prune"] == true
        && let Err(e) = prune(f, ks, &inventory).await
    {
        return write_status(&api, ks, fail("PruneFailed", &e, Some(&revision))).await;
    }
    let entries: Vec<Value> = inventory
        .iter()
        .map(|(id, v)| json!({"id": id, "v": v}))
        .collect();
    if ks["status"]["lastAppliedRevision"] != revision.as_str() {
        crate::k3s::log::info(format!(
            "flux stand-in: Kustomization {}/{} applied {revision} ({} objects)",
            meta(ks, "namespace"),
            meta(ks, "name"),
            entries.len()
        ));
    }
    let message = format!("Applied revision: {revision}");
    let status = json!({
        "lastAttemptedRevision": revision,
        "lastAppliedRevision": revision,
        "inventory": {"entries": entries},
        "conditions": [condition(ks, "Ready", true, "ReconciliationSucceeded", &message)],
    });
    write_status(&api, ks, status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_are_fluxs() {
        assert_eq!(
            entry_id("default", "cm", "", "ConfigMap"),
            "default_cm__ConfigMap"
        );
        assert_eq!(entry_id("", "web", "", "Namespace"), "_web__Namespace");
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        assert_eq!(
            gvk_of(&d).unwrap(),
            GroupVersionKind::gvk("apps", "v1", "Deployment")
        );
        assert!(gvk_of(&json!({"kind": "ConfigMap"})).is_err());
    }
}

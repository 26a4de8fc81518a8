//! Server-side apply of manifests of any kind under one field manager, changing nothing that
//! is already as wanted: each object is first applied as a dry run and compared with the live
//! one, so a re-run of unchanged manifests sends no write. Kinds are resolved by discovery
//! (refreshed after CRDs are installed); `install.rs` orders the stages and the waits.

use std::fmt;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::KubeError;

/// The field manager of everything the product applies.
pub const MANAGER: &str = "platform";

/// One applied object, as the phase's outputs keep it (like Flux's inventory).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl ObjectRef {
    /// The object's group, version and kind.
    fn gvk(&self) -> GroupVersionKind {
        let (group, version) = self
            .api_version
            .split_once('/')
            .unwrap_or(("", &self.api_version));
        GroupVersionKind::gvk(group, version, &self.kind)
    }

    /// Whether this is a Namespace or a CRD (applied, and deleted, in the other stage).
    pub fn is_cluster_definition(&self) -> bool {
        matches!(
            (self.api_version.as_str(), self.kind.as_str()),
            ("v1", "Namespace") | ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        )
    }
}

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// The objects of a multi-document YAML (empty documents skipped), each with apiVersion,
/// kind and name; `what` names the source in errors.
pub fn parse(text: &str, what: &str) -> Result<Vec<DynamicObject>, KubeError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| KubeError::Invalid(format!("{what}: not YAML: {e}")))?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let bad = |why: &str| KubeError::Invalid(format!("{what}: document {}: {why}", i + 1));
        let obj: DynamicObject = serde_json::from_value(doc)
            .map_err(|e| bad(&format!("not a Kubernetes object ({e})")))?;
        if obj.types.is_none() {
            return Err(bad("no apiVersion and kind"));
        }
        if obj.metadata.name.as_deref().is_none_or(str::is_empty) {
            return Err(bad("no metadata.name"));
        }
        out.push(obj);
    }
    Ok(out)
}

/// The reference of a parsed object (see [`parse`]).
pub fn object_ref(obj: &DynamicObject) -> ObjectRef {
    let types = obj.types.clone().unwrap_or_default();
    ObjectRef {
        api_version: types.api_version,
        kind: types.kind,
        namespace: obj.metadata.namespace.clone(),
        name: obj.metadata.name.clone().unwrap_or_default(),
    }
}

/// Applies objects through discovery's view of the API.
pub struct Applier {
    client: kube::Client,
    discovery: Discovery,
}

impl Applier {
    /// Discovers the API's kinds.
    pub async fn new(client: kube::Client) -> Result<Self, KubeError> {
        let discovery = discover(&client).await?;
        Ok(Applier { client, discovery })
    }

    /// Discovers again (after CRDs were installed).
    pub async fn refresh(&mut self) -> Result<(), KubeError> {
        self.discovery = discover(&self.client).await?;
        Ok(())
    }

    /// Whether the API serves `r`'s kind.
    pub fn serves(&self, r: &ObjectRef) -> bool {
        self.discovery.resolve_gvk(&r.gvk()).is_some()
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The API of `r`'s kind (in `r`'s namespace, or `default`, when it is namespaced).
    pub fn api_of(&self, r: &ObjectRef) -> Result<Api<DynamicObject>, KubeError> {
        self.api(&mut r.clone())
    }

    /// The API of `r`'s kind, in its namespace when the kind is namespaced; the reference
    /// gets `default` as namespace when a namespaced object names none.
    fn api(&self, r: &mut ObjectRef) -> Result<Api<DynamicObject>, KubeError> {
        let (ar, caps): (ApiResource, ApiCapabilities) =
            self.discovery.resolve_gvk(&r.gvk()).ok_or_else(|| {
                KubeError::Invalid(format!(
                    "{r}: the API serves no {} {}",
                    r.api_version, r.kind
                ))
            })?;
        Ok(match caps.scope {
            Scope::Cluster => {
                r.namespace = None;
                Api::all_with(self.client.clone(), &ar)
            }
            Scope::Namespaced => {
                let ns = r.namespace.get_or_insert_with(|| "default".into());
                Api::namespaced_with(self.client.clone(), ns, &ar)
            }
        })
    }

    /// Applies `obj` unless the live object already is what applying it would make it:
    /// a dry-run apply is compared with the live object first, so an unchanged object costs
    /// a read and a dry run, never a write.
    pub async fn apply(&self, obj: &DynamicObject) -> Result<(ObjectRef, Outcome), KubeError> {
        let mut r = object_ref(obj);
        let api = self.api(&mut r)?;
        let mut body = obj.clone();
        body.metadata.namespace.clone_from(&r.namespace);
        let live = api
            .get_opt(&r.name)
            .await
            .map_err(KubeError::api(format!("reading {r}")))?;
        let params = PatchParams::apply(MANAGER).force();
        if let Some(live) = &live {
            let mut dry = params.clone();
            dry.dry_run = true;
            let would = api
                .patch(&r.name, &dry, &Patch::Apply(&body))
                .await
                .map_err(KubeError::api(format!("applying {r} (dry run)")))?;
            if comparable(live) == comparable(&would) {
                return Ok((r, Outcome::Unchanged));
            }
        }
        api.patch(&r.name, &params, &Patch::Apply(&body))
            .await
            .map_err(KubeError::api(format!("applying {r}")))?;
        let outcome = if live.is_some() {
            Outcome::Configured
        } else {
            Outcome::Created
        };
        Ok((r, outcome))
    }

    /// Deletes `r` (in the background, as kubectl does); `false` when it was already gone
    /// or its kind is no longer served.
    pub async fn delete(&self, r: &ObjectRef) -> Result<bool, KubeError> {
        let mut r = r.clone();
        if !self.serves(&r) {
            return Ok(false);
        }
        let api = self.api(&mut r)?;
        match api.delete(&r.name, &DeleteParams::background()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(KubeError::api(format!("deleting {r}"))(e)),
        }
    }
}

/// An object as JSON without the fields a no-op write may still report differently.
fn comparable(obj: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    v
}

/// Discovery in two requests where the API aggregates it, else group by group.
async fn discover(client: &kube::Client) -> Result<Discovery, KubeError> {
    match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) => Ok(d),
        Err(_) => Discovery::new(client.clone())
            .run()
            .await
            .map_err(KubeError::api("discovering the API's kinds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_become_objects_and_bad_ones_are_named() {
        let objs = parse(
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n",
            "x.yaml",
        )
        .unwrap();
        let refs: Vec<String> = objs.iter().map(|o| object_ref(o).to_string()).collect();
        assert_eq!(refs, ["Namespace a", "ConfigMap a/c"]);
        let e = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "x.yaml").unwrap_err();
        assert_eq!(e.to_string(), "x.yaml: document 1: no metadata.name");
        let e = parse("metadata: {name: a}\n", "x.yaml").unwrap_err();
        assert!(e.to_string().starts_with("x.yaml: document 1:"), "{e}");
    }

    #[test]
    fn references_keep_their_group_and_stage() {
        let r = ObjectRef {
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            namespace: None,
            name: "x".into(),
        };
        assert!(r.is_cluster_definition());
        assert_eq!(r.gvk().group, "apiextensions.k8s.io");
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "name": "x"})
        );
    }
}

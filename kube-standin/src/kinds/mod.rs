//! The resource types the server serves: the built-in table plus those of established
//! CustomResourceDefinitions, looked up by group/version/plural, kind or short name.

mod builtin;
pub mod crd;
pub mod schemas;

use std::sync::{Arc, RwLock};

use crate::ssa::schema::Schema;

pub use builtin::builtin_types;

/// Behaviour switches of a resource type (the parts of a registry strategy we emulate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Has a `/status` subresource: status changes only there; main writes keep the old status.
    pub status: bool,
    /// Has a `/scale` subresource (autoscaling/v1 Scale).
    pub scale: bool,
    /// `metadata.generation` is tracked (1 on create, +1 on non-metadata, non-status changes).
    pub generation: bool,
    /// Annotation changes bump the generation too (Deployment).
    pub generation_on_annotations: bool,
    /// DELETE answers with the deleted object rather than a `Status`.
    pub return_deleted: bool,
    /// Status given on create is kept (Node: the kubelet creates it with status).
    pub keep_status_on_create: bool,
}

/// Printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub priority: i64,
    pub json_path: String,
}

/// What a CRD adds to a type it defines.
#[derive(Debug, Clone, Default)]
pub struct CustomInfo {
    /// The CRD's name (`<plural>.<group>`).
    pub crd_name: String,
    pub printer_columns: Vec<PrinterColumn>,
}

/// One served resource (one group/version/plural).
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub flags: Flags,
    /// Field selectors beyond `metadata.name` and `metadata.namespace`.
    pub field_selectors: Vec<String>,
    /// Key segment in the store: `configmaps`, or `<group>/<plural>` for custom resources.
    pub storage: String,
    /// The structural schema (for apply, field validation and pruning).
    pub schema: Arc<Schema>,
    /// Set for types defined by a CRD.
    pub custom: Option<CustomInfo>,
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `<Kind>List`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The key prefix of every object (namespace `None` = all namespaces or cluster scope).
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("/registry/{}/{ns}/", self.storage),
            _ => format!("/registry/{}/", self.storage),
        }
    }

    /// The key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.prefix(namespace))
    }

    /// Whether this is a custom resource (served from a CRD).
    pub fn is_custom(&self) -> bool {
        self.custom.is_some()
    }
}

/// All served types; the CRD part changes at run time.
#[derive(Debug)]
pub struct Registry {
    builtin: Vec<Arc<ResourceType>>,
    custom: RwLock<Vec<Arc<ResourceType>>>,
}

impl Registry {
    /// The built-in table, no custom types yet.
    pub fn new() -> Self {
        Self {
            builtin: builtin_types().into_iter().map(Arc::new).collect(),
            custom: RwLock::new(Vec::new()),
        }
    }

    /// Every type, built-ins first.
    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        let mut all = self.builtin.clone();
        all.extend(
            self.custom
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    /// The type served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let hit =
            |t: &&Arc<ResourceType>| t.group == group && t.version == version && t.plural == plural;
        if let Some(t) = self.builtin.iter().find(hit) {
            return Some(t.clone());
        }
        self.custom
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(hit)
            .cloned()
    }

    /// The built-in type of a group/plural (any version), for the server's own writes.
    pub fn builtin(&self, group: &str, plural: &str) -> Arc<ResourceType> {
        self.builtin
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
            .unwrap_or_else(|| panic!("built-in type {plural}.{group} missing from the table"))
    }

    /// Whether any type is served in `group/version`.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.all()
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// Replaces the custom types that came from the CRD `crd_name`.
    pub fn set_custom(&self, crd_name: &str, types: Vec<ResourceType>) {
        let mut custom = self.custom.write().unwrap_or_else(|p| p.into_inner());
        custom.retain(|t| t.custom.as_ref().is_none_or(|c| c.crd_name != crd_name));
        custom.extend(types.into_iter().map(Arc::new));
    }

    /// Storage prefixes of every namespaced type, one per storage location.
    pub fn namespaced_storage(&self) -> Vec<Arc<ResourceType>> {
        let mut seen = std::collections::HashSet::new();
        self.all()
            .into_iter()
            .filter(|t| t.namespaced && seen.insert(t.storage.clone()))
            .collect()
    }

    /// Groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.all() {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, vs)) => {
                    if !vs.contains(&t.version) {
                        vs.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, vs) in out.iter_mut() {
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first
/// (`v2 > v1 > v1beta2 > v1beta1 > v1alpha1`), other strings last.
pub fn version_priority(v: &str) -> (u8, u64, u64) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    for (stage, rank) in [("beta", 2), ("alpha", 1)] {
        if let Some(n) = tail.strip_prefix(stage)
            && let Ok(minor) = n.parse::<u64>()
        {
            return (rank, major, minor);
        }
    }
    (0, 0, 0)
}

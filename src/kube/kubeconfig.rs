//! Kubeconfig documents edited as YAML structures, never as text: the cluster's own file made
//! from a server's `/etc/rancher/k3s/k3s.yaml`, and merged into a user's kubeconfig by name.
//!
//! Documents are kept as generic JSON values (insertion-ordered) so that every field we do not
//! know (extensions, preferences, exec plugins of other entries) survives a merge unchanged.

use serde_json::{Map, Value};

/// What is wrong with a kubeconfig.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KubeconfigError {
    /// Not YAML, or not a mapping at the top.
    #[error("{what} is not a kubeconfig: {why}")]
    Invalid { what: String, why: String },
    /// The server's file lacks what k3s always writes.
    #[error("{what} has no {field}")]
    Missing { what: String, field: String },
}

/// The three named lists of a kubeconfig and the field each entry keeps its body in.
const LISTS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("users", "user"),
    ("contexts", "context"),
];

/// Parses `text` (`what` names it in errors) into a top-level mapping; an empty document
/// is an empty kubeconfig, as kubectl treats an empty file.
pub fn parse(text: &str, what: &str) -> Result<Map<String, Value>, KubeconfigError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let invalid = |why: String| KubeconfigError::Invalid {
        what: what.to_owned(),
        why,
    };
    match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(invalid("the top level is not a mapping".into())),
        Err(e) => Err(invalid(
            e.to_string().lines().next().unwrap_or_default().to_owned(),
        )),
    }
}

/// Renders a kubeconfig mapping as YAML.
pub fn render(doc: &Map<String, Value>) -> String {
    serde_saphyr::to_string(doc).unwrap_or_default()
}

/// The cluster's kubeconfig from a k3s server's `k3s.yaml`: the one cluster, user and context
/// (k3s names them all `default`) renamed to `name`, the cluster's `server` set to `server`,
/// and `current-context` set to `name`. Everything else (CA data, client certificate) is
/// kept as the server wrote it.
pub fn from_k3s(
    k3s_yaml: &str,
    name: &str,
    server: &str,
) -> Result<Map<String, Value>, KubeconfigError> {
    let what = "the server's /etc/rancher/k3s/k3s.yaml";
    let mut doc = parse(k3s_yaml, what)?;
    let missing = |field: &str| KubeconfigError::Missing {
        what: what.to_owned(),
        field: field.to_owned(),
    };
    for (list, _) in LISTS {
        let entries = doc
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .filter(|a| a.len() == 1)
            .ok_or_else(|| missing(&format!("single entry in `{list}`")))?;
        if let Some(e) = entries[0].as_object_mut() {
            e.insert("name".into(), Value::String(name.to_owned()));
        }
    }
    let cluster = doc
        .get_mut("clusters")
        .and_then(|c| c.pointer_mut("/0/cluster"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing("`clusters[0].cluster`"))?;
    cluster.insert("server".into(), Value::String(server.to_owned()));
    let context = doc
        .get_mut("contexts")
        .and_then(|c| c.pointer_mut("/0/context"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| missing("`contexts[0].context`"))?;
    context.insert("cluster".into(), Value::String(name.to_owned()));
    context.insert("user".into(), Value::String(name.to_owned()));
    doc.insert("current-context".into(), Value::String(name.to_owned()));
    Ok(doc)
}

/// What a merge did, for the command's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The merged document.
    pub doc: Map<String, Value>,
    /// Whether entries of ours existed already (and were replaced).
    pub replaced: bool,
    /// The `current-context` after the merge (`None` when the file has none).
    pub current: Option<String>,
}

/// Merges `ours` (a document from [`from_k3s`]) into `existing` by name: the cluster, user
/// and context named like ours are replaced (or appended), every other entry and field stays
/// as it was. `current-context` changes only with `switch`, or when the file had none.
pub fn merge(
    mut existing: Map<String, Value>,
    ours: &Map<String, Value>,
    switch: bool,
) -> Result<Merged, KubeconfigError> {
    existing
        .entry("apiVersion")
        .or_insert_with(|| Value::String("v1".into()));
    existing
        .entry("kind")
        .or_insert_with(|| Value::String("Config".into()));
    let mut replaced = false;
    let mut our_name = None;
    for (list, _) in LISTS {
        let entry = ours
            .get(list)
            .and_then(|l| l.get(0))
            .cloned()
            .ok_or_else(|| KubeconfigError::Missing {
                what: "the cluster's kubeconfig".into(),
                field: format!("`{list}`"),
            })?;
        let name = entry.get("name").and_then(Value::as_str).map(str::to_owned);
        our_name = our_name.or(name.clone());
        let slot = existing
            .entry(list)
            .or_insert_with(|| Value::Array(Vec::new()));
        if slot.is_null() {
            *slot = Value::Array(Vec::new());
        }
        let arr = slot
            .as_array_mut()
            .ok_or_else(|| KubeconfigError::Invalid {
                what: "the kubeconfig to merge into".into(),
                why: format!("`{list}` is not a list"),
            })?;
        match arr
            .iter_mut()
            .find(|e| e.get("name").and_then(Value::as_str) == name.as_deref())
        {
            Some(old) => {
                *old = entry;
                replaced = true;
            }
            None => arr.push(entry),
        }
    }
    let has_current = existing
        .get("current-context")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    if (switch || !has_current)
        && let Some(n) = &our_name
    {
        existing.insert("current-context".into(), Value::String(n.clone()));
    }
    let current = existing
        .get("current-context")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Merged {
        doc: existing,
        replaced,
        current,
    })
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;

//! The namespace controller: a Terminating namespace has its content deleted (objects with
//! finalizers only marked), its deletion conditions written, then its `kubernetes`
//! finalizer removed, which deletes it.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::api::State;
use crate::api::delete::{self, DeleteOptions};
use crate::objects::meta;
use crate::store::EventKind;

/// Runs until the task is aborted.
pub async fn run(state: State) {
    loop {
        let (rev, mut watch) = super::follow(&state).await;
        let mut terminating: HashSet<String> = HashSet::new();
        let nst = state.registry.builtin("", "namespaces");
        if let Ok(list) = state.store.list(&nst.prefix(None), "", 0, rev).await {
            for kv in &list.items {
                let ns = meta::decode(kv);
                if meta::is_deleting(&ns) {
                    terminating.insert(meta::name(&ns).unwrap_or_default().to_string());
                }
            }
        }
        for ns in terminating.clone() {
            finalize(&state, &ns).await;
        }
        let ns_prefix = nst.prefix(None);
        while let Some(ev) = watch.events.recv().await {
            let obj = meta::decode(&ev.kv);
            if ev.kv.key.starts_with(&ns_prefix) {
                let name = meta::name(&obj).unwrap_or_default().to_string();
                if ev.kind == EventKind::Put && meta::is_deleting(&obj) {
                    terminating.insert(name.clone());
                    finalize(&state, &name).await;
                } else if ev.kind == EventKind::Delete {
                    terminating.remove(&name);
                }
                continue;
            }
            let Some(ns) = meta::namespace(&obj) else {
                continue;
            };
            let relevant = ev.kind == EventKind::Delete || meta::is_deleting(&obj);
            if relevant && terminating.contains(ns) {
                let ns = ns.to_string();
                finalize(&state, &ns).await;
            }
        }
    }
}

fn condition(
    typ: &str,
    ok: bool,
    ok_reason: &str,
    ok_msg: &str,
    bad_reason: &str,
    bad_msg: &str,
    now: &str,
) -> Value {
    if ok {
        json!({"type": typ, "status": "False", "lastTransitionTime": now, "reason": ok_reason, "message": ok_msg})
    } else {
        json!({"type": typ, "status": "True", "lastTransitionTime": now, "reason": bad_reason, "message": bad_msg})
    }
}

/// Deletes the namespace's content; removes the namespace once nothing is left.
async fn finalize(state: &State, ns: &str) {
    let opts = DeleteOptions::default();
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for rt in state.registry.namespaced_storage() {
        let Ok(list) = state.store.list(&rt.prefix(Some(ns)), "", 0, 0).await else {
            return;
        };
        for kv in &list.items {
            let obj = meta::decode(kv);
            let name = meta::name(&obj).unwrap_or_default().to_string();
            if !meta::is_deleting(&obj) {
                let _ = delete::delete(state, &rt, Some(ns), &name, &opts).await;
            }
            if let Ok(Some(kv)) = state.store.get(&kv.key).await {
                let still = meta::decode(&kv);
                let gr = crate::error::qualified(&rt.plural, &rt.group);
                *remaining.entry(gr).or_default() += 1;
                for f in meta::finalizers(&still) {
                    *finalizers.entry(f).or_default() += 1;
                }
            }
        }
    }
    let nst = state.registry.builtin("", "namespaces");
    let now = meta::now();
    let content: Vec<String> = remaining
        .iter()
        .map(|(gr, n)| format!("{gr} has {n} resource instances"))
        .collect();
    let fins: Vec<String> = finalizers
        .iter()
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    let conditions = [
        condition(
            "NamespaceDeletionDiscoveryFailure",
            true,
            "ResourcesDiscovered",
            "All resources successfully discovered",
            "",
            "",
            &now,
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            true,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
            "",
            "",
            &now,
        ),
        condition(
            "NamespaceDeletionContentFailure",
            true,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
            "",
            "",
            &now,
        ),
        condition(
            "NamespaceContentRemaining",
            remaining.is_empty(),
            "ContentRemoved",
            "All content successfully removed",
            "SomeResourcesRemain",
            &format!("Some resources are remaining: {}", content.join(", ")),
            &now,
        ),
        condition(
            "NamespaceFinalizersRemaining",
            finalizers.is_empty(),
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
            "SomeFinalizersRemain",
            &format!(
                "Some content in the namespace has finalizers remaining: {}",
                fins.join(", ")
            ),
            &now,
        ),
    ];
    super::write_sub(state, &nst, None, ns, "status", |next| {
        let old: Vec<Value> = next
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let same = |o: &Value, c: &Value| {
            ["type", "status", "reason", "message"]
                .iter()
                .all(|k| o[k] == c[k])
        };
        let merged: Vec<Value> = conditions
            .iter()
            .map(|c| old.iter().find(|o| same(o, c)).unwrap_or(c).clone())
            .collect();
        next["status"] = json!({"phase": "Terminating", "conditions": merged});
    })
    .await;
    if remaining.is_empty() {
        super::write_sub(state, &nst, None, ns, "finalize", |next| {
            if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("finalizers".into(), json!([]));
            }
        })
        .await;
    }
}

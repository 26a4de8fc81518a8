//! The CRD finalizer: a deleted CustomResourceDefinition first loses its custom resources
//! (condition `Terminating`), then its `customresourcecleanup` finalizer, which deletes it.

use serde_json::{Value, json};

use crate::api::State;
use crate::api::delete::{self, DeleteOptions};
use crate::kinds::crd::{self, CLEANUP_FINALIZER};
use crate::objects::meta;
use crate::store::EventKind;

/// Runs until the task is aborted.
pub async fn run(state: State) {
    let crds = state
        .registry
        .builtin("apiextensions.k8s.io", "customresourcedefinitions");
    let prefix = crds.prefix(None);
    loop {
        let (rev, mut watch) = super::follow(&state).await;
        if let Ok(list) = state.store.list(&prefix, "", 0, rev).await {
            for kv in &list.items {
                let c = meta::decode(kv);
                // CRDs written through another server sharing the store are served here too.
                crd::sync(&state.registry, &c, false);
                if meta::is_deleting(&c) {
                    cleanup(&state, &c).await;
                }
            }
        }
        while let Some(ev) = watch.events.recv().await {
            let obj = meta::decode(&ev.kv);
            if ev.kv.key.starts_with(&prefix) {
                crd::sync(&state.registry, &obj, ev.kind == EventKind::Delete);
                if ev.kind == EventKind::Put && meta::is_deleting(&obj) {
                    cleanup(&state, &obj).await;
                }
                continue;
            }
            // A custom resource of a deleting CRD went away: maybe the CRD can go now.
            if ev.kind == EventKind::Delete || meta::is_deleting(&obj) {
                let Some(api_version) = obj.get("apiVersion").and_then(Value::as_str) else {
                    continue;
                };
                let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
                let candidates = state
                    .store
                    .list(&prefix, "", 0, 0)
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default();
                for kv in candidates {
                    let c = meta::decode(&kv);
                    if meta::is_deleting(&c)
                        && c.pointer("/spec/group").and_then(Value::as_str) == Some(group)
                    {
                        cleanup(&state, &c).await;
                    }
                }
            }
        }
    }
}

async fn cleanup(state: &State, crd_obj: &Value) {
    let Some(name) = meta::name(crd_obj).map(str::to_string) else {
        return;
    };
    let group = crd_obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd_obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(rt) = state
        .registry
        .all()
        .into_iter()
        .find(|t| t.group == group && t.plural == plural && t.is_custom())
    else {
        finish(state, &name, 0).await;
        return;
    };
    let Ok(list) = state.store.list(&rt.prefix(None), "", 0, 0).await else {
        return;
    };
    let mut remaining = 0;
    for kv in &list.items {
        let obj = meta::decode(kv);
        let (ns, n) = (
            meta::namespace(&obj).map(str::to_string),
            meta::name(&obj).unwrap_or_default().to_string(),
        );
        if !meta::is_deleting(&obj) {
            let _ = delete::delete(state, &rt, ns.as_deref(), &n, &DeleteOptions::default()).await;
        }
        if matches!(state.store.get(&kv.key).await, Ok(Some(_))) {
            remaining += 1;
        }
    }
    finish(state, &name, remaining).await;
}

/// Records progress in the `Terminating` condition; removes the finalizer once nothing is left.
async fn finish(state: &State, name: &str, remaining: usize) {
    let crds = state
        .registry
        .builtin("apiextensions.k8s.io", "customresourcedefinitions");
    let (reason, message) = if remaining == 0 {
        (
            "InstanceDeletionCompleted",
            "removed all instances".to_string(),
        )
    } else {
        (
            "InstanceDeletionInProgress",
            format!("CustomResource deletion is in progress: {remaining} instances remain"),
        )
    };
    super::write_sub(state, &crds, None, name, "status", |next| {
        let cond = json!({"type": "Terminating", "status": "True", "lastTransitionTime": meta::now(), "reason": reason, "message": message});
        if let Some(cs) = next.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
            match cs.iter_mut().find(|c| c["type"] == "Terminating") {
                Some(c) if c["reason"] == reason && c["message"] == message.as_str() => {}
                Some(c) => *c = cond,
                None => cs.push(cond),
            }
        }
    })
    .await;
    if remaining == 0 {
        super::write_sub(state, &crds, None, name, "", |next| {
            let fins: Vec<String> = meta::finalizers(next)
                .into_iter()
                .filter(|f| f != CLEANUP_FINALIZER)
                .collect();
            meta::set_meta(
                next,
                "finalizers",
                if fins.is_empty() {
                    None
                } else {
                    Some(json!(fins))
                },
            );
        })
        .await;
    }
}

//! Workload status, as the real controllers would write it once pods were running:
//! Deployments, StatefulSets, DaemonSets and ReplicaSets report every replica ready after
//! the configured delay (first "progressing", then "available"), with observedGeneration,
//! the replica counters and the conditions clients wait on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::api::{State, get_current};
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::store::EventKind;

const KINDS: [&str; 4] = ["deployments", "statefulsets", "daemonsets", "replicasets"];

type Pending = Arc<Mutex<HashMap<String, i64>>>;

/// Runs until the task is aborted.
pub async fn run(state: State) {
    let pending: Pending = Arc::default();
    loop {
        let (rev, mut watch) = super::follow(&state).await;
        for plural in KINDS {
            let rt = state.registry.builtin("apps", plural);
            if let Ok(list) = state.store.list(&rt.prefix(None), "", 0, rev).await {
                for kv in &list.items {
                    consider(&state, &rt, &meta::decode(kv), &pending);
                }
            }
        }
        let nodes_prefix = state.registry.builtin("", "nodes").prefix(None);
        while let Some(ev) = watch.events.recv().await {
            if ev.kind == EventKind::Delete && !ev.kv.key.starts_with(&nodes_prefix) {
                continue;
            }
            if ev.kv.key.starts_with(&nodes_prefix) {
                // Node changes move every DaemonSet's desired count.
                let rt = state.registry.builtin("apps", "daemonsets");
                if let Ok(list) = state.store.list(&rt.prefix(None), "", 0, 0).await {
                    for kv in &list.items {
                        consider(&state, &rt, &meta::decode(kv), &pending);
                    }
                }
                continue;
            }
            for plural in KINDS {
                let rt = state.registry.builtin("apps", plural);
                if ev.kv.key.starts_with(&rt.prefix(None)) {
                    consider(&state, &rt, &meta::decode(&ev.kv), &pending);
                }
            }
        }
    }
}

/// The pod-template-hash of a template (FNV-32a, then Kubernetes' safe encoding).
pub fn template_hash(template: Option<&Value>) -> String {
    let text = template.map(|t| t.to_string()).unwrap_or_default();
    let mut h: u32 = 0x811c9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

async fn node_count(state: &State, node_selector: Option<&Map<String, Value>>) -> i64 {
    let rt = state.registry.builtin("", "nodes");
    let Ok(list) = state.store.list(&rt.prefix(None), "", 0, 0).await else {
        return 0;
    };
    list.items
        .iter()
        .map(meta::decode)
        .filter(|n| {
            node_selector.is_none_or(|sel| {
                sel.iter()
                    .all(|(k, v)| n.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
            })
        })
        .count() as i64
}

fn cond(
    typ: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
    old: &[Value],
    deployment: bool,
) -> Value {
    let prev = old.iter().find(|c| c["type"] == typ);
    let transition = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let update = match prev {
        Some(p) if p["status"] == status && p["reason"] == reason && p["message"] == message => {
            p["lastUpdateTime"].clone()
        }
        _ => json!(now),
    };
    if deployment {
        json!({"type": typ, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
    } else {
        json!({"type": typ, "status": status, "lastTransitionTime": transition, "reason": reason, "message": message})
    }
}

/// The status the real controllers would report; `done` = every replica ready.
async fn desired_status(state: &State, plural: &str, obj: &Value, done: bool) -> Value {
    let g = meta::generation(obj);
    let n = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let name = meta::name(obj).unwrap_or_default();
    let hash = template_hash(obj.pointer("/spec/template"));
    let now = meta::now();
    let old_status = obj.get("status").cloned().unwrap_or(json!({}));
    let old_conds: Vec<Value> = old_status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let prev_available = old_status
        .get("availableReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let ready = if done { n } else { prev_available.min(n) };
    let mut s = Map::new();
    s.insert("observedGeneration".into(), json!(g));
    match plural {
        "deployments" => {
            put(&mut s, "replicas", n);
            put(&mut s, "updatedReplicas", n);
            put(&mut s, "readyReplicas", ready);
            put(&mut s, "availableReplicas", ready);
            put(&mut s, "unavailableReplicas", n - ready);
            let rs = format!("{name}-{hash}");
            let available = if ready >= n || prev_available > 0 && !done {
                cond(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    &now,
                    &old_conds,
                    true,
                )
            } else {
                cond(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    &now,
                    &old_conds,
                    true,
                )
            };
            let progressing = if done {
                cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{rs}\" has successfully progressed."),
                    &now,
                    &old_conds,
                    true,
                )
            } else {
                cond(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs}\" is progressing."),
                    &now,
                    &old_conds,
                    true,
                )
            };
            s.insert("conditions".into(), json!([available, progressing]));
        }
        "statefulsets" => {
            s.insert("replicas".into(), json!(n));
            put(&mut s, "readyReplicas", ready);
            put(&mut s, "currentReplicas", n);
            put(&mut s, "updatedReplicas", n);
            put(&mut s, "availableReplicas", ready);
            s.insert("currentRevision".into(), json!(format!("{name}-{hash}")));
            s.insert("updateRevision".into(), json!(format!("{name}-{hash}")));
            s.insert("collisionCount".into(), json!(0));
        }
        "daemonsets" => {
            let d = node_count(
                state,
                obj.pointer("/spec/template/spec/nodeSelector")
                    .and_then(Value::as_object),
            )
            .await;
            let r = if done { d } else { 0 };
            s.insert("currentNumberScheduled".into(), json!(d));
            s.insert("desiredNumberScheduled".into(), json!(d));
            s.insert("numberMisscheduled".into(), json!(0));
            s.insert("numberReady".into(), json!(r));
            put(&mut s, "updatedNumberScheduled", d);
            put(&mut s, "numberAvailable", r);
            put(&mut s, "numberUnavailable", d - r);
        }
        _ => {
            s.insert("replicas".into(), json!(n));
            put(&mut s, "fullyLabeledReplicas", n);
            put(&mut s, "readyReplicas", ready);
            put(&mut s, "availableReplicas", ready);
        }
    }
    Value::Object(s)
}

/// Sets a counter, leaving zeros out as the API's `omitempty` does.
fn put(s: &mut Map<String, Value>, k: &str, v: i64) {
    if v != 0 {
        s.insert(k.into(), json!(v));
    }
}

fn same_status(a: &Value, b: &Value) -> bool {
    // Timestamps aside, is there anything to write?
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                c.remove("lastUpdateTime");
                c.remove("lastTransitionTime");
            }
        }
        v
    };
    strip(a) == strip(b)
}

fn consider(state: &State, rt: &Arc<ResourceType>, obj: &Value, pending: &Pending) {
    let key = rt.key(meta::namespace(obj), meta::name(obj).unwrap_or_default());
    let g = meta::generation(obj);
    if meta::is_deleting(obj) {
        return;
    }
    {
        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.get(&key) == Some(&g) {
            return;
        }
        p.insert(key.clone(), g);
    }
    let (state, rt, pending) = (state.clone(), rt.clone(), pending.clone());
    let ns = meta::namespace(obj).map(str::to_string);
    let name = meta::name(obj).unwrap_or_default().to_string();
    tokio::spawn(async move {
        let release = |pending: &Pending| {
            let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.get(&key) == Some(&g) {
                p.remove(&key);
            }
        };
        // Nothing to do when the status already says "done" (our own writes come back here).
        if let Ok((live, _)) = get_current(&state, &rt, ns.as_deref(), &name).await {
            let done = desired_status(&state, &rt.plural, &live, true).await;
            if live.get("status").is_some_and(|s| same_status(s, &done)) {
                release(&pending);
                return;
            }
        }
        let delay = state.config.workload_ready_delay;
        if !delay.is_zero() {
            reconcile(&state, &rt, ns.as_deref(), &name, false).await;
            tokio::time::sleep(delay).await;
        }
        release(&pending);
        reconcile(&state, &rt, ns.as_deref(), &name, true).await;
    });
}

async fn reconcile(state: &State, rt: &ResourceType, ns: Option<&str>, name: &str, done: bool) {
    let Ok((obj, _)) = get_current(state, rt, ns, name).await else {
        return;
    };
    let desired = desired_status(state, &rt.plural, &obj, done).await;
    if obj.get("status").is_some_and(|s| same_status(s, &desired)) {
        return;
    }
    let generation = meta::generation(&obj);
    super::write_sub(state, rt, ns, name, "status", |next| {
        // A newer spec keeps its own reconcile; this one only reports what it saw.
        if meta::generation(next) == generation {
            next["status"] = desired.clone();
        }
    })
    .await;
}

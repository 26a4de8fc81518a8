//! DELETE: preconditions, finalizers and `deletionTimestamp`, namespaces going Terminating,
//! and the answer (the object, or a `Status` of success, as each registry does).

use serde_json::{Value, json};

use super::{ServerState, get_current, store_err};
use crate::error::ApiError;
use crate::kinds::{ResourceType, crd};
use crate::objects::meta;
use crate::store::StoreError;

/// The parts of `DeleteOptions` the server honours.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// From a DELETE body (kind/apiVersion optional) and the query's `dryRun`.
    pub fn from_body(body: &[u8], dry_run: bool) -> Result<Self, ApiError> {
        let mut out = DeleteOptions {
            dry_run,
            ..Default::default()
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(out);
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?;
        if let Some(p) = v.get("preconditions") {
            out.uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
            out.resource_version = p
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if v.get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|d| d == "All"))
        {
            out.dry_run = true;
        }
        Ok(out)
    }
}

/// What a DELETE did.
#[derive(Debug)]
pub enum Deleted {
    /// Gone; the last state (with the delete's resourceVersion).
    Gone(Value),
    /// Still there, marked for deletion (finalizers, or a namespace being emptied).
    Pending(Value),
}

/// Deletes one object (marks it when finalizers or namespace cleanup must run first).
pub async fn delete(
    state: &ServerState,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let key = rt.key(ns, name);
    loop {
        let (mut obj, kv) = get_current(state, rt, ns, name).await?;
        if let Some(uid) = &opts.uid {
            let actual = meta::meta_str(&obj, "uid").unwrap_or_default();
            if uid != actual {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version
            && *rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                ),
            ));
        }
        let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
        let is_crd = crd::is_crd(rt);
        if is_namespace || is_crd || !meta::finalizers(&obj).is_empty() {
            if meta::is_deleting(&obj) {
                return Ok(Deleted::Pending(obj));
            }
            if is_crd
                && !meta::finalizers(&obj)
                    .iter()
                    .any(|f| f == crd::CLEANUP_FINALIZER)
            {
                // Its custom resources go first (the CRD controller removes the finalizer).
                let mut fins = meta::finalizers(&obj);
                fins.push(crd::CLEANUP_FINALIZER.to_string());
                meta::set_meta(&mut obj, "finalizers", Some(json!(fins)));
            }
            let m = meta::meta_mut(&mut obj);
            m.insert("deletionTimestamp".into(), json!(meta::now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_namespace && let Some(o) = obj.as_object_mut() {
                let status = o.entry("status").or_insert_with(|| json!({}));
                if let Some(s) = status.as_object_mut() {
                    s.insert("phase".into(), json!("Terminating"));
                }
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(obj));
            }
            match state
                .store
                .update(&key, meta::encode(&obj), kv.mod_revision)
                .await
            {
                Ok(w) => {
                    meta::set_resource_version(&mut obj, w.mod_revision);
                    return Ok(Deleted::Pending(obj));
                }
                Err(StoreError::Conflict { .. }) if opts.resource_version.is_none() => continue,
                Err(e) => return Err(store_err(rt, name, e)),
            }
        }
        if opts.dry_run {
            return Ok(Deleted::Gone(obj));
        }
        match state.store.delete(&key, kv.mod_revision).await {
            Ok(w) => {
                meta::set_resource_version(&mut obj, w.mod_revision);
                return Ok(Deleted::Gone(obj));
            }
            Err(StoreError::Conflict { .. }) if opts.resource_version.is_none() => continue,
            Err(StoreError::NotFound(_)) => {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            Err(e) => return Err(store_err(rt, name, e)),
        }
    }
}

/// The response body and code of a DELETE.
pub fn response(rt: &ResourceType, outcome: Deleted) -> (u16, Value) {
    match outcome {
        Deleted::Pending(obj) => (200, obj),
        Deleted::Gone(obj) if rt.flags.return_deleted => (200, obj),
        Deleted::Gone(obj) => {
            let mut details = serde_json::Map::new();
            details.insert("name".into(), json!(meta::name(&obj).unwrap_or_default()));
            if !rt.group.is_empty() {
                details.insert("group".into(), json!(rt.group));
            }
            details.insert("kind".into(), json!(rt.plural));
            details.insert(
                "uid".into(),
                json!(meta::meta_str(&obj, "uid").unwrap_or_default()),
            );
            (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
            )
        }
    }
}

//! What the registry strategies do before a write: type and name checks, server-set
//! metadata, status handling, kind hooks, defaulting, validation, generation.

use serde_json::{Map, Value, json};

use super::ServerState;
use crate::error::{ApiError, FieldError, go_quote};
use crate::kinds::{ResourceType, crd};
use crate::objects::{defaults, meta, services, validate};

/// 400 unless the body is an object of `rt`'s kind and version (missing ones are filled).
pub fn check_type(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let Some(o) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): json: cannot unmarshal into Go value of type map[string]interface {{}}",
            rt.kind
        )));
    };
    let want = rt.api_version();
    if let Some(v) = o
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        let same_group = match (v.split_once('/'), rt.group.is_empty()) {
            (None, true) => true,
            (Some((g, _)), false) => g == rt.group && rt.is_custom(),
            _ => false,
        };
        if v != want && !same_group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )));
        }
    }
    if let Some(k) = o
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        && k != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    o.insert("apiVersion".into(), json!(want));
    o.insert("kind".into(), json!(rt.kind));
    if !o.get("metadata").is_some_and(Value::is_object) {
        o.insert("metadata".into(), Value::Object(Map::new()));
    }
    Ok(())
}

/// Drops empty collections from `metadata`, as typed decoding (`omitempty`) does, so that
/// `annotations: {}` and no annotations are the same object.
pub fn normalize_meta(obj: &mut Value) {
    let m = meta::meta_mut(obj);
    for f in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match m.get(f) {
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty && f != "managedFields" {
            m.remove(f);
        }
    }
}

fn generated_name(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

fn invalid(rt: &ResourceType, name: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid(&rt.group, &rt.kind, name, errs)
}

/// Checks (or fills) the object's namespace against the request's.
fn namespace_of(rt: &ResourceType, url_ns: Option<&str>, obj: &mut Value) -> Result<(), ApiError> {
    if !rt.namespaced {
        meta::set_meta(obj, "namespace", None);
        return Ok(());
    }
    let url_ns = url_ns.unwrap_or("");
    match meta::namespace(obj) {
        Some(ns) if ns != url_ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta::set_meta(obj, "namespace", Some(json!(url_ns)));
            Ok(())
        }
    }
}

/// 404 when the namespace is missing, 403 when it is being deleted.
pub async fn namespace_accepts(
    state: &ServerState,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let nst = state.registry.builtin("", "namespaces");
    let key = nst.key(None, ns);
    // kube-apiserver's NamespaceLifecycle admission asks its informer cache first and the
    // store only on a miss: a create still reaches etcd (and gets etcd's answer) when etcd
    // has lost quorum. The store's serializable read is that cache.
    let found = match state.store.get_serializable(&key).await? {
        Some(kv) => Some(kv),
        None => state.store.get(&key).await?,
    };
    match found {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(kv) => {
            let n = meta::decode(&kv);
            if meta::is_deleting(&n)
                || n.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
            {
                Err(ApiError::namespace_terminating(
                    &rt.group, &rt.plural, name, ns,
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Prepares a new object: name, namespace, server-set metadata, status, defaults, checks.
pub async fn for_create(
    state: &ServerState,
    rt: &ResourceType,
    url_ns: Option<&str>,
    obj: &mut Value,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    check_type(rt, obj)?;
    normalize_meta(obj);
    namespace_of(rt, url_ns, obj)?;
    if meta::name(obj).is_none() {
        match meta::meta_str(obj, "generateName") {
            Some(prefix) => {
                let n = generated_name(prefix);
                meta::set_meta(obj, "name", Some(json!(n)));
            }
            None => {
                return Err(invalid(
                    rt,
                    "",
                    &[FieldError::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ));
            }
        }
    }
    let name = meta::name(obj).unwrap_or_default().to_string();
    if let Some(e) = validate::name(&name, validate::name_rule(&rt.group, &rt.kind)) {
        return Err(invalid(rt, &name, &[e]));
    }
    if rt.namespaced {
        namespace_accepts(state, rt, meta::namespace(obj).unwrap_or_default(), &name).await?;
    }
    let m = meta::meta_mut(obj);
    m.insert("uid".into(), json!(meta::new_uid()));
    m.insert("creationTimestamp".into(), json!(meta::now()));
    for f in [
        "resourceVersion",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        m.remove(f);
    }
    if rt.flags.generation {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    if rt.flags.status
        && !rt.flags.keep_status_on_create
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    create_hooks(state, rt, obj).await?;
    defaults::apply(&rt.group, &rt.kind, obj);
    let errs = validate::object(&rt.group, &rt.kind, obj);
    if !errs.is_empty() {
        return Err(invalid(rt, &name, &errs));
    }
    warnings.extend(validate::finalizer_warnings(obj));
    Ok(())
}

async fn create_hooks(
    state: &ServerState,
    rt: &ResourceType,
    obj: &mut Value,
) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let name = meta::name(obj).unwrap_or_default().to_string();
            let o = crate::objects::meta::object_mut(obj);
            o.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            o.insert("status".into(), json!({"phase": "Active"}));
            namespace_label(obj, &name);
        }
        ("", "Service") => {
            let name = meta::name(obj).unwrap_or_default().to_string();
            services::allocate(state.store.as_ref(), state.config.service_cidr, obj)
                .await?
                .map_err(|errs| invalid(rt, &name, &errs))?;
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let name = meta::name(obj).unwrap_or_default().to_string();
            let errs = crd::prepare(obj, None);
            if !errs.is_empty() {
                return Err(invalid(rt, &name, &errs));
            }
        }
        ("", "Pod") => {
            if let Some(o) = obj.as_object_mut() {
                o.insert(
                    "status".into(),
                    json!({"phase": "Pending", "qosClass": "BestEffort"}),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

fn namespace_label(obj: &mut Value, name: &str) {
    let m = meta::meta_mut(obj);
    let labels = m.entry("labels").or_insert_with(|| json!({}));
    meta::object_mut(labels).insert("kubernetes.io/metadata.name".into(), json!(name));
}

/// Everything outside `metadata` (and `status` when it is a subresource): what a
/// generation bump looks at.
fn spec_part(obj: &Value, status_separate: bool) -> Map<String, Value> {
    let skip = |k: &str| {
        matches!(k, "metadata" | "apiVersion" | "kind") || (status_separate && k == "status")
    };
    obj.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !skip(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Prepares an updated object from the old one: identity kept, status split, hooks, checks.
pub fn for_update(
    rt: &ResourceType,
    old: &Value,
    new: &mut Value,
    subresource: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    check_type(rt, new)?;
    normalize_meta(new);
    let name = meta::name(old).unwrap_or_default().to_string();
    match meta::name(new) {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => meta::set_meta(new, "name", Some(json!(name))),
    }
    if rt.namespaced {
        let ns = meta::namespace(old).map(str::to_string);
        if let (Some(a), Some(b)) = (meta::namespace(new), ns.as_deref())
            && a != b
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::set_meta(new, "namespace", ns.map(Value::String));
    }
    match subresource {
        Some("status") => {
            // Only status changes through /status.
            let status = new.get("status").cloned();
            let mf = new.pointer("/metadata/managedFields").cloned();
            *new = old.clone();
            let o = crate::objects::meta::object_mut(new);
            match status {
                Some(s) => o.insert("status".into(), s),
                None => o.remove("status"),
            };
            meta::set_meta(new, "managedFields", mf);
        }
        Some("finalize") => {
            let fin = new.pointer("/spec/finalizers").cloned();
            *new = old.clone();
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                match fin {
                    Some(f) => spec.insert("finalizers".into(), f),
                    None => spec.remove("finalizers"),
                };
            }
        }
        _ => {
            if rt.flags.status {
                let o = crate::objects::meta::object_mut(new);
                match old.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
        }
    }
    let om = meta::meta(old).cloned().unwrap_or_default();
    let m = meta::meta_mut(new);
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match om.get(f) {
            Some(v) => m.insert(f.into(), v.clone()),
            None => m.remove(f),
        };
    }
    m.remove("selfLink");
    let mut errs = Vec::new();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            if subresource != Some("finalize")
                && let Some(o) = new.as_object_mut()
            {
                match old.get("spec") {
                    Some(s) => o.insert("spec".into(), s.clone()),
                    None => o.remove("spec"),
                };
            }
            namespace_label(new, &name);
        }
        ("", "Service") => errs.extend(services::keep_allocated(old, new)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") if subresource.is_none() => {
            errs.extend(crd::prepare(new, old.get("status")));
        }
        _ => {}
    }
    defaults::apply(&rt.group, &rt.kind, new);
    errs.extend(validate::object(&rt.group, &rt.kind, new));
    if meta::is_deleting(old) {
        let before = meta::finalizers(old);
        let added: Vec<String> = meta::finalizers(new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            let list: Vec<String> = added.iter().map(|f| go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}", list.join(", ")),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(invalid(rt, &name, &errs));
    }
    if rt.flags.generation {
        let annotations_changed = rt.flags.generation_on_annotations
            && old.pointer("/metadata/annotations") != new.pointer("/metadata/annotations");
        if spec_part(old, rt.flags.status) != spec_part(new, rt.flags.status) || annotations_changed
        {
            let g = meta::generation(old) + 1;
            meta::set_meta(new, "generation", Some(json!(g)));
        }
    }
    warnings.extend(
        validate::finalizer_warnings(new)
            .into_iter()
            .filter(|w| !validate::finalizer_warnings(old).contains(w)),
    );
    Ok(())
}

//! The `/scale` subresource of Deployments, ReplicaSets, StatefulSets and
//! ReplicationControllers, spoken as autoscaling/v1 `Scale`.

use http::Response;
use serde_json::{Value, json};

use super::handlers::Req;
use super::http::{self as h, Body};
use crate::api::write::{self, Change};
use crate::api::{State, get_current};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::objects::meta;

fn selector(obj: &Value) -> String {
    let ml = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object);
    let mut parts: Vec<String> = ml
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    parts.join(",")
}

fn scale_of(obj: &Value) -> Value {
    let m = meta::meta(obj).cloned().unwrap_or_default();
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp")},
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {"replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0), "selector": selector(obj)}})
}

/// GET `.../scale`.
pub async fn get(
    state: &State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let (obj, _) = get_current(state, rt, ns, name).await?;
    Ok(h::json(200, &scale_of(&obj), &[]))
}

/// PUT (`patch = false`) or PATCH (merge patch, as `kubectl scale` sends) of `.../scale`.
pub async fn set_replicas(
    state: &State,
    req: &Req,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    patch: bool,
) -> Result<Response<Body>, ApiError> {
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding scale: {e}")))?;
    let opts = super::resources::write_options(req, None)?;
    let mut warnings = Vec::new();
    let out = write::update_with(state, rt, ns, name, &opts, None, &mut warnings, |live| {
        let Some(live) = live else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let mut scale = scale_of(live);
        if patch {
            crate::patch::merge::apply(&mut scale, &body);
        } else {
            scale = body.clone();
        }
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut next = live.clone();
        if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        Ok(Change::Replace(next))
    })
    .await?;
    Ok(h::json(200, &scale_of(&out.object), &warnings))
}

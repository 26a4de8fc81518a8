//! Server-side apply over PATCH `application/apply-patch+yaml`: the request checks of
//! kube-apiserver (field manager, version, managedFields, unknown fields, list keys), then
//! the ownership merge of `ssa::managed`, creating the object when it is missing.

use serde_json::Value;

use crate::api::write::{self, Change};
use crate::api::{ServerState, WriteOptions};
use crate::error::{ApiError, FieldError};
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::server::handlers::Req;
use crate::ssa::apply::apply;
use crate::ssa::managed::{Managed, Writer};
use crate::ssa::prune::prune_unknown;
use crate::ssa::typed::check_keys;

fn gvk(rt: &ResourceType) -> String {
    format!("{}/{}, Kind={}", rt.group, rt.version, rt.kind)
}

/// The "failed to create typed patch object" error of an apply the schema rejects.
fn typed_error(rt: &ResourceType, ns: Option<&str>, name: &str, detail: &str) -> ApiError {
    ApiError::internal_plain(format!(
        "failed to create typed patch object ({}/{name}; {}): {detail}",
        ns.unwrap_or(""),
        gvk(rt)
    ))
}

/// Parses an apply body: JSON, or YAML (JSON is YAML too).
fn parse(body: &[u8]) -> Result<Value, ApiError> {
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) => serde_saphyr::from_str::<Value>(&String::from_utf8_lossy(body))
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "error decoding patch: the applied configuration must be an object",
        ));
    }
    Ok(v)
}

/// Checks the applied configuration the way the apply patcher does before merging.
fn check(
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    config: &Value,
    fm_given: bool,
) -> Result<(), ApiError> {
    if !fm_given {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            &[FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    let version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {}",
            rt.api_version()
        )));
    }
    if config.get("kind").and_then(Value::as_str) != Some(rt.kind.as_str()) {
        return Err(ApiError::bad_request(format!(
            "the kind in the applied configuration does not match the expected kind ({})",
            rt.kind
        )));
    }
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let unknown = prune_unknown(&mut config.clone(), &rt.schema);
    if !unknown.is_empty() {
        let detail: Vec<String> = unknown
            .iter()
            .map(|u| format!(".{u}: field not declared in schema"))
            .collect();
        return Err(typed_error(rt, ns, name, &detail.join("\n")));
    }
    check_keys(config, &rt.schema, &mut Vec::new())
        .map_err(|e| typed_error(rt, ns, name, &e.to_string()))
}

/// Handles an apply; returns the status code (201 when created), the object and warnings.
pub async fn handle(
    state: &ServerState,
    req: &Req,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &WriteOptions,
) -> Result<(u16, Value, Vec<String>), ApiError> {
    let fm_given = req.query.get("fieldManager").is_some_and(|m| !m.is_empty());
    let force = req.query.opt_flag("force")?.unwrap_or(false);
    let config = parse(&req.body)?;
    check(rt, ns, name, &config, fm_given)?;
    let precondition = meta::meta_str(&config, "resourceVersion").map(str::to_string);
    let mut warnings = Vec::new();
    let scope = write::scope(rt, opts);
    let api_version = rt.api_version();
    let out = write::update_with(
        state,
        rt,
        ns,
        name,
        opts,
        precondition.as_deref(),
        &mut warnings,
        |live| {
            let now = meta::now();
            let w = Writer {
                manager: &opts.manager,
                api_version: &api_version,
                now: &now,
            };
            let managed = live.map(Managed::decode).unwrap_or_default();
            let live = live.map(|l| {
                let mut l = l.clone();
                let m = meta::meta_mut(&mut l);
                m.remove("managedFields");
                l
            });
            let mut cfg = config.clone();
            meta::set_meta(&mut cfg, "resourceVersion", None);
            let applied = apply(&rt.schema, scope, live.as_ref(), &cfg, managed, w, force)?;
            let mut object = applied.object;
            if let Some(l) = &live {
                // Identity and server-set metadata come from the live object, never the patch.
                for f in ["resourceVersion", "uid", "creationTimestamp", "generation"] {
                    meta::set_meta(
                        &mut object,
                        f,
                        meta::meta(l).and_then(|m| m.get(f)).cloned(),
                    );
                }
            }
            Ok(Change::Applied {
                object,
                managed: applied.managed,
            })
        },
    )
    .await?;
    Ok((if out.created { 201 } else { 200 }, out.object, warnings))
}

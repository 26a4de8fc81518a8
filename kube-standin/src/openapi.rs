//! The OpenAPI documents kubectl needs for `apply`/`create`/`diff` with validation on: an
//! empty protobuf `/openapi/v2` (kubectl 1.27/1.28 fetch it first) and `/openapi/v3` group
//! versions whose PATCH operations declare `fieldValidation`, so kubectl leaves validation to
//! the server. No component schemas are published (kubectl then uses its compiled types for
//! strategic merge patches; `kubectl explain` has nothing to show).

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::kinds::{Registry, ResourceType};

/// The Content-Type kubectl accepts for the (empty) protobuf v2 document.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A small JSON v2 document for clients asking for JSON.
pub fn v2_json(version: &str) -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}, "definitions": {}})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn params() -> Value {
    let q = |name: &str, desc: &str| json!({"name": name, "in": "query", "description": desc, "schema": {"type": "string", "uniqueItems": true}});
    json!([
        {"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}},
        q("dryRun", "When present, indicates that modifications should not be persisted."),
        q("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
        q("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"),
        {"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}
    ])
}

fn object_path(t: &ResourceType) -> String {
    let base = format!("/{}", gv_path(&t.group, &t.version));
    if t.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
    } else {
        format!("{base}/{}/{{name}}", t.plural)
    }
}

/// The v3 document of one group/version.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str, server_version: &str) -> Value {
    let mut paths = Map::new();
    for t in reg
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let op = |action: &str| {
            json!({"operationId": format!("{action}{}", t.kind), "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk, "parameters": params(),
                "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}}})
        };
        paths.insert(object_path(t), json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": server_version}, "paths": paths, "components": {}})
}

fn hash(v: &Value) -> String {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `/openapi/v3`: every group/version with a hashed URL (new CRD versions change the hash).
pub fn v3_root(reg: &Registry, server_version: &str) -> Value {
    let mut paths = Map::new();
    for (group, versions) in reg.groups() {
        for v in versions {
            let doc = v3_group_version(reg, &group, &v, server_version);
            let p = gv_path(&group, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}

/// The group/version of an `/openapi/v3/<path>` request.
pub fn parse_v3_path(path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["api", v] => Some((String::new(), v.to_string())),
        ["apis", g, v] => Some((g.to_string(), v.to_string())),
        _ => None,
    }
}

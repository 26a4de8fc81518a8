//! Discovery documents: legacy (`/api`, `/apis`, `/apis/<g>`, per group-version resource
//! lists) and aggregated (apidiscovery.k8s.io v2 or v2beta1, chosen by the Accept header).

use serde_json::{Value, json};

use crate::kinds::{Registry, ResourceType};
use crate::server::http::accept;

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_VERBS: [&str; 3] = ["get", "patch", "update"];

/// Which aggregated version the client offered, preferring v2 (kubectl 1.27-1.29 only offer
/// v2beta1 and would misread a v2 answer).
pub fn aggregated_version(accept_header: Option<&str>) -> Option<&'static str> {
    let ranges = accept(accept_header);
    let offers = |v: &str| {
        ranges.iter().any(|m| {
            m.mime == "application/json"
                && m.param("g") == Some("apidiscovery.k8s.io")
                && m.param("v") == Some(v)
                && m.param("as") == Some("APIGroupDiscoveryList")
        })
    };
    if offers("v2") {
        Some("v2")
    } else if offers("v2beta1") {
        Some("v2beta1")
    } else {
        None
    }
}

/// The Content-Type of an aggregated answer.
pub fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `/api`: the core versions.
pub fn api_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": gv(group, v), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`: every named group.
pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_json(&g, &vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let (_, vs) = reg
        .groups()
        .into_iter()
        .find(|(g, _)| g == group && !g.is_empty())?;
    let mut g = group_json(group, &vs);
    let o = g.as_object_mut()?;
    o.insert("kind".into(), json!("APIGroup"));
    o.insert("apiVersion".into(), json!("v1"));
    Some(g)
}

fn legacy_entries(t: &ResourceType) -> Vec<Value> {
    let mut main = json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
        "kind": t.kind, "verbs": VERBS});
    if !t.short_names.is_empty() {
        main["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        main["categories"] = json!(t.categories);
    }
    let mut out = vec![main];
    if t.group.is_empty() && t.plural == "namespaces" {
        out.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
    }
    if t.flags.scale {
        out.push(json!({"name": format!("{}/scale", t.plural), "singularName": "", "namespaced": t.namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": SUB_VERBS}));
    }
    if t.flags.status {
        out.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
            "kind": t.kind, "verbs": SUB_VERBS}));
    }
    out
}

/// `/api/v1` or `/apis/<g>/<v>`.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Value {
    let mut types: Vec<_> = reg
        .all()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    types.sort_by(|a, b| a.plural.cmp(&b.plural));
    let resources: Vec<Value> = types.iter().flat_map(|t| legacy_entries(t)).collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv(group, version), "resources": resources})
}

fn aggregated_resource(t: &ResourceType) -> Value {
    let rk = json!({"group": t.group, "version": t.version, "kind": t.kind});
    let mut subs = Vec::new();
    if t.group.is_empty() && t.plural == "namespaces" {
        subs.push(json!({"subresource": "finalize", "responseKind": rk, "verbs": ["update"]}));
    }
    if t.flags.scale {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": SUB_VERBS}));
    }
    if t.flags.status {
        subs.push(json!({"subresource": "status", "responseKind": rk, "verbs": SUB_VERBS}));
    }
    let mut r = json!({"resource": t.plural, "responseKind": rk,
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular, "verbs": VERBS});
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    if !subs.is_empty() {
        r["subresources"] = Value::Array(subs);
    }
    r
}

fn aggregated_group(reg: &Registry, group: &str, versions: &[String]) -> Value {
    let all = reg.all();
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut types: Vec<_> = all
                .iter()
                .filter(|t| t.group == group && t.version == *v)
                .collect();
            types.sort_by(|a, b| a.plural.cmp(&b.plural));
            let resources: Vec<Value> = types.iter().map(|t| aggregated_resource(t)).collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": vs})
}

/// Aggregated `/api` (`core = true`, the single unnamed group) or `/apis`.
pub fn aggregated(reg: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| aggregated_group(reg, &g, &vs))
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_never_sends_v2_to_old_kubectl() {
        let k127 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let k133 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(Some(k127)), Some("v2beta1"));
        assert_eq!(aggregated_version(Some(k133)), Some("v2"));
        assert_eq!(aggregated_version(Some("application/json, */*")), None);
    }

    #[test]
    fn deployments_are_listed_with_subresources() {
        let reg = Registry::new();
        let list = resource_list(&reg, "apps", "v1");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"deployments")
                && names.contains(&"deployments/status")
                && names.contains(&"deployments/scale")
        );
        let agg = aggregated(&reg, false, "v2");
        let apps = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let d = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(d["shortNames"], json!(["deploy"]));
        assert_eq!(d["scope"], "Namespaced");
    }
}

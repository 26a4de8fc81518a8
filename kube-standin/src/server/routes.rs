//! URL paths to targets: meta endpoints, discovery, OpenAPI, and resource paths
//! (`/api/v1/...`, `/apis/<g>/<v>/...`, with `namespaces/<ns>/` and subresources).

use std::sync::Arc;

use crate::kinds::{Registry, ResourceType};

/// A resource path.
#[derive(Debug, Clone)]
pub struct ResourcePath {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a request path addresses.
#[derive(Debug, Clone)]
pub enum Target {
    Version,
    Health(&'static str),
    OpenApiV2,
    OpenApiV3Root,
    OpenApiV3(String, String),
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    Resource(ResourcePath),
    NotFound,
}

fn resource(reg: &Registry, group: &str, version: &str, rest: &[&str]) -> Target {
    let make = |rt: Arc<ResourceType>, ns: Option<&str>, tail: &[&str]| {
        if tail.len() > 2
            || (rt.namespaced && ns.is_none() && !tail.is_empty())
            || (!rt.namespaced && ns.is_some())
        {
            return Target::NotFound;
        }
        Target::Resource(ResourcePath {
            rt,
            namespace: ns.map(str::to_string),
            name: tail.first().map(|s| s.to_string()),
            subresource: tail.get(1).map(|s| s.to_string()),
        })
    };
    if let ["namespaces", ns, res, tail @ ..] = rest
        && let Some(rt) = reg.find(group, version, res).filter(|t| t.namespaced)
    {
        return make(rt, Some(ns), tail);
    }
    match rest {
        [res, tail @ ..] => match reg.find(group, version, res) {
            Some(rt) => make(rt, None, tail),
            None => Target::NotFound,
        },
        [] => Target::NotFound,
    }
}

/// Routes a path.
pub fn route(reg: &Registry, path: &str) -> Target {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Target::Version,
        ["healthz", ..] => Target::Health("healthz"),
        ["livez", ..] => Target::Health("livez"),
        ["readyz", ..] => Target::Health("readyz"),
        ["openapi", "v2"] | ["swagger-2.0.0.pb-v1"] => Target::OpenApiV2,
        ["openapi", "v3"] => Target::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => match crate::openapi::parse_v3_path(&rest.join("/")) {
            Some((g, v)) if reg.has_group_version(&g, &v) => Target::OpenApiV3(g, v),
            _ => Target::NotFound,
        },
        ["api"] => Target::CoreVersions,
        ["api", "v1"] => Target::ResourceList(String::new(), "v1".into()),
        ["api", "v1", rest @ ..] => resource(reg, "", "v1", rest),
        ["apis"] => Target::Groups,
        ["apis", g] => Target::Group(g.to_string()),
        ["apis", g, v] if reg.has_group_version(g, v) => {
            Target::ResourceList(g.to_string(), v.to_string())
        }
        ["apis", g, v, rest @ ..] => resource(reg, g, v, rest),
        _ => Target::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match route(&Registry::new(), path) {
            Target::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn resource_paths() {
        let r = res("/api/v1/namespaces/default/configmaps/x");
        assert_eq!(
            (
                r.rt.plural.as_str(),
                r.namespace.as_deref(),
                r.name.as_deref()
            ),
            ("configmaps", Some("default"), Some("x"))
        );
        let r = res("/api/v1/namespaces/foo");
        assert_eq!(
            (r.rt.plural.as_str(), r.name.as_deref()),
            ("namespaces", Some("foo"))
        );
        let r = res("/api/v1/namespaces/foo/status");
        assert_eq!(
            (r.rt.plural.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = res("/apis/apps/v1/deployments");
        assert!(r.namespace.is_none() && r.name.is_none());
        assert!(matches!(
            route(&Registry::new(), "/api/v1/configmaps/x"),
            Target::NotFound
        ));
        assert!(matches!(
            route(&Registry::new(), "/apis/nope/v1"),
            Target::NotFound
        ));
    }
}

//! GET on collections: resource groups, a group's resources, typed collections; paging
//! with `nextLink` and the few `$filter` forms ARM clients use.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::store::{Res, Store};
use super::types::{self, TypeSpec};
use crate::Cloud;
use crate::error::ArmError;

/// Query parameters of a request, in order.
pub type Query = Vec<(String, String)>;

pub fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One page of `items` with a `nextLink` (absolute, with `$skiptoken`) when more remain.
pub fn page(
    cloud: &Cloud,
    path: &str,
    query: &Query,
    items: Vec<Value>,
) -> Result<Value, ArmError> {
    let total = items.len();
    page_of(cloud, path, query, total, |range| {
        items.get(range).map(<[Value]>::to_vec).unwrap_or_default()
    })
}

/// Like [`page`], for `total` items of which only the page's range is built by `build`:
/// large collections (1,000 VMs with instance views) are not copied whole for every page.
pub fn page_of(
    cloud: &Cloud,
    path: &str,
    query: &Query,
    total: usize,
    build: impl FnOnce(std::ops::Range<usize>) -> Vec<Value>,
) -> Result<Value, ArmError> {
    let skip: usize = match param(query, "$skiptoken") {
        Some(t) => t.parse().map_err(|_| {
            ArmError::bad_request(
                "InvalidSkipToken",
                format!("The skip token '{t}' is invalid."),
            )
        })?,
        None => 0,
    };
    let size = cloud.page_size.max(1);
    let end = (skip + size).min(total);
    let value = if skip < end {
        build(skip..end)
    } else {
        Vec::new()
    };
    let mut body = json!({ "value": value });
    if end < total {
        let mut url = cloud
            .endpoint
            .join(path.trim_start_matches('/'))
            .map_err(|e| {
                ArmError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    e.to_string(),
                )
            })?;
        {
            let mut qp = url.query_pairs_mut();
            for (k, v) in query
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            {
                qp.append_pair(k, v);
            }
            qp.append_pair("$skiptoken", &end.to_string());
        }
        body["nextLink"] = url.to_string().into();
    }
    Ok(body)
}

/// A `$filter` on resource groups or group resources: clauses joined by `and`, each one of
/// `tagName eq 'k'`, `tagValue eq 'v'`, `resourceType eq 't'`, `name eq 'n'`.
pub struct Filter {
    tag_name: Option<String>,
    tag_value: Option<String>,
    resource_type: Option<String>,
    name: Option<String>,
}

impl Filter {
    pub fn parse(filter: Option<&str>) -> Result<Self, ArmError> {
        let mut f = Filter {
            tag_name: None,
            tag_value: None,
            resource_type: None,
            name: None,
        };
        let Some(text) = filter.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(f);
        };
        let bad = || {
            ArmError::bad_request(
                "InvalidFilterInQueryString",
                format!("The $filter '{text}' is not supported."),
            )
        };
        for clause in split_and(text) {
            let (lhs, rhs) = clause.split_once(" eq ").ok_or_else(bad)?;
            let value = rhs
                .trim()
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(bad)?
                .to_string();
            match lhs.trim().to_ascii_lowercase().as_str() {
                "tagname" => f.tag_name = Some(value),
                "tagvalue" => f.tag_value = Some(value),
                "resourcetype" => f.resource_type = Some(value),
                "name" => f.name = Some(value),
                _ => return Err(bad()),
            }
        }
        Ok(f)
    }

    pub fn matches(&self, body: &Value) -> bool {
        let eq = |a: Option<&str>, b: &Option<String>| {
            b.as_ref()
                .is_none_or(|b| a.is_some_and(|a| a.eq_ignore_ascii_case(b)))
        };
        let tags = body.get("tags").and_then(Value::as_object);
        let tag_ok = match (&self.tag_name, &self.tag_value) {
            (None, _) => true,
            (Some(n), v) => tags
                .and_then(|t| t.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)))
                .is_some_and(|(_, val)| eq(val.as_str(), v)),
        };
        tag_ok
            && eq(body["type"].as_str(), &self.resource_type)
            && eq(body["name"].as_str(), &self.name)
    }
}

fn split_and(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(i) = lower[start..].find(" and ") {
        out.push(text[start..start + i].to_string());
        start += i + 5;
    }
    out.push(text[start..].to_string());
    out
}

/// `GET /subscriptions/{s}/resourcegroups`.
pub fn resource_groups(
    cloud: &Cloud,
    store: &Store,
    sub: &str,
    path: &str,
    q: &Query,
) -> Result<Value, ArmError> {
    let filter = Filter::parse(param(q, "$filter"))?;
    let items = store
        .of_type(types::RESOURCE_GROUP)
        .filter(|r| r.sub.eq_ignore_ascii_case(sub) && filter.matches(&r.body))
        .map(|r| r.body.clone())
        .collect();
    page(cloud, path, q, items)
}

/// `GET .../resourcegroups/{rg}/resources`: every tracked resource with its summary fields.
pub fn group_resources(
    cloud: &Cloud,
    store: &Store,
    rg: &Res,
    path: &str,
    q: &Query,
) -> Result<Value, ArmError> {
    let filter = Filter::parse(param(q, "$filter"))?;
    let items = in_group(store, rg)
        .filter(|r| types::spec_for(&r.rtype).is_some_and(|s| s.tracked))
        .map(|r| {
            let mut v =
                json!({"id": r.id, "name": r.name(), "type": r.rtype, "location": r.location()});
            for k in ["tags", "sku", "kind", "managedBy"] {
                if let Some(x) = r.body.get(k) {
                    v[k] = x.clone();
                }
            }
            v
        })
        .filter(|v| filter.matches(v))
        .collect();
    page(cloud, path, q, items)
}

fn in_group<'a>(store: &'a Store, rg: &'a Res) -> impl Iterator<Item = &'a Res> + 'a {
    store.resources.values().filter(move |r| {
        !r.hidden
            && r.rtype != types::RESOURCE_GROUP
            && r.sub.eq_ignore_ascii_case(&rg.sub)
            && r.group == rg.group
    })
}

/// `GET` on a typed collection in a group, or on a child collection of `parent`.
pub fn collection(
    cloud: &Cloud,
    store: &Store,
    rg: &Res,
    spec: &TypeSpec,
    parent: Option<&Res>,
    path: &str,
    q: &Query,
) -> Result<Value, ArmError> {
    // Inline children (subnets, security rules) live in the parent's body.
    if let Some(p) = parent {
        let seg = spec.rtype.rsplit('/').next().unwrap_or_default();
        if let Some(key) = super::store::inline_key(&p.rtype, seg) {
            let items = p.body["properties"][key]
                .as_array()
                .cloned()
                .unwrap_or_default();
            return page(cloud, path, q, items);
        }
    }
    let is_vm = spec.rtype == "Microsoft.Compute/virtualMachines";
    let filter = param(q, "$filter");
    let expand = param(q, "$expand").is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    let status_only = param(q, "statusOnly").is_some_and(|s| s.eq_ignore_ascii_case("true"));
    if is_vm && expand && filter.is_none() {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            "The $expand=instanceView is allowed only with a valid $filter.",
        ));
    }
    let prefix = parent.map(|p| format!("{}/", p.key()));
    let mut matching: Vec<&Res> = Vec::new();
    for r in in_group(store, rg).filter(|r| r.rtype == spec.rtype) {
        if prefix.as_ref().is_some_and(|p| !r.key().starts_with(p)) {
            continue;
        }
        if let (true, Some(f)) = (is_vm, filter)
            && !types::vm_matches_filter(r, f)?
        {
            continue;
        }
        matching.push(r);
    }
    if !is_vm && let Some(f) = filter {
        return Err(ArmError::bad_request(
            "InvalidFilterInQueryString",
            format!("The $filter '{f}' is not supported here."),
        ));
    }
    page_of(cloud, path, q, matching.len(), |range| {
        matching[range]
            .iter()
            .map(|r| {
                let mut body = r.body.clone();
                if is_vm && (expand || status_only) {
                    body["properties"]["instanceView"] = types::instance_view(r);
                }
                body
            })
            .collect()
    })
}

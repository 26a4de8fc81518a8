//! The one generic comparison between a desired PUT body and the resource a GET returned.
//!
//! Rules (ARM semantics, see `docs/azure.md`):
//! - only keys present in the desired body are looked at, so read-only fields ARM adds
//!   (`id`, `etag`, `provisioningState`, defaults) never count as differences;
//! - arrays of objects with a `name` (or else an `id`) are matched by it, case-insensitively;
//!   an element we want that is missing, and an element the resource has that we do not set,
//!   are both differences, because our PUT replaces the whole array;
//! - arrays of scalars are compared as sets (order-insensitive), for the same reason;
//! - ARM ids, `location` and enum-like values compare case-insensitively, as ARM normalises
//!   them; everything else (keys, CIDRs as written, SSH keys, tag values) compares exactly.

use serde_json::{Map, Value};

/// What the `infra` phase must do for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// GET said 404: PUT the desired body.
    Create,
    /// The resource exists but differs at these JSON paths: PUT the desired body.
    Update {
        /// Paths such as `properties.securityRules[allow-ssh].properties.priority`.
        changes: Vec<String>,
    },
    /// The resource exists and matches: no write.
    Unchanged,
}

/// Decides create / update / unchanged from the comparable desired body (write-only fields
/// already removed) and the GET result (`None` when the resource does not exist).
pub fn plan(desired: &Value, actual: Option<&Value>) -> Plan {
    match actual {
        None => Plan::Create,
        Some(actual) => {
            let changes = diff(desired, actual);
            if changes.is_empty() {
                Plan::Unchanged
            } else {
                Plan::Update { changes }
            }
        }
    }
}

/// JSON paths where `desired` is not matched by `actual` (empty when they agree).
pub fn diff(desired: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(desired, actual, "", "", &mut out);
    out
}

/// Keys whose string values ARM normalises (enums, SKU names, states we set).
const ENUM_KEYS: &[&str] = &[
    "access",
    "autoGrow",
    "caching",
    "charset",
    "collation",
    "createOption",
    "direction",
    "geoRedundantBackup",
    "mode",
    "networkApiVersion",
    "orchestrationMode",
    "protocol",
    "publicIPAddressVersion",
    "publicIPAllocationMethod",
    "publicNetworkAccess",
    "serviceName",
    "storageAccountType",
    "tier",
];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(desired: &Value, actual: &Value, path: &str, key: &str, out: &mut Vec<String>) {
    match (desired, actual) {
        (Value::Object(d), Value::Object(a)) => {
            for (k, dv) in d {
                let p = join(path, k);
                match lookup(a, k) {
                    Some(av) => walk(dv, av, &p, k, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => walk_array(d, a, path, out),
        (Value::String(d), Value::String(a)) => {
            if !strings_equal(key, path, d, a) {
                out.push(path.to_string());
            }
        }
        (Value::Number(d), Value::Number(a)) => {
            if d.as_f64() != a.as_f64() {
                out.push(path.to_string());
            }
        }
        (d, a) => {
            if d != a {
                out.push(path.to_string());
            }
        }
    }
}

/// Exact key first; ARM occasionally returns a key with different casing.
fn lookup<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn strings_equal(key: &str, path: &str, d: &str, a: &str) -> bool {
    if d == a {
        return true;
    }
    let is_id = key == "id" || key.ends_with("Id") || d.starts_with("/subscriptions/");
    // `sku.name` is enum-like ("Standard"); other `name`s are user-chosen and exact.
    let is_sku_name = key == "name" && (path == "sku.name" || path.ends_with(".sku.name"));
    // The name of an array element was matched case-insensitively already (ARM names are).
    let is_element_name = key == "name" && path.ends_with("].name");
    if key == "location" {
        normalise_location(d) == normalise_location(a)
    } else if is_id || is_sku_name || is_element_name || ENUM_KEYS.contains(&key) {
        d.eq_ignore_ascii_case(a)
    } else {
        false
    }
}

/// ARM reports `"East US"` as `"eastus"` and `"Global"` as `"global"`.
fn normalise_location(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The identity of an array element: its `name`, else its `id`, else none (scalars, anonymous).
fn element_key(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    ["name", "id"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
}

fn walk_array(d: &[Value], a: &[Value], path: &str, out: &mut Vec<String>) {
    let keyed = !d.is_empty() && d.iter().all(|v| element_key(v).is_some());
    if keyed {
        for dv in d {
            let k = element_key(dv).unwrap_or_default();
            let label = dv
                .get("name")
                .or_else(|| dv.get("id"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let p = format!("{path}[{label}]");
            match a.iter().find(|av| element_key(av).as_deref() == Some(&k)) {
                Some(av) => walk(dv, av, &p, "", out),
                None => out.push(p),
            }
        }
        for av in a {
            let ak = element_key(av);
            if !d.iter().any(|dv| element_key(dv) == ak) {
                let label = av
                    .get("name")
                    .or_else(|| av.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                out.push(format!("{path}[{label}]"));
            }
        }
    } else if d.iter().all(|v| !v.is_object() && !v.is_array()) {
        // Scalar sets: order-insensitive, but every element on both sides must match.
        let same_len = d.len() == a.len();
        let all_found = d
            .iter()
            .all(|dv| a.iter().any(|av| scalar_eq(path, dv, av)));
        if !same_len || !all_found {
            out.push(path.to_string());
        }
    } else {
        // Anonymous objects: positional.
        if d.len() != a.len() {
            out.push(path.to_string());
            return;
        }
        for (i, (dv, av)) in d.iter().zip(a).enumerate() {
            walk(dv, av, &format!("{path}[{i}]"), "", out);
        }
    }
}

fn scalar_eq(path: &str, d: &Value, a: &Value) -> bool {
    let key = path.rsplit('.').next().unwrap_or(path);
    match (d, a) {
        (Value::String(d), Value::String(a)) => strings_equal(key, path, d, a),
        (Value::Number(d), Value::Number(a)) => d.as_f64() == a.as_f64(),
        _ => d == a,
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;

//! Strategic merge patch for built-in kinds: a merge patch whose lists with merge keys
//! (containers, env, ports, volumes, volumeMounts, ...) merge element by element and whose
//! sets (finalizers) merge by value; directives `$patch` (merge, replace, delete),
//! `$retainKeys`, `$deleteFromPrimitiveList/<f>` and `$setElementOrder/<f>`. Where the
//! schema is untyped, lists are replaced as a JSON merge patch would.

use serde_json::{Map, Value};

use crate::ssa::schema::{ListType, Schema};

const PATCH: &str = "$patch";
const RETAIN: &str = "$retainKeys";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";
const ORDER: &str = "$setElementOrder/";

/// Applies `patch` to `original`.
pub fn apply(original: &Value, patch: &Value, schema: &Schema) -> Result<Value, String> {
    Ok(patch_value(Some(original), patch, schema)?.unwrap_or_else(|| Value::Object(Map::new())))
}

fn patch_value(
    orig: Option<&Value>,
    patch: &Value,
    schema: &Schema,
) -> Result<Option<Value>, String> {
    match patch {
        Value::Object(p) => patch_map(orig, p, schema),
        Value::Array(items) => patch_list(orig, items, schema).map(Some),
        other => Ok(Some(other.clone())),
    }
}

fn patch_map(
    orig: Option<&Value>,
    p: &Map<String, Value>,
    schema: &Schema,
) -> Result<Option<Value>, String> {
    match p.get(PATCH).and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => return patch_map(None, &without(p, PATCH), schema),
        Some("merge") | None => {}
        Some(other) => return Err(format!("Unknown patch type: {other}")),
    }
    if schema.map_is_atomic() {
        return patch_map(None, &without(p, PATCH), &Schema::Any);
    }
    let mut out = match orig {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            out.shift_remove(k);
            continue;
        }
        let child = schema.field(k).unwrap_or_else(Schema::any);
        match patch_value(out.get(k), v, &child)? {
            Some(nv) => {
                out.insert(k.clone(), nv);
            }
            None => {
                out.shift_remove(k);
            }
        }
    }
    for (k, v) in p {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            let gone = v.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = out.get_mut(field) {
                list.retain(|e| !gone.contains(e));
            }
        } else if let Some(field) = k.strip_prefix(ORDER) {
            let key = match schema.field(field).map(|s| s.list_type()) {
                Some(ListType::Map(keys)) => keys.first().map(|(k, _)| k.clone()),
                _ => None,
            };
            if let (Some(Value::Array(list)), Some(order)) = (out.get_mut(field), v.as_array()) {
                reorder(list, order, key.as_deref());
            }
        }
    }
    if let Some(keep) = p.get(RETAIN).and_then(Value::as_array) {
        out.retain(|k, _| keep.iter().any(|r| r.as_str() == Some(k.as_str())));
    }
    Ok(Some(Value::Object(out)))
}

fn without(p: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut m = p.clone();
    m.shift_remove(key);
    m
}

/// Elements named in `order` come first, in that order; the others keep their order after.
fn reorder(list: &mut [Value], order: &[Value], key: Option<&str>) {
    let id = |v: &Value| match key {
        Some(k) => v.get(k).cloned(),
        None => Some(v.clone()),
    };
    let rank = |v: &Value| {
        let i = id(v);
        order.iter().position(|o| id(o) == i).unwrap_or(usize::MAX)
    };
    list.sort_by_key(rank);
}

fn patch_list(orig: Option<&Value>, items: &[Value], schema: &Schema) -> Result<Value, String> {
    let item_schema = schema.items();
    let orig_items = orig.and_then(Value::as_array);
    match (schema.list_type(), orig_items) {
        (ListType::Map(keys), Some(existing)) => {
            // `{"$patch": "replace"}` among the elements: the list becomes the other elements.
            if items
                .iter()
                .any(|e| e.get(PATCH).and_then(Value::as_str) == Some("replace"))
            {
                let rest: Vec<Value> = items
                    .iter()
                    .filter(|e| e.get(PATCH).is_none())
                    .cloned()
                    .collect();
                return patch_list(None, &rest, schema);
            }
            let key = keys.first().map(|(k, _)| k.as_str()).unwrap_or("name");
            let mut out = existing.clone();
            for item in items {
                let kv = item.get(key);
                let pos = kv.and_then(|kv| out.iter().position(|e| e.get(key) == Some(kv)));
                if item.get(PATCH).and_then(Value::as_str) == Some("delete") {
                    if let Some(kv) = kv {
                        out.retain(|e| e.get(key) != Some(kv));
                    }
                    continue;
                }
                match pos {
                    Some(i) => match patch_value(Some(&out[i]), item, &item_schema)? {
                        Some(v) => out[i] = v,
                        None => {
                            out.remove(i);
                        }
                    },
                    None => {
                        if let Some(v) = patch_value(None, item, &item_schema)? {
                            out.push(v);
                        }
                    }
                }
            }
            Ok(Value::Array(out))
        }
        (ListType::Set, Some(existing)) => {
            let mut out = existing.clone();
            for item in items {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
        _ => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(v) = patch_value(None, item, &item_schema)? {
                    out.push(v);
                }
            }
            Ok(Value::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::schemas;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"metadata": {"name": "web", "finalizers": ["a/b"]}, "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}
        ]}}}})
    }

    #[test]
    fn containers_env_and_ports_merge_by_key() {
        let s = schemas::for_kind("apps", "Deployment");
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}], "ports": [{"containerPort": 443}]}
        ]}}}});
        let out = apply(&deploy(), &patch, &s).unwrap();
        let cs = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(cs.len(), 2, "the sidecar stays");
        assert_eq!(cs[0]["image"], "nginx:2");
        assert_eq!(
            cs[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(
            cs[0]["ports"],
            json!([{"containerPort": 80}, {"containerPort": 443}])
        );
    }

    #[test]
    fn directives() {
        let s = schemas::for_kind("apps", "Deployment");
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/b"]},
            "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}, {"name": "web", "env": [{"$patch": "replace"}, {"name": "Z", "value": "9"}]}]}}}});
        let out = apply(&deploy(), &patch, &s).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!([]));
        let cs = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0]["env"], json!([{"name": "Z", "value": "9"}]));
        let replaced = apply(
            &deploy(),
            &json!({"spec": {"$patch": "replace", "replicas": 1}}),
            &s,
        )
        .unwrap();
        assert_eq!(replaced["spec"], json!({"replicas": 1}));
        let retained = apply(&json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}), &s).unwrap();
        assert_eq!(retained["spec"]["strategy"], json!({"type": "Recreate"}));
    }
}

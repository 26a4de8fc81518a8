//! Unknown fields: dropped as typed decoding (built-ins) and structural pruning (custom
//! resources) drop them, and reported for `fieldValidation` (`spec.foo`, `a.b[0].c`).

use serde_json::Value;

use super::schema::Schema;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes fields the schema does not know; returns their paths in document order.
pub fn prune_unknown(v: &mut Value, s: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    walk(v, s, "", &mut out);
    out
}

fn walk(v: &mut Value, s: &Schema, path: &str, out: &mut Vec<String>) {
    match (v, s) {
        (_, Schema::Any | Schema::Scalar) => {}
        (
            Value::Object(m),
            Schema::Struct {
                fields, preserve, ..
            },
        ) => {
            let mut remove = Vec::new();
            for (k, child) in m.iter_mut() {
                match fields.iter().find(|(n, _)| n == k) {
                    Some((_, cs)) => walk(child, cs, &join(path, k), out),
                    None if *preserve => {}
                    None => {
                        out.push(join(path, k));
                        remove.push(k.clone());
                    }
                }
            }
            for k in remove {
                m.shift_remove(&k);
            }
        }
        (Value::Object(m), Schema::Map { values, .. }) => {
            for (k, child) in m.iter_mut() {
                walk(child, values, &join(path, k), out);
            }
        }
        (Value::Array(items), Schema::List { items: is, .. }) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, is, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::schemas;
    use serde_json::json;

    #[test]
    fn unknown_fields_of_a_deployment() {
        let s = schemas::for_kind("apps", "Deployment");
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "bogus": 1},
            "spec": {"replicaz": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "x"}]}}}, "extra": true});
        let unknown = prune_unknown(&mut d, &s);
        assert_eq!(
            unknown,
            vec![
                "metadata.bogus",
                "spec.replicaz",
                "spec.template.spec.containers[0].imagePullPolicyy",
                "extra"
            ]
        );
        assert!(d.get("extra").is_none());
        assert!(d["spec"].get("replicaz").is_none());
    }
}

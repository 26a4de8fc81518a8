//! JSON merge patch (RFC 7386): objects merge, `null` deletes, everything else replaces.

use serde_json::Value;

/// Applies `patch` to `target` in place.
pub fn apply(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            let t = crate::objects::meta::object_mut(target);
            for (k, v) in p {
                if v.is_null() {
                    t.shift_remove(k);
                } else {
                    apply(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        apply(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
        let mut s = json!("x");
        apply(&mut s, &json!({"a": {"b": null}}));
        assert_eq!(s, json!({"a": {}}));
    }
}

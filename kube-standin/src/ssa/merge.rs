//! The apply merge (config over live), item removal and named-field membership, ported from
//! structured-merge-diff's `typed` package.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set};
use super::schema::{ListType, Schema};
use super::typed::item_pes_lenient;

/// The apply merge (`TypedValue.Merge` with "keep rhs"): `config` over `live`.
pub fn merge(live: Option<&Value>, config: Option<&Value>, s: &Schema) -> Option<Value> {
    match (live, config) {
        (None, None) => None,
        (Some(l), None) => Some(l.clone()),
        (None, Some(r)) => Some(r.clone()),
        (Some(Value::Object(lm)), Some(Value::Object(rm))) => {
            if s.map_is_atomic() || (lm.is_empty() && rm.is_empty()) {
                return Some(Value::Object(rm.clone()));
            }
            let mut out = Map::new();
            for (k, lv) in lm {
                let cs = s.field(k).unwrap_or_else(Schema::any);
                if let Some(v) = merge(Some(lv), rm.get(k), &cs) {
                    out.insert(k.clone(), v);
                }
            }
            for (k, rv) in rm {
                if !lm.contains_key(k) {
                    out.insert(k.clone(), rv.clone());
                }
            }
            Some(Value::Object(out))
        }
        (Some(Value::Array(li)), Some(Value::Array(ri))) => {
            let lt = s.list_type();
            if lt == ListType::Atomic || (li.is_empty() && ri.is_empty()) {
                return Some(Value::Array(ri.clone()));
            }
            Some(Value::Array(merge_list(li, ri, &lt, &s.items())))
        }
        (_, Some(r)) => Some(r.clone()),
    }
}

/// structured-merge-diff's associative list merge: shared items keep the config's order,
/// live-only items stay where they were relative to them.
fn merge_list(li: &[Value], ri: &[Value], lt: &ListType, is: &Arc<Schema>) -> Vec<Value> {
    let lp = item_pes_lenient(lt, li);
    let rp = item_pes_lenient(lt, ri);
    let find = |pes: &[PathElement], pe: &PathElement| pes.iter().position(|p| p == pe);
    let mut shared: Vec<usize> = (0..rp.len())
        .filter(|&i| find(&lp, &rp[i]).is_some())
        .collect();
    shared.reverse();
    let mut next_shared = shared.pop();
    let mut merged_r: Vec<PathElement> = Vec::new();
    let mut out = Vec::with_capacity(li.len().max(ri.len()));
    let (mut l, mut r) = (0, 0);
    while l < lp.len() || r < rp.len() {
        if l < lp.len() && r < rp.len() {
            if lp[l] == rp[r] {
                merged_r.push(rp[r].clone());
                if let Some(v) = merge(Some(&li[l]), Some(&ri[r]), is) {
                    out.push(v);
                }
                l += 1;
                r += 1;
                next_shared = shared.pop();
                continue;
            }
            if find(&rp, &lp[l]).is_some() && next_shared.is_some_and(|ns| rp[ns] != lp[l]) {
                l += 1;
                continue;
            }
        }
        if l < lp.len() {
            if find(&rp, &lp[l]).is_none() {
                out.push(li[l].clone());
                l += 1;
                continue;
            } else if merged_r.contains(&lp[l]) {
                l += 1;
            }
        }
        if r < rp.len() {
            merged_r.push(rp[r].clone());
            let lv = find(&lp, &rp[r]).map(|i| &li[i]);
            if let Some(v) = merge(lv, Some(&ri[r]), is) {
                out.push(v);
            }
            if next_shared.is_some_and(|ns| rp[ns] == rp[r]) {
                next_shared = shared.pop();
            }
            r += 1;
        }
    }
    out
}

/// Removes every member path of `set` from `v` (`TypedValue.RemoveItems`); maps and lists
/// left empty by the removal disappear with their field.
pub fn remove_items(v: &Value, set: &Set, s: &Schema) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.is_empty() || s.map_is_atomic() {
                return Some(v.clone());
            }
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if set.members.contains(&pe) {
                    continue;
                }
                match set.with_prefix(&pe) {
                    Some(sub) => {
                        let cs = s.field(k).unwrap_or_else(Schema::any);
                        if let Some(nv) = remove_items(child, sub, &cs) {
                            out.insert(k.clone(), nv);
                        }
                    }
                    None => {
                        out.insert(k.clone(), child.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let lt = s.list_type();
            if items.is_empty() || lt == ListType::Atomic {
                return Some(v.clone());
            }
            let is = s.items();
            let mut out = Vec::new();
            for (item, pe) in items.iter().zip(item_pes_lenient(&lt, items)) {
                if set.members.contains(&pe) {
                    continue;
                }
                match set.with_prefix(&pe) {
                    Some(sub) => {
                        if let Some(nv) = remove_items(item, sub, &is) {
                            out.push(nv);
                        }
                    }
                    None => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => Some(other.clone()),
    }
}

/// Adds every struct field that has children as a member too (`EnsureNamedFieldsAreMembers`).
pub fn ensure_named_fields_are_members(set: &Set, s: &Schema) -> Set {
    let mut out = Set {
        members: set.members.clone(),
        children: Default::default(),
    };
    for (pe, child) in &set.children {
        let cs = match pe {
            PathElement::Field(n) => {
                if s.is_named_field(n) {
                    out.members.insert(pe.clone());
                }
                s.field(n).unwrap_or_else(Schema::any)
            }
            _ => s.items(),
        };
        out.children
            .insert(pe.clone(), ensure_named_fields_are_members(child, &cs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::schemas;
    use serde_json::json;

    fn deploy() -> Arc<Schema> {
        schemas::for_kind("apps", "Deployment")
    }

    #[test]
    fn merge_keeps_live_only_items_and_config_order() {
        let s = deploy();
        let cs = s
            .field("spec")
            .unwrap()
            .field("template")
            .unwrap()
            .field("spec")
            .unwrap()
            .field("containers")
            .unwrap();
        let live =
            json!([{"name":"a","image":"1"},{"name":"b","image":"1"},{"name":"c","image":"1"}]);
        let cfg = json!([{"name":"c","image":"2"},{"name":"a","image":"2"}]);
        let out = merge(Some(&live), Some(&cfg), &cs).unwrap();
        let names: Vec<&str> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["b", "c", "a"]);
        assert_eq!(out[1]["image"], "2");
    }

    #[test]
    fn remove_items_drops_emptied_parents() {
        let s = deploy();
        let v = json!({"metadata":{"labels":{"a":"1"}},"spec":{"replicas":1}});
        let mut set = Set::default();
        set.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("a".into()),
        ]);
        assert_eq!(
            remove_items(&v, &set, &s).unwrap(),
            json!({"spec":{"replicas":1}})
        );
    }
}

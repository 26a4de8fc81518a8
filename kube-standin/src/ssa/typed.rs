//! Schema-aware walks over JSON values, ported from structured-merge-diff's `typed` package:
//! the field set of a value, the comparison of two values, the apply merge, item removal.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set};
use super::schema::{ListType, Schema};

/// A list element without its key fields (and no default for them).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{path}: element {index}: associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
)]
pub struct KeyError {
    pub path: String,
    pub index: usize,
    pub key: String,
}

/// The path element of a list item under `list_type`.
fn item_pe(
    list_type: &ListType,
    item: &Value,
    index: usize,
) -> Result<PathElement, (usize, String)> {
    match list_type {
        ListType::Map(keys) => {
            let mut fields = Vec::with_capacity(keys.len());
            for (k, default) in keys {
                match item.get(k).filter(|v| !v.is_null()).or(default.as_ref()) {
                    Some(v) => fields.push((k.clone(), v.clone())),
                    None => return Err((index, k.clone())),
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListType::Set => Ok(PathElement::Value(item.clone())),
        ListType::Atomic => Ok(PathElement::Index(index)),
    }
}

/// Path elements of every item; items missing a key get their index (lenient form).
fn item_pes_lenient(list_type: &ListType, items: &[Value]) -> Vec<PathElement> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| item_pe(list_type, v, i).unwrap_or(PathElement::Index(i)))
        .collect()
}

/// Checks that every list-map element carries its keys (apply requires it).
pub fn check_keys(v: &Value, s: &Schema, path: &mut Vec<PathElement>) -> Result<(), KeyError> {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let cs = s.field(k).unwrap_or_else(Schema::any);
                path.push(PathElement::Field(k.clone()));
                check_keys(child, &cs, path)?;
                path.pop();
            }
        }
        Value::Array(items) => {
            let lt = s.list_type();
            if lt == ListType::Atomic {
                return Ok(());
            }
            let is = s.items();
            for (i, item) in items.iter().enumerate() {
                let pe = item_pe(&lt, item, i).map_err(|(index, key)| KeyError {
                    path: super::fieldpath::path_string(path),
                    index,
                    key,
                })?;
                path.push(pe);
                check_keys(item, &is, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// The set of fields a value sets (`TypedValue.ToFieldSet`).
pub fn to_field_set(v: &Value, s: &Schema) -> Set {
    let mut set = Set::default();
    walk_set(v, s, &mut Vec::new(), &mut set);
    set
}

fn walk_set(v: &Value, s: &Schema, path: &mut Vec<PathElement>, set: &mut Set) {
    match v {
        Value::Object(m) => {
            if s.map_is_atomic() {
                set.insert(path);
                return;
            }
            for (k, child) in m {
                let cs = s.field(k).unwrap_or_else(Schema::any);
                path.push(PathElement::Field(k.clone()));
                walk_set(child, &cs, path, set);
                let empty_map = child.as_object().is_some_and(Map::is_empty);
                if child.is_null() || empty_map || !s.is_named_field(k) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let lt = s.list_type();
            if lt == ListType::Atomic {
                set.insert(path);
                return;
            }
            let is = s.items();
            let pes = item_pes_lenient(&lt, items);
            let mut counts: HashMap<String, usize> = HashMap::new();
            for pe in &pes {
                *counts.entry(pe.encode()).or_default() += 1;
            }
            for (item, pe) in items.iter().zip(pes) {
                path.push(pe.clone());
                if counts[&pe.encode()] > 1 {
                    // Duplicates are owned as a whole, without descending.
                    set.insert(path);
                } else {
                    walk_set(item, &is, path, set);
                    set.insert(path);
                }
                path.pop();
            }
        }
        _ => set.insert(path),
    }
}

/// Fields added, modified and removed between two values (`TypedValue.Compare`).
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

/// Compares `lhs` (old) with `rhs` (new).
pub fn compare(lhs: &Value, rhs: &Value, s: &Schema) -> Comparison {
    let mut c = Comparison::default();
    cmp(Some(lhs), Some(rhs), s, &mut Vec::new(), &mut c);
    c
}

fn is_map(v: Option<&Value>) -> bool {
    v.is_some_and(Value::is_object)
}
fn is_list(v: Option<&Value>) -> bool {
    v.is_some_and(Value::is_array)
}

fn push_grouped<'a>(vals: &mut Vec<(PathElement, Vec<&'a Value>)>, pe: &PathElement, v: &'a Value) {
    match vals.iter_mut().find(|(p, _)| p == pe) {
        Some((_, list)) => list.push(v),
        None => vals.push((pe.clone(), vec![v])),
    }
}

fn cmp(
    l: Option<&Value>,
    r: Option<&Value>,
    s: &Schema,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    let leaf = |c: &mut Comparison, path: &[PathElement]| match (l, r) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        (Some(a), Some(b)) if a != b => c.modified.insert(path),
        _ => {}
    };
    let both_maps = (l.is_none() || is_map(l)) && (r.is_none() || is_map(r));
    let both_lists = (l.is_none() || is_list(l)) && (r.is_none() || is_list(r));
    let empty = |v: Option<&Value>| match v {
        None => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    if both_maps && (is_map(l) || is_map(r)) {
        if s.map_is_atomic() || (empty(l) && empty(r)) {
            leaf(c, path);
            return;
        }
        let lm = l.and_then(Value::as_object);
        let rm = r.and_then(Value::as_object);
        let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
        for k in rm.into_iter().flat_map(|m| m.keys()) {
            if !lm.is_some_and(|m| m.contains_key(k)) {
                keys.push(k);
            }
        }
        for k in keys {
            let cs = s.field(k).unwrap_or_else(Schema::any);
            path.push(PathElement::Field(k.clone()));
            cmp(
                lm.and_then(|m| m.get(k)),
                rm.and_then(|m| m.get(k)),
                &cs,
                path,
                c,
            );
            path.pop();
        }
    } else if both_lists && (is_list(l) || is_list(r)) {
        let lt = s.list_type();
        if lt == ListType::Atomic || (empty(l) && empty(r)) {
            leaf(c, path);
            return;
        }
        let li: &[Value] = l
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let ri: &[Value] = r
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let lp = item_pes_lenient(&lt, li);
        let rp = item_pes_lenient(&lt, ri);
        let mut order: Vec<PathElement> = Vec::new();
        let mut lvals: Vec<(PathElement, Vec<&Value>)> = Vec::new();
        let mut rvals: Vec<(PathElement, Vec<&Value>)> = Vec::new();
        for (pe, v) in lp.iter().zip(li) {
            if !order.contains(pe) {
                order.push(pe.clone());
            }
            push_grouped(&mut lvals, pe, v);
        }
        for (pe, v) in rp.iter().zip(ri) {
            if !order.contains(pe) {
                order.push(pe.clone());
            }
            push_grouped(&mut rvals, pe, v);
        }
        let is = s.items();
        for pe in order {
            let ll = lvals
                .iter()
                .find(|(p, _)| *p == pe)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let rl = rvals
                .iter()
                .find(|(p, _)| *p == pe)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            path.push(pe);
            match (ll.len(), rl.len()) {
                (a, b) if a <= 1 && b <= 1 => {
                    cmp(ll.first().copied(), rl.first().copied(), &is, path, c)
                }
                (a, b) if a >= 2 && b >= 2 => {
                    if ll != rl {
                        c.modified.insert(path);
                    }
                }
                (a, _) if a >= 2 => {
                    if let Some(rv) = rl.first() {
                        cmp(None, Some(rv), &is, path, c);
                    }
                    c.removed.insert(path);
                }
                _ => {
                    if let Some(lv) = ll.first() {
                        cmp(Some(lv), None, &is, path, c);
                    }
                    c.added.insert(path);
                }
            }
            path.pop();
        }
    } else {
        leaf(c, path);
        return;
    }
    match (l, r) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
}

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
    fn field_set_matches_apply_managed_fields() {
        let obj = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
            "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80}]}]}}}});
        let set = to_field_set(&obj, &deploy());
        let fv1 = set.to_fields_v1();
        assert_eq!(
            fv1["f:spec"],
            json!({"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}})
        );
        assert_eq!(
            fv1["f:metadata"],
            json!({"f:labels":{"f:app":{}},"f:name":{}})
        );
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
    fn compare_finds_changes_per_field() {
        let s = deploy();
        let a = json!({"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"c","image":"1"}]}}}});
        let b = json!({"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"c","image":"1"},{"name":"d","image":"1"}]}}}});
        let c = compare(&a, &b, &s);
        assert!(c.modified.has(&[
            PathElement::Field("spec".into()),
            PathElement::Field("replicas".into())
        ]));
        let d = PathElement::Key(vec![("name".into(), json!("d"))]);
        let base = [
            PathElement::Field("spec".into()),
            PathElement::Field("template".into()),
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
        ];
        let mut p = base.to_vec();
        p.push(d);
        assert!(c.added.has(&p));
        assert!(c.removed.is_empty());
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

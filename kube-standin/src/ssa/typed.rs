//! Schema-aware walks over JSON values, ported from structured-merge-diff's `typed` package:
//! the field set of a value and the comparison of two values (the apply merge and item
//! removal are in `merge.rs`).

use serde_json::{Map, Value};
use std::collections::HashMap;

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
pub(super) fn item_pes_lenient(list_type: &ListType, items: &[Value]) -> Vec<PathElement> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::schemas;
    use serde_json::json;
    use std::sync::Arc;

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
}

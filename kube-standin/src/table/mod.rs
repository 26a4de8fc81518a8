//! `meta.k8s.io` Tables for `kubectl get`: the columns kube-apiserver's printers give the
//! common kinds (priority 1 = `-o wide`), printer columns of custom resources, Name/Age else.

use serde_json::{Value, json};

use crate::kinds::ResourceType;
use crate::objects::meta;

mod builtin;
mod jsonpath;

struct Col {
    name: &'static str,
    typ: &'static str,
    format: &'static str,
    priority: i64,
}

const fn c(name: &'static str, typ: &'static str, format: &'static str, priority: i64) -> Col {
    Col {
        name,
        typ,
        format,
        priority,
    }
}

const fn col(name: &'static str) -> Col {
    c(name, "string", "", 0)
}

/// A column shown only with `-o wide`.
const fn wide(name: &'static str) -> Col {
    c(name, "string", "", 1)
}

const fn num_col(name: &'static str) -> Col {
    c(name, "integer", "", 0)
}

/// `k=v,k2=v2` of a string map (selectors), `<none>` when empty.
fn pairs(map: Option<&Value>) -> Value {
    let m = map.and_then(Value::as_object);
    let parts: Vec<String> = m
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    or_none(parts.join(","))
}

const NAME: Col = c("Name", "string", "name", 0);
const AGE: Col = c("Age", "string", "date", 0);

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn or_none(v: String) -> Value {
    if v.is_empty() { s("<none>") } else { s(v) }
}

fn text(obj: &Value, ptr: &str) -> String {
    obj.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn int(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Name, type, format and priority of a column.
type ColumnDef = (String, String, String, i64);

/// Columns and cells of a custom resource (`additionalPrinterColumns`, simple JSONPaths).
fn custom(rt: &ResourceType, objs: &[Value]) -> (Vec<ColumnDef>, Vec<Vec<Value>>) {
    let cols = rt
        .custom
        .as_ref()
        .map(|c| c.printer_columns.clone())
        .unwrap_or_default();
    let mut defs = vec![(
        "Name".to_string(),
        "string".to_string(),
        "name".to_string(),
        0,
    )];
    if cols.is_empty() {
        defs.push(("Age".into(), "date".into(), String::new(), 0));
    }
    defs.extend(cols.iter().map(|c| {
        (
            c.name.clone(),
            c.type_.clone(),
            c.format.clone(),
            c.priority,
        )
    }));
    let rows = objs
        .iter()
        .map(|o| {
            let mut cells = vec![s(meta::name(o).unwrap_or_default())];
            if cols.is_empty() {
                cells.push(s(meta::age(o)));
            }
            for c in &cols {
                let raw = jsonpath::first(o, &c.json_path);
                let cell = match (c.type_.as_str(), raw) {
                    ("date", Some(Value::String(t))) => s(meta::parse_time(&t)
                        .map(|t| {
                            meta::human_duration(
                                (time::OffsetDateTime::now_utc() - t).whole_seconds(),
                            )
                        })
                        .unwrap_or(t)),
                    (_, Some(v)) => v,
                    (_, None) => Value::Null,
                };
                cells.push(cell);
            }
            cells
        })
        .collect();
    (defs, rows)
}

/// A Table of `objs` (one for a get, all for a list).
pub fn table(
    rt: &ResourceType,
    version: &str,
    objs: &[Value],
    resource_version: Option<String>,
    cont: Option<String>,
    include: &str,
) -> Value {
    let (defs, rows): (Vec<Value>, Vec<Vec<Value>>) = if rt.is_custom() {
        let (d, r) = custom(rt, objs);
        (d.into_iter().map(|(n, t, f, p)| json!({"name": n, "type": t, "format": f, "description": "", "priority": p})).collect(), r)
    } else {
        let (d, r) = builtin::columns(rt, objs);
        (d.into_iter().map(|c| json!({"name": c.name, "type": c.typ, "format": c.format, "description": "", "priority": c.priority})).collect(), r)
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .zip(objs)
        .map(|(cells, o)| {
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
            };
            let mut row = json!({"cells": cells});
            if !object.is_null() {
                row["object"] = object;
            }
            row
        })
        .collect();
    let mut md = serde_json::Map::new();
    if let Some(rv) = resource_version {
        md.insert("resourceVersion".into(), json!(rv));
    }
    if let Some(c) = cont {
        md.insert("continue".into(), json!(c));
    }
    json!({"kind": "Table", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": md, "columnDefinitions": defs, "rows": rows})
}

//! CustomResourceDefinitions: defaulting, validation and status of the CRD object
//! (NamesAccepted and Established at once), and the resource types its served versions
//! define, with structural schemas converted from `openAPIV3Schema`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{CustomInfo, Flags, PrinterColumn, Registry, ResourceType, schemas};
use crate::error::{FieldError, go_quote};
use crate::objects::meta;
use crate::ssa::schema::build::{any, scalar};
use crate::ssa::schema::{ListType, Schema};

/// The finalizer that makes deleting a CRD delete its custom resources first.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Whether `rt` is the CRD type itself.
pub fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn condition(typ: &str, reason: &str, message: &str, old: Option<&Value>, now: &str) -> Value {
    let prev = old
        .and_then(|o| o.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == typ));
    let since = match prev {
        Some(p) if p["status"] == "True" => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    json!({"type": typ, "status": "True", "lastTransitionTime": since, "reason": reason, "message": message})
}

/// Defaults and validates a CRD; sets its status (names accepted, established, stored
/// versions). `old_status` is the previous status on updates.
pub fn prepare(obj: &mut Value, old_status: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = meta::name(obj).unwrap_or_default().to_string();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return vec![FieldError::required("spec", "")];
    };
    let names = spec.entry("names").or_insert_with(|| json!({}));
    if let Some(n) = names.as_object_mut() {
        let kind = n
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !kind.is_empty() {
            n.entry("singular")
                .or_insert_with(|| json!(kind.to_lowercase()));
            n.entry("listKind")
                .or_insert_with(|| json!(format!("{kind}List")));
        }
    }
    spec.entry("conversion")
        .or_insert_with(|| json!({"strategy": "None"}));
    let spec = Value::Object(spec.clone());
    let (group, plural, kind) = (
        s(&spec, "/group"),
        s(&spec, "/names/plural"),
        s(&spec, "/names/kind"),
    );
    for (field, v) in [
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", kind),
    ] {
        if v.is_empty() {
            errs.push(FieldError::required(field, ""));
        }
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            go_quote(&name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = s(&spec, "/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        errs.push(FieldError::not_supported(
            "spec.scope",
            go_quote(scope),
            &["Cluster", "Namespaced"],
        ));
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    let storage: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
    if !versions.is_empty() && storage.len() != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            format!(
                "[]apiextensions.CustomResourceDefinitionVersion{{...{} versions...}}",
                versions.len()
            ),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            errs.push(FieldError::required(
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "schemas are required",
            ));
        }
    }
    if !errs.is_empty() {
        return errs;
    }
    let now = meta::now();
    let mut stored: Vec<Value> = old_status
        .and_then(|o| o.get("storedVersions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(sv) = storage.first().and_then(|v| v.get("name"))
        && !stored.contains(sv)
    {
        stored.push(sv.clone());
    }
    let status = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found", old_status, &now),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted", old_status, &now),
        ],
        "acceptedNames": spec.get("names").cloned().unwrap_or(json!({})),
        "storedVersions": stored,
    });
    if let Some(o) = obj.as_object_mut() {
        o.insert("status".into(), status);
    }
    errs
}

fn list_type(node: &Value) -> ListType {
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListType::Set,
        Some("map") => {
            let keys = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let item_props = node.pointer("/items/properties");
            ListType::Map(
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(|k| {
                        (
                            k.to_string(),
                            item_props
                                .and_then(|p| p.get(k))
                                .and_then(|p| p.get("default"))
                                .cloned(),
                        )
                    })
                    .collect(),
            )
        }
        _ => ListType::Atomic,
    }
}

/// A structural schema node from an OpenAPI v3 schema (`x-kubernetes-*` extensions honoured).
pub fn schema_from_openapi(node: &Value) -> Arc<Schema> {
    let preserve = node.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let atomic = node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
    if node.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        return scalar();
    }
    let embedded = node.get("x-kubernetes-embedded-resource") == Some(&json!(true));
    match node.get("type").and_then(Value::as_str) {
        Some("object") | None if node.get("properties").is_some() || embedded => {
            let mut fields: Vec<(String, Arc<Schema>)> = node
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), schema_from_openapi(v)))
                .collect();
            if embedded {
                for (f, sch) in [
                    ("apiVersion", scalar()),
                    ("kind", scalar()),
                    ("metadata", schemas::object_meta()),
                ] {
                    if !fields.iter().any(|(n, _)| n == f) {
                        fields.push((f.to_string(), sch));
                    }
                }
            }
            Arc::new(Schema::Struct {
                fields,
                atomic,
                preserve,
            })
        }
        Some("object") => match node.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => Arc::new(Schema::Map {
                values: schema_from_openapi(ap),
                atomic,
            }),
            Some(Value::Bool(true)) => Arc::new(Schema::Map {
                values: any(),
                atomic,
            }),
            _ if preserve => any(),
            _ => Arc::new(Schema::Struct {
                fields: Vec::new(),
                atomic,
                preserve: false,
            }),
        },
        Some("array") => Arc::new(Schema::List {
            items: node
                .get("items")
                .map(schema_from_openapi)
                .unwrap_or_else(any),
            list_type: list_type(node),
        }),
        None if preserve => any(),
        _ => scalar(),
    }
}

/// The top-level schema of a custom resource version.
fn resource_schema(openapi: Option<&Value>) -> Arc<Schema> {
    let Some(root) = openapi else { return any() };
    let mut fields = vec![
        ("apiVersion".to_string(), scalar()),
        ("kind".to_string(), scalar()),
        ("metadata".to_string(), schemas::object_meta()),
    ];
    let preserve = root.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    for (k, v) in root
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            fields.push((k.clone(), schema_from_openapi(v)));
        }
    }
    Arc::new(Schema::Struct {
        fields,
        atomic: false,
        preserve,
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The resource types of an established CRD, one per served version.
pub fn types(crd: &Value) -> Vec<ResourceType> {
    let spec = crd.get("spec").cloned().unwrap_or(json!({}));
    let names = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or(json!({}));
    let (group, plural, kind) = (s(&spec, "/group"), s(&names, "/plural"), s(&names, "/kind"));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"] != true {
            continue;
        }
        let columns = v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: s(c, "/name").into(),
                type_: s(c, "/type").into(),
                format: s(c, "/format").into(),
                priority: c["priority"].as_i64().unwrap_or(0),
                json_path: s(c, "/jsonPath").into(),
            })
            .collect();
        let selectable = v["selectableFields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| s(f, "/jsonPath").trim_start_matches('.').to_string())
            .collect();
        out.push(ResourceType {
            group: group.into(),
            version: s(v, "/name").into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: names["singular"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase()),
            namespaced: s(&spec, "/scope") == "Namespaced",
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            flags: Flags {
                status: v.pointer("/subresources/status").is_some(),
                generation: true,
                ..Flags::default()
            },
            field_selectors: selectable,
            storage: format!("{group}/{plural}"),
            schema: resource_schema(v.pointer("/schema/openAPIV3Schema")),
            custom: Some(CustomInfo {
                crd_name: meta::name(crd).unwrap_or_default().to_string(),
                printer_columns: columns,
            }),
        });
    }
    out
}

/// Updates the registry after a CRD was written (`gone`: deleted).
pub fn sync(reg: &Registry, crd: &Value, gone: bool) {
    let name = meta::name(crd).unwrap_or_default();
    reg.set_custom(name, if gone { Vec::new() } else { types(crd) });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}})
    }

    #[test]
    fn a_crd_is_established_and_defines_its_type() {
        let mut c = crd();
        assert!(prepare(&mut c, None).is_empty());
        assert_eq!(c["status"]["conditions"][1]["type"], "Established");
        assert_eq!(c["status"]["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        let t = types(&c);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].plural.as_str(), t[0].namespaced, t[0].flags.status),
            ("widgets", true, true)
        );
        let spec = t[0].schema.field("spec").unwrap();
        assert_eq!(
            spec.field("ports").unwrap().list_type(),
            ListType::Map(vec![("name".into(), None)])
        );
        assert_eq!(spec.field("tags").unwrap().list_type(), ListType::Atomic);
        assert!(spec.field("nope").is_none());
        assert!(spec.field("extra").unwrap().field("anything").is_some());
    }

    #[test]
    fn a_wrong_name_is_invalid() {
        let mut c = crd();
        c["metadata"]["name"] = json!("wrong");
        let errs = prepare(&mut c, None);
        assert_eq!(errs[0].field, "metadata.name");
    }
}

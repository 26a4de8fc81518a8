//! Validation the real server does that clients run into: object names, the selector and
//! container checks of workloads, Job restart policies, finalizer names (a warning).

use serde_json::Value;

use crate::error::{FieldError, go_quote};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain (most object names).
pub fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// How a kind's names are checked.
#[derive(Debug, Clone, Copy)]
pub enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    /// Path segment only (no `/`, not `.` or `..`): RBAC and a few others.
    PathSegment,
}

/// The name rule of a kind (kubernetes `ValidateObjectMeta` callers).
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Errors of `metadata.name` under `rule`.
pub fn name(n: &str, rule: NameRule) -> Option<FieldError> {
    let (ok, msg) = match rule {
        NameRule::Subdomain => (is_subdomain(n), SUBDOMAIN_MSG),
        NameRule::Label => (is_label(n), LABEL_MSG),
        NameRule::Dns1035 => (
            is_label(n) && n.starts_with(|c: char| c.is_ascii_lowercase()),
            DNS1035_MSG,
        ),
        NameRule::PathSegment => {
            let ok = !n.contains('/') && !n.contains('%') && n != "." && n != "..";
            (ok, "may not contain '/' or '%' and may not be '.' or '..'")
        }
    };
    (!ok).then(|| FieldError::invalid("metadata.name", go_quote(n), msg))
}

fn labels_match(selector: &Value, labels: Option<&Value>) -> bool {
    let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) else {
        return true;
    };
    ml.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn containers(errs: &mut Vec<FieldError>, spec: Option<&Value>, path: &str) {
    let list = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match list {
        None => errs.push(FieldError::required(format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            errs.push(FieldError::required(format!("{path}.containers"), ""))
        }
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                for field in ["name", "image"] {
                    if c.get(field)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        errs.push(FieldError::required(
                            format!("{path}.containers[{i}].{field}"),
                            "",
                        ));
                    }
                }
            }
        }
    }
}

fn workload(errs: &mut Vec<FieldError>, obj: &Value, needs_selector: bool) {
    let spec = obj.get("spec");
    let selector = spec.and_then(|s| s.get("selector"));
    let template = spec.and_then(|s| s.get("template"));
    match selector {
        None | Some(Value::Null) if needs_selector => {
            errs.push(FieldError::required("spec.selector", ""))
        }
        Some(sel) if !sel.is_null() => {
            let empty = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
                && sel
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(|m| m.is_empty());
            if empty && needs_selector {
                errs.push(FieldError::invalid("spec.selector", "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}", "empty selector is invalid for deployment"));
            }
            let labels = template
                .and_then(|t| t.get("metadata"))
                .and_then(|m| m.get("labels"));
            if !labels_match(sel, labels) {
                let shown = labels
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "map[string]string(nil)".into());
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    shown,
                    "`selector` does not match template `labels`",
                ));
            }
        }
        _ => {}
    }
    containers(
        errs,
        template.and_then(|t| t.get("spec")),
        "spec.template.spec",
    );
    if let Some(r) = spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64)
        && r < 0
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            r.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}

/// Kind-specific validation of a whole object (after defaulting).
pub fn object(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            workload(&mut errs, obj, true)
        }
        ("", "Pod") => containers(&mut errs, obj.get("spec"), "spec"),
        ("batch", "Job") => {
            let rp = obj
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str);
            match rp {
                Some("OnFailure" | "Never") => {}
                Some(other) => errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    go_quote(other),
                    &["OnFailure", "Never"],
                )),
                None => errs.push(FieldError::required(
                    "spec.template.spec.restartPolicy",
                    "valid values: \"OnFailure\", \"Never\"",
                )),
            }
            containers(
                &mut errs,
                obj.pointer("/spec/template/spec"),
                "spec.template.spec",
            );
        }
        ("", "ConfigMap" | "Secret") => {
            for field in ["data", "binaryData"] {
                if let Some(keys) = obj.get(field).and_then(Value::as_object) {
                    for k in keys.keys() {
                        let ok = !k.is_empty()
                            && k.len() <= 253
                            && k.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
                            });
                        if !ok {
                            errs.push(FieldError::invalid(format!("{field}[{k}]"), go_quote(k), "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    errs
}

/// The warning real servers give for finalizers without a domain (`foregroundDeletion`,
/// `orphan` and `kubernetes` are well known).
pub fn finalizer_warnings(obj: &Value) -> Vec<String> {
    crate::objects::meta::finalizers(obj)
        .into_iter()
        .filter(|f| !f.contains('/') && !matches!(f.as_str(), "kubernetes" | "orphan" | "foregroundDeletion"))
        .map(|f| format!("metadata.finalizers: {}: prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers", go_quote(&f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_kind_rules() {
        assert!(name("web-1", NameRule::Subdomain).is_none());
        assert!(name("a.b", NameRule::Subdomain).is_none());
        assert!(name("a.b", NameRule::Label).is_some());
        assert!(name("1svc", NameRule::Dns1035).is_some());
        let e = name("Bad_Name", NameRule::Subdomain).unwrap();
        assert!(
            e.body()
                .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain")
        );
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let errs = object("apps", "Deployment", &d);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
    }
}

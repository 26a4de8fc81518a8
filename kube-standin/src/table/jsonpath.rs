//! The JSONPath subset CRD printer columns use: fields (`.status.url`), indexes
//! (`.spec.ports[0].port`) and equality filters (`.status.conditions[?(@.type=="Ready")]
//! .status`, as Flux and Argo CD print their Ready columns). Like kube-apiserver's table
//! convertor, a column shows the first value found.

use serde_json::Value;

/// One step of a path.
enum Step {
    Field(String),
    Index(usize),
    /// `[?(@.<field>=="<value>")]` (the field may be dotted).
    Filter(Vec<String>, String),
}

fn steps(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix("[?(@.") {
            let end = r.find(")]")?;
            let (field, value) = r[..end].split_once("==")?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            out.push(Step::Filter(
                field.trim().split('.').map(str::to_owned).collect(),
                value.to_owned(),
            ));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].trim().parse().ok()?));
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Field(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    Some(out)
}

/// The first value `path` finds in `obj`.
pub fn first(obj: &Value, path: &str) -> Option<Value> {
    let mut current = vec![obj];
    for step in steps(path)? {
        current = current
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match &step {
                    Step::Field(f) => v.get(f).into_iter().collect(),
                    Step::Index(i) => v.get(*i).into_iter().collect(),
                    Step::Filter(field, want) => v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|item| {
                            let got = field.iter().try_fold(*item, |c, f| c.get(f));
                            match got {
                                Some(Value::String(s)) => s == want,
                                Some(other) => {
                                    serde_json::to_string(other).is_ok_and(|t| t == *want)
                                }
                                None => false,
                            }
                        })
                        .collect(),
                }
            })
            .collect();
    }
    current.first().map(|v| (*v).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths_find_their_first_value() {
        let o = json!({"spec": {"url": "ssh://h/r", "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [
                {"type": "FetchFailed", "status": "True"},
                {"type": "Ready", "status": "False", "message": "no"}]}});
        assert_eq!(first(&o, ".spec.url"), Some(json!("ssh://h/r")));
        assert_eq!(first(&o, ".spec.ports[1].port"), Some(json!(443)));
        let ready = r#".status.conditions[?(@.type=="Ready")].status"#;
        assert_eq!(first(&o, ready), Some(json!("False")));
        let msg = r#".status.conditions[?(@.type=="Ready")].message"#;
        assert_eq!(first(&o, msg), Some(json!("no")));
        assert_eq!(
            first(&o, r#".status.conditions[?(@.type=="Other")].status"#),
            None
        );
        assert_eq!(first(&o, ".status.missing"), None);
        let ports = r#".spec.ports[?(@.port==443)].port"#;
        assert_eq!(first(&o, ports), Some(json!(443)));
    }
}

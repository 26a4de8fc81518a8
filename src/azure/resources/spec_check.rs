//! Test helper: checks a body against official spec examples copied into
//! `tests/fixtures/azure-spec-examples/` (each file records its spec path and api-version).
//! Every key path the body uses must exist in one of the examples with the same JSON type and
//! nesting, or be covered by a [`SpecNote`] that says which spec definition allows it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// A body path the examples lack, allowed because the spec definitions have it.
#[derive(Clone, Copy)]
pub struct SpecNote {
    /// Normalised path (`[]` for array elements, `*` for tag names); covers its sub-paths.
    pub path: &'static str,
    /// Where the spec defines it.
    pub why: &'static str,
}

impl SpecNote {
    /// `tags` is on every tracked resource (common-types `TrackedResource.tags`).
    pub const TAGS: SpecNote = SpecNote {
        path: "tags",
        why: "common-types TrackedResource.tags: map of string",
    };
}

/// One example fixture, and why its api-version differs from ours (None when it matches).
pub type Example<'a> = (&'a str, Option<&'a str>);

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every node of `v` as normalised path -> JSON type.
fn paths(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    if !path.is_empty() {
        out.insert(path.to_string(), type_name(v));
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let key = if path == "tags" { "*" } else { k.as_str() };
                let p = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                paths(child, &p, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                paths(child, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn load(file: &str) -> Value {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/azure-spec-examples",
        file,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn covered(path: &str, notes: &[SpecNote]) -> bool {
    notes.iter().any(|n| {
        path == n.path
            || path.starts_with(&format!("{}.", n.path))
            || path.starts_with(&format!("{}[", n.path))
    })
}

/// Panics unless every path of `body` is in one of `examples` (same type) or covered by a note,
/// and unless each example's api-version equals `api_version` or carries a reason.
pub fn assert_matches_examples(
    body: &Value,
    examples: &[Example<'_>],
    api_version: &str,
    notes: &[SpecNote],
) {
    let mut known: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for (file, version_note) in examples {
        let ex = load(file);
        let ex_version = ex["api-version"].as_str().unwrap_or_default();
        match (ex_version == api_version, version_note) {
            (true, Some(_)) => panic!("{file}: api-version now matches; drop the note"),
            (false, None) => panic!("{file}: api-version {ex_version} differs from {api_version}"),
            _ => {}
        }
        assert!(
            ex["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("specification/"))
        );
        let mut m = BTreeMap::new();
        paths(&ex["parameters"], "", &mut m);
        for (p, t) in m {
            known.entry(p).or_default().push(t);
        }
    }
    let mut ours = BTreeMap::new();
    paths(body, "", &mut ours);
    let mut problems = Vec::new();
    for (p, t) in &ours {
        if covered(p, notes) {
            continue;
        }
        match known.get(p) {
            None => problems.push(format!("{p}: not in the examples")),
            // An integer where the example has a float (or back) is still a JSON number.
            Some(ts) if !ts.iter().any(|k| k == t || (is_num(k) && is_num(t))) => {
                problems.push(format!("{p}: ours is {t}, example has {ts:?}"))
            }
            Some(_) => {}
        }
    }
    let noted: Vec<String> = notes
        .iter()
        .map(|n| format!("{} ({})", n.path, n.why))
        .collect();
    assert!(
        problems.is_empty(),
        "body does not follow the spec examples:\n{}\nnoted spec paths:\n{}",
        problems.join("\n"),
        noted.join("\n")
    );
}

fn is_num(t: &str) -> bool {
    t == "integer" || t == "float"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catches_unknown_paths_and_wrong_types() {
        let ok = json!({"location": "x", "tags": {"a": "b"}});
        assert_matches_examples(
            &ok,
            &[("CreateResourceGroup.json", None)],
            "2024-11-01",
            &[SpecNote::TAGS],
        );
        let unknown = std::panic::catch_unwind(|| {
            assert_matches_examples(
                &json!({"location": "x", "properties": {"bogus": 1}}),
                &[("CreateResourceGroup.json", None)],
                "2024-11-01",
                &[],
            )
        });
        assert!(unknown.is_err());
        let wrong_type = std::panic::catch_unwind(|| {
            assert_matches_examples(
                &json!({"location": 5}),
                &[("CreateResourceGroup.json", None)],
                "2024-11-01",
                &[],
            )
        });
        assert!(wrong_type.is_err());
        let stale_version = std::panic::catch_unwind(|| {
            assert_matches_examples(
                &ok,
                &[("CreateResourceGroup.json", None)],
                "2025-04-01",
                &[SpecNote::TAGS],
            )
        });
        assert!(stale_version.is_err());
    }
}

//! Field selectors: `path=value`, `path==value`, `path!=value`, comma-separated, with `\,`
//! `\=` `\\` escapes; only the fields a kind supports.

use serde_json::Value;

use crate::error::ApiError;
use crate::kinds::ResourceType;

/// One term.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub field: String,
    pub value: String,
    pub negate: bool,
}

/// Terms that must all hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(pub Vec<Term>);

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                cur.push('\\');
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Selector {
    /// Parses a field selector (empty selects everything).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(terms));
        }
        for part in split_unescaped(s, ',') {
            let (field, value, negate) = if let Some(i) = part.find("!=") {
                (&part[..i], &part[i + 2..], true)
            } else if let Some(i) = part.find("==") {
                (&part[..i], &part[i + 2..], false)
            } else if let Some(i) = part.find('=') {
                (&part[..i], &part[i + 1..], false)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            terms.push(Term {
                field: field.trim().to_string(),
                value: unescape(value),
                negate,
            });
        }
        Ok(Self(terms))
    }

    /// 400 unless every field is supported by `rt`.
    pub fn check_supported(&self, rt: &ResourceType) -> Result<(), ApiError> {
        for t in &self.0 {
            let known = t.field == "metadata.name"
                || (t.field == "metadata.namespace" && rt.namespaced)
                || rt.field_selectors.contains(&t.field);
            if !known {
                let mut allowed = vec!["\"metadata.name\"".to_string()];
                if rt.namespaced {
                    allowed.push("\"metadata.namespace\"".into());
                }
                allowed.extend(rt.field_selectors.iter().map(|f| format!("{f:?}")));
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {}",
                    t.field
                ))
                .with_message_if_custom(rt, &t.field, &allowed));
            }
        }
        Ok(())
    }

    /// Whether an object matches.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|t| {
            let actual = field_value(obj, &t.field);
            (actual == t.value) != t.negate
        })
    }

    /// The value required for `metadata.name`, if the selector pins one.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|t| t.field == "metadata.name" && !t.negate)
            .map(|t| t.value.as_str())
    }
}

trait CustomMessage {
    fn with_message_if_custom(self, rt: &ResourceType, field: &str, allowed: &[String]) -> Self;
}

impl CustomMessage for ApiError {
    /// Custom resources answer with the list of what is allowed (apiextensions wording).
    fn with_message_if_custom(
        mut self,
        rt: &ResourceType,
        field: &str,
        allowed: &[String],
    ) -> Self {
        if rt.is_custom() {
            self.message = format!(
                "{field:?} is not a known field selector: only {}",
                allowed.join(", ")
            );
        }
        self
    }
}

/// The string value of a dotted field path (booleans and numbers printed; absent = "").
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.trim_start_matches('.').split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_and_escapes() {
        let s = Selector::parse("metadata.name=a\\,b,metadata.namespace!=x").unwrap();
        assert_eq!(s.0.len(), 2);
        assert_eq!(s.0[0].value, "a,b");
        assert!(s.matches(&json!({"metadata": {"name": "a,b", "namespace": "y"}})));
        assert!(!s.matches(&json!({"metadata": {"name": "a,b", "namespace": "x"}})));
        assert_eq!(
            field_value(
                &json!({"spec": {"unschedulable": true}}),
                "spec.unschedulable"
            ),
            "true"
        );
    }
}

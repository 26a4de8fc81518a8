//! Typed field readers over [`MapDecoder`]: each returns `None` and records an issue when
//! the value has the wrong type or is out of its allowed set, so decoding never stops early.

use ipnet::Ipv4Net;

use super::ConfigIssue;
use crate::yaml::{MapDecoder, Node, Pos, Value};

/// Records an issue at `path`.
pub fn issue(issues: &mut Vec<ConfigIssue>, path: String, pos: Option<Pos>, message: String) {
    issues.push(ConfigIssue { path, pos, message });
}

/// Renders a scalar for an error message (strings quoted, others as written).
pub fn show(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.clone(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("{s:?}"),
        Value::Seq(_) => "a list".into(),
        Value::Map(_) => "a mapping".into(),
    }
}

/// A string field. Integers and floats are accepted where a string is expected only when
/// `numbers_ok` (for example `postgres.version: 16`).
pub fn string(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<(String, Option<Pos>)> {
    let node = d.get(key)?;
    match &node.value {
        Value::Str(s) => Some((s.clone(), node.pos)),
        Value::Int(i) => Some((i.to_string(), node.pos)),
        other => {
            issue(
                issues,
                d.child_path(key),
                node.pos,
                format!("expected a string, found {}", other.kind()),
            );
            None
        }
    }
}

/// An integer field within `[min, max]`.
pub fn int(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    min: i64,
    max: i64,
    issues: &mut Vec<ConfigIssue>,
) -> Option<i64> {
    let node = d.get(key)?;
    match &node.value {
        Value::Int(i) if (min..=max).contains(i) => Some(*i),
        Value::Int(_) | Value::BigInt(_) => {
            issue(
                issues,
                d.child_path(key),
                node.pos,
                format!("{} is out of range; allowed: {min} to {max}", show(node)),
            );
            None
        }
        other => {
            issue(
                issues,
                d.child_path(key),
                node.pos,
                format!(
                    "expected an integer from {min} to {max}, found {} {}",
                    other.kind(),
                    show(node)
                ),
            );
            None
        }
    }
}

/// A boolean field.
pub fn boolean(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<bool> {
    let node = d.get(key)?;
    match &node.value {
        Value::Bool(b) => Some(*b),
        other => {
            issue(
                issues,
                d.child_path(key),
                node.pos,
                format!(
                    "expected true or false, found {} {}",
                    other.kind(),
                    show(node)
                ),
            );
            None
        }
    }
}

/// A string field restricted to `allowed` values (compared exactly).
pub fn one_of(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    allowed: &[&'static str],
    issues: &mut Vec<ConfigIssue>,
) -> Option<&'static str> {
    let path = d.child_path(key);
    let (s, pos) = string(d, key, issues)?;
    match allowed.iter().find(|a| **a == s) {
        Some(a) => Some(a),
        None => {
            issue(
                issues,
                path,
                pos,
                format!("{s:?} is not allowed; use one of: {}", allowed.join(", ")),
            );
            None
        }
    }
}

/// An IPv4 CIDR field such as `10.0.0.0/16`; host bits must be zero.
pub fn cidr(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<(Ipv4Net, Option<Pos>)> {
    let path = d.child_path(key);
    let (s, pos) = string(d, key, issues)?;
    parse_cidr(&s, &path, pos, issues).map(|n| (n, pos))
}

/// Parses one CIDR, recording an issue naming `path` when it is not one.
pub fn parse_cidr(
    s: &str,
    path: &str,
    pos: Option<Pos>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Ipv4Net> {
    match s.parse::<Ipv4Net>() {
        Ok(n) if n.trunc() == n => Some(n),
        Ok(n) => {
            issue(
                issues,
                path.to_owned(),
                pos,
                format!("{s:?} has host bits set; the network is {}", n.trunc()),
            );
            None
        }
        Err(_) => {
            issue(
                issues,
                path.to_owned(),
                pos,
                format!("{s:?} is not an IPv4 CIDR such as 10.0.0.0/16"),
            );
            None
        }
    }
}

/// A list of strings. A single string is not silently turned into a list.
pub fn strings(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Vec<(String, String, Option<Pos>)>> {
    let path = d.child_path(key);
    let node = d.get(key)?;
    match &node.value {
        Value::Seq(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match &item.value {
                    Value::Str(s) => out.push((s.clone(), p, item.pos)),
                    other => issue(
                        issues,
                        p,
                        item.pos,
                        format!("expected a string, found {}", other.kind()),
                    ),
                }
            }
            Some(out)
        }
        other => {
            issue(
                issues,
                path,
                node.pos,
                format!("expected a list of strings, found {}", other.kind()),
            );
            None
        }
    }
}

/// A number field (integers accepted) within `[min, max]`.
pub fn number(
    d: &mut MapDecoder<'_>,
    key: &'static str,
    min: f64,
    max: f64,
    issues: &mut Vec<ConfigIssue>,
) -> Option<f64> {
    let node = d.get(key)?;
    let v = match &node.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::BigInt(i) => i.parse().unwrap_or(f64::INFINITY),
        other => {
            issue(
                issues,
                d.child_path(key),
                node.pos,
                format!("expected a number, found {}", other.kind()),
            );
            return None;
        }
    };
    if (min..=max).contains(&v) {
        Some(v)
    } else {
        issue(
            issues,
            d.child_path(key),
            node.pos,
            format!("{} is out of range; allowed: {min} to {max}", show(node)),
        );
        None
    }
}

//! A YAML tree with source positions, and a decoder that collects every error at once.
//!
//! serde's derive stops at the first error. Users fixing a file want all of them, each with
//! its field path and line, so the file is parsed (by serde-saphyr) into this tree and then
//! decoded field by field, recording [`Issue`]s instead of returning early. The config, the
//! playbooks and the static inventories all read YAML through this module.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use serde_saphyr::Spanned;
use std::fmt;

/// One problem in a YAML file: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Field path such as `nodes.servers.count` (empty for the whole file).
    pub path: String,
    pub pos: Option<Pos>,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// Line and column (1-based) of a node in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// A YAML node.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub pos: Option<Pos>,
}

/// The value of a YAML node.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer literal beyond `i64`, as written: every integer field refuses it with its
    /// own path and range, never with a rounded float or the parser's wording.
    BigInt(String),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Option<Pos>, Node)>),
}

impl Value {
    /// A word for the kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parse a YAML document. An empty document gives an empty mapping.
pub fn parse(text: &str) -> Result<Node, Issue> {
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Map(Vec::new()),
            pos: None,
        });
    }
    // Repeated keys reach our visitor, so they are reported below with their field path
    // instead of the parser's advice about its own options.
    // Non-finite numbers too, and integer literals too long for a float (which the parser
    // calls non-finite), so that both are reported below with their field path.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::PassThrough,
        non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options) {
        Ok(raw) => {
            let node = node_from(raw, text);
            match first_problem(&node, "") {
                Some(issue) => Err(issue),
                None => Ok(node),
            }
        }
        Err(e) => {
            let pos = e.location().map(|l| Pos {
                line: l.line(),
                column: l.column(),
            });
            // (The variant may come wrapped with a snippet; its wording is stable.)
            if e.to_string().contains("multiple YAML documents") {
                return Err(Issue {
                    path: String::new(),
                    pos,
                    message: "a second YAML document starts here (`---`); this file holds one document: remove the separator".into(),
                });
            }
            // The first line of serde-saphyr's message is the summary; the rest is a snippet
            // we render ourselves from the position.
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML");
            let first = first.trim_start_matches("error: ");
            let first = match first.split_once(": ") {
                Some((loc, rest)) if loc.starts_with("line ") => rest,
                _ => first,
            };
            Err(Issue {
                path: String::new(),
                pos,
                message: format!("invalid YAML: {first}"),
            })
        }
    }
}

/// The first key that appears twice in one mapping (as an issue at its second place), or the
/// first number that is not finite (`.inf`, `.nan`, `1e999`).
fn first_problem(node: &Node, path: &str) -> Option<Issue> {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match &node.value {
        Value::Map(entries) => {
            for (i, (k, kp, v)) in entries.iter().enumerate() {
                if let Some((_, first, _)) = entries[..i].iter().find(|(k0, _, _)| k0 == k) {
                    let at = first.map(|p| format!(" (first at line {})", p.line));
                    return Some(Issue {
                        path: child(k),
                        pos: *kp,
                        message: format!(
                            "`{k}` is given twice in the same mapping{}; keep one",
                            at.unwrap_or_default()
                        ),
                    });
                }
                if let Some(issue) = first_problem(v, &child(k)) {
                    return Some(issue);
                }
            }
            None
        }
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, n)| first_problem(n, &format!("{path}[{i}]"))),
        Value::Float(f) if !f.is_finite() => Some(Issue {
            path: path.to_owned(),
            pos: node.pos,
            message: format!("{f} is not a finite number; give a number"),
        }),
        _ => None,
    }
}

/// The node at a field path such as `nodes.servers.count` or `a.b[2]`, if the file has it.
pub fn node_at<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for seg in path.split('.') {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let Value::Map(m) = &node.value else {
            return None;
        };
        node = &m.iter().find(|(k, _, _)| k == key)?.2;
        if let Some(i) = index {
            let Value::Seq(items) = &node.value else {
                return None;
            };
            node = items.get(i)?;
        }
    }
    Some(node)
}

/// The position of a field path; for a field the file leaves out, the position of the
/// nearest enclosing section it does have (none at the top level).
pub fn pos_at(root: &Node, path: &str) -> Option<Pos> {
    let mut p = path;
    loop {
        if let Some(n) = node_at(root, p) {
            return n.pos;
        }
        p = &p[..p.rfind(['.', '['])?];
    }
}

/// A YAML node as JSON (positions dropped), as playbooks and static inventories use it.
pub fn to_json(n: &Node) -> Json {
    match &n.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        // Beyond i64: the nearest float, or the digits themselves when no float holds them.
        Value::BigInt(i) => i
            .parse()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Json::String(i.clone()), Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, _, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// What serde-saphyr gives us: every node wrapped in `Spanned`.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    BigInt(String),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

fn pos_of<T>(s: &Spanned<T>) -> Option<Pos> {
    let l = s.referenced;
    (l.line() > 0).then(|| Pos {
        line: l.line(),
        column: l.column(),
    })
}

/// The tree of a parsed document; `text` is its source, for the literals the parser turned
/// into floats.
fn node_from(s: Spanned<Raw>, text: &str) -> Node {
    let pos = pos_of(&s);
    let value = match s.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::BigInt(i) => Value::BigInt(i),
        // An integer below i64 or above u64 reaches us as a float: keep it as written.
        Raw::Float(f) => match integer_literal(text, &s.referenced) {
            Some(lit) => Value::BigInt(lit),
            None => Value::Float(f),
        },
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|n| node_from(n, text)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let kp = pos_of(&k);
                    (k.value, kp, node_from(v, text))
                })
                .collect(),
        ),
    };
    Node { value, pos }
}

/// The source of a scalar when it is a decimal integer literal (`-` or `+`, digits), without
/// a `+`.
fn integer_literal(text: &str, at: &serde_saphyr::Location) -> Option<String> {
    let span = at.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let lit = text.get(start..start.checked_add(len)?)?.trim();
    let digits = lit.strip_prefix(['-', '+']).unwrap_or(lit);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| lit.trim_start_matches('+').to_owned())
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        // Beyond i64: kept exact, for every integer field to refuse with its path and allowed
        // range (the parser's own "integer too large" named no field).
        Ok(i64::try_from(v).map_or_else(|_| Raw::BigInt(v.to_string()), Raw::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Raw::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = a.next_key()? {
            let val = a.next_value()?;
            v.push((k, val));
        }
        Ok(Raw::Map(v))
    }
}

/// Decodes a mapping's fields, recording type errors and unknown keys in `issues`.
pub struct MapDecoder<'a> {
    path: String,
    entries: Vec<(&'a str, Option<Pos>, &'a Node)>,
    used: Vec<&'a str>,
    pub pos: Option<Pos>,
}

impl<'a> MapDecoder<'a> {
    /// Starts decoding `node` at `path`. A null node decodes as an empty mapping (every field
    /// takes its default); any other non-mapping is an error and decodes as empty too.
    pub fn new(node: Option<&'a Node>, path: &str, issues: &mut Vec<Issue>) -> Self {
        let mut entries = Vec::new();
        let pos = node.and_then(|n| n.pos);
        match node.map(|n| &n.value) {
            None | Some(Value::Null) => {}
            Some(Value::Map(m)) => {
                for (k, kp, v) in m {
                    entries.push((k.as_str(), *kp, v));
                }
            }
            Some(other) => issues.push(Issue {
                path: path.to_owned(),
                pos,
                message: format!("expected a mapping, found {}", other.kind()),
            }),
        }
        MapDecoder {
            path: path.to_owned(),
            entries,
            used: Vec::new(),
            pos,
        }
    }

    /// The full path of a field of this mapping.
    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The node of a field, if present and not null; marks the key as known.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Node> {
        self.used.push(key);
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, n)| *n)
            .filter(|n| !matches!(n.value, Value::Null))
    }

    /// Reports every key that no `get` asked for, with the keys that are allowed.
    pub fn finish(self, issues: &mut Vec<Issue>) {
        for (k, kp, _) in &self.entries {
            if !self.used.contains(k) {
                let mut allowed = self.used.clone();
                allowed.sort_unstable();
                allowed.dedup();
                let hint = suggestion(k, &allowed)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                issues.push(Issue {
                    path: self.child_path(k),
                    pos: *kp,
                    message: format!(
                        "unknown field `{k}`{hint}; allowed here: {}",
                        allowed.join(", ")
                    ),
                });
            }
        }
    }
}

/// The allowed key closest to a mistyped one, when it is close enough to be a typo.
fn suggestion<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min()
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_nested_values() {
        let n = parse("a:\n  b: [1, x]\n").unwrap();
        let Value::Map(m) = &n.value else { panic!() };
        let Value::Map(inner) = &m[0].2.value else {
            panic!()
        };
        assert_eq!(inner[0].0, "b");
        assert_eq!(inner[0].1, Some(Pos { line: 2, column: 3 }));
        let Value::Seq(items) = &inner[0].2.value else {
            panic!()
        };
        assert!(matches!(items[1].value, Value::Str(ref s) if s == "x"));
    }

    #[test]
    fn duplicate_keys_and_extra_documents_name_the_place_not_the_parsers_options() {
        let e = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(e.path, "b.c");
        assert_eq!(e.pos, Some(Pos { line: 4, column: 3 }));
        assert_eq!(
            e.message,
            "`c` is given twice in the same mapping (first at line 3); keep one"
        );
        let e = parse("list:\n  - {x: 1, x: 2}\n").unwrap_err();
        assert_eq!(e.path, "list[0].x");
        let e = parse("a: 1\n---\na: 2\n").unwrap_err();
        assert!(e.message.contains("second YAML document"), "{e:?}");
        assert!(!e.message.contains("from_str"), "{e:?}");
    }

    #[test]
    fn integers_beyond_i64_are_kept_as_written_and_infinities_are_refused_at_their_path() {
        // Out of i64's range: still a value, judged (with its path) by the field's decoder.
        let huge = format!("-{}", "9".repeat(400));
        for (text, want) in [
            ("9223372036854775808", "9223372036854775808"),
            ("+18446744073709551616", "18446744073709551616"),
            ("-9223372036854775809", "-9223372036854775809"),
            (huge.as_str(), huge.as_str()),
        ] {
            let n = parse(&format!("a: {{count: {text}}}\n")).unwrap();
            let got = node_at(&n, "a.count").map(|n| &n.value);
            assert!(
                matches!(got, Some(Value::BigInt(s)) if s == want),
                "{text}: {got:?}"
            );
        }
        let n = parse("a: [9223372036854775807, -9223372036854775808, 1.5]\n").unwrap();
        let Some(Value::Seq(items)) = node_at(&n, "a").map(|n| &n.value) else {
            panic!()
        };
        assert!(matches!(items[0].value, Value::Int(i64::MAX)));
        assert!(matches!(items[1].value, Value::Int(i64::MIN)));
        assert!(matches!(items[2].value, Value::Float(f) if f == 1.5));
        for bad in [".inf", "-.Inf", ".nan", "1e400"] {
            let e = parse(&format!("a:\n  - {{b: {bad}}}\n")).unwrap_err();
            assert_eq!(e.path, "a[0].b", "{bad}: {e:?}");
            assert!(
                e.message.ends_with("is not a finite number; give a number"),
                "{e:?}"
            );
            assert!(!e.message.contains("policy"), "{e:?}");
        }
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let e = parse("a: 1\n  b: [\n").unwrap_err();
        assert!(e.pos.is_some(), "{e:?}");
        assert!(e.message.starts_with("invalid YAML"), "{e:?}");
    }

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let n = parse("cuont: 3\n").unwrap();
        let mut issues = Vec::new();
        let mut d = MapDecoder::new(Some(&n), "nodes.servers", &mut issues);
        let _ = d.get("count");
        let _ = d.get("vm_size");
        d.finish(&mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "nodes.servers.cuont");
        assert!(
            issues[0].message.contains("did you mean `count`"),
            "{issues:?}"
        );
    }
}

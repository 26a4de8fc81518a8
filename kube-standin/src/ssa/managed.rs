//! `metadata.managedFields`: decoding and encoding entries, and ownership on updates (every
//! changed field moves to the writer), after apimachinery's `managedfields/internal`.
//! Server-side apply is in `apply.rs`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::fieldpath::{PathElement, Set};
use super::schema::Schema;
use super::typed::compare;
use crate::error::go_quote;

/// Who manages a set of fields: the identity apimachinery builds from an entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManagerId {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// Empty for appliers (their identity does not depend on the version they used).
    pub api_version: String,
    pub subresource: String,
}

impl ManagerId {
    pub fn update(manager: &str, api_version: &str, subresource: &str) -> Self {
        Self {
            manager: manager.into(),
            operation: "Update".into(),
            api_version: api_version.into(),
            subresource: subresource.into(),
        }
    }
    pub fn apply(manager: &str, subresource: &str) -> Self {
        Self {
            manager: manager.into(),
            operation: "Apply".into(),
            api_version: String::new(),
            subresource: subresource.into(),
        }
    }

    /// How conflict messages name the manager.
    pub(super) fn describe(&self) -> String {
        let mut s = go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {}", go_quote(&self.subresource));
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// The fields one manager owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub set: Set,
    pub api_version: String,
    pub time: Option<String>,
}

/// All managers of an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed {
    pub entries: BTreeMap<ManagerId, Entry>,
}

/// Which part of an object a write may own (the registry's reset fields).
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The main resource; with a status subresource, `status` is never owned here.
    Main { has_status: bool },
    /// The `/status` subresource: only `status`.
    Status,
}

fn f(n: &str) -> PathElement {
    PathElement::Field(n.into())
}

impl Scope {
    pub(super) fn filter(&self, set: Set) -> Set {
        let status = f("status");
        match self {
            Scope::Main { has_status: false } => set,
            Scope::Main { has_status: true } => {
                let mut s = set;
                s.members.remove(&status);
                s.children.remove(&status);
                s
            }
            Scope::Status => {
                let mut s = Set::default();
                if set.members.contains(&status) {
                    s.members.insert(status.clone());
                }
                if let Some(c) = set.children.get(&status) {
                    s.children.insert(status, c.clone());
                }
                s
            }
        }
    }

    pub(super) fn subresource(&self) -> &'static str {
        match self {
            Scope::Status => "status",
            Scope::Main { .. } => "",
        }
    }
}

/// Removes the fields nobody owns: identity and server-set metadata (`stripmeta.go`).
pub(super) fn strip_meta(mut set: Set) -> Set {
    for top in ["apiVersion", "kind", "metadata"] {
        set.members.remove(&f(top));
    }
    if let Some(m) = set.children.get_mut(&f("metadata")) {
        for field in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            m.members.remove(&f(field));
            m.children.remove(&f(field));
        }
        if m.is_empty() {
            set.children.remove(&f("metadata"));
        }
    }
    set
}

impl Managed {
    /// Reads `metadata.managedFields` (bad entries are skipped).
    pub fn decode(obj: &Value) -> Managed {
        let mut out = Managed::default();
        let list = obj
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array);
        for e in list.into_iter().flatten() {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let op = s("operation");
            let id = if op == "Apply" {
                ManagerId::apply(&s("manager"), &s("subresource"))
            } else {
                ManagerId::update(&s("manager"), &s("apiVersion"), &s("subresource"))
            };
            let set = e
                .get("fieldsV1")
                .map(Set::from_fields_v1)
                .unwrap_or_default();
            let time = e.get("time").and_then(Value::as_str).map(str::to_string);
            out.entries.insert(
                id,
                Entry {
                    set,
                    api_version: s("apiVersion"),
                    time,
                },
            );
        }
        out
    }

    /// Writes the entries into `metadata.managedFields` in the server's order.
    pub fn encode_into(&self, obj: &mut Value) {
        let mut entries: Vec<(&ManagerId, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.set.is_empty())
            .collect();
        entries.sort_by(|(a, ea), (b, eb)| {
            a.operation
                .cmp(&b.operation)
                .then_with(|| ea.time.cmp(&eb.time))
                .then_with(|| a.manager.cmp(&b.manager))
                .then_with(|| ea.api_version.cmp(&eb.api_version))
                .then_with(|| a.subresource.cmp(&b.subresource))
        });
        let list: Vec<Value> = entries
            .into_iter()
            .map(|(id, e)| {
                let mut m = Map::new();
                m.insert("manager".into(), json!(id.manager));
                m.insert("operation".into(), json!(id.operation));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = &e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), e.set.to_fields_v1());
                if !id.subresource.is_empty() {
                    m.insert("subresource".into(), json!(id.subresource));
                }
                Value::Object(m)
            })
            .collect();
        let meta = crate::objects::meta::meta_mut(obj);
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }

    /// Moves changed fields away from other managers; drops removed ones everywhere.
    /// Returns the conflicts (fields of other managers that changed) before removing them.
    pub(super) fn update_others(
        &mut self,
        me: &ManagerId,
        old: &Value,
        new: &Value,
        schema: &Schema,
    ) -> Vec<(ManagerId, Set)> {
        let c = compare(old, new, schema);
        let changed = c.modified.union(&c.added);
        let mut conflicts = Vec::new();
        for (id, e) in self.entries.iter_mut() {
            if id == me {
                continue;
            }
            let conflict = e.set.intersection(&changed);
            if !conflict.is_empty() {
                conflicts.push((id.clone(), conflict.clone()));
                e.set = e.set.difference(&conflict);
            }
            if !c.removed.is_empty() {
                e.set = e.set.difference(&c.removed);
            }
        }
        self.entries.retain(|_, e| !e.set.is_empty());
        conflicts
    }
}

pub(super) fn empty_like(obj: &Value) -> Value {
    json!({"apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null), "kind": obj.get("kind").cloned().unwrap_or(Value::Null)})
}

/// Who writes: the field manager, the API version it used, and the time of the write.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub now: &'a str,
}

/// Ownership for a non-apply write (create, update, non-apply patch): `live` is `None` on
/// create. Returns the new entries; an existing object nobody tracked stays untracked.
pub fn update(
    schema: &Schema,
    scope: Scope,
    live: Option<&Value>,
    new: &Value,
    mut managed: Managed,
    w: Writer<'_>,
) -> Managed {
    let Writer {
        manager,
        api_version,
        now,
    } = w;
    if managed.entries.is_empty() && live.is_some() {
        return managed;
    }
    let empty = empty_like(new);
    let old = live.unwrap_or(&empty);
    let me = ManagerId::update(manager, api_version, scope.subresource());
    let c = compare(old, new, schema);
    let mine = strip_meta(scope.filter(c.modified.union(&c.added)));
    let current_op = ManagerId::update("\0current-operation", api_version, scope.subresource());
    managed.update_others(&current_op, old, new, schema);
    if !mine.is_empty() {
        let previous = managed
            .entries
            .remove(&me)
            .map(|e| e.set)
            .unwrap_or_default();
        managed.entries.insert(
            me,
            Entry {
                set: mine.union(&previous),
                api_version: api_version.into(),
                time: Some(now.into()),
            },
        );
    }
    cap_update_managers(&mut managed);
    managed
}

/// At most 10 update managers: the oldest are merged into `ancient-changes` (`capmanagers.go`).
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<(Option<String>, ManagerId)> = managed
        .entries
        .iter()
        .filter(|(id, _)| id.operation == "Update")
        .map(|(id, e)| (e.time.clone(), id.clone()))
        .collect();
    if updaters.len() <= 10 {
        return;
    }
    updaters.sort();
    let excess = updaters.len() - 10;
    for (_, id) in updaters.into_iter().take(excess + 1) {
        if managed.entries.len() <= 10 {
            break;
        }
        let Some(e) = managed.entries.remove(&id) else {
            continue;
        };
        let bucket = ManagerId::update("ancient-changes", &e.api_version, "");
        let merged = match managed.entries.remove(&bucket) {
            Some(b) => b.set.union(&e.set),
            None => e.set.clone(),
        };
        managed.entries.insert(
            bucket,
            Entry {
                set: merged,
                api_version: e.api_version,
                time: e.time,
            },
        );
    }
}

//! Structural schemas: which fields a kind has, which maps and lists are atomic, and the keys
//! of list-maps. They drive server-side apply, `fieldValidation` and custom resource pruning.

use std::sync::{Arc, LazyLock};

use serde_json::Value;

/// How a list's elements are identified (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    /// Replaced and owned as a whole.
    Atomic,
    /// Scalar elements owned one by one (`v:`).
    Set,
    /// Object elements owned by key (`k:`); each key may have a default (ports' `protocol`).
    Map(Vec<(String, Option<Value>)>),
}

/// A node of a structural schema.
#[derive(Debug, Clone)]
pub enum Schema {
    /// Untyped: every map is granular, every list atomic, nothing unknown, nothing pruned.
    Any,
    /// A scalar (string, number, boolean, int-or-string).
    Scalar,
    /// An object with known fields; `preserve` keeps (and does not report) unknown ones.
    Struct {
        fields: Vec<(String, Arc<Schema>)>,
        atomic: bool,
        preserve: bool,
    },
    /// A map from free keys to values of one schema (labels, data).
    Map { values: Arc<Schema>, atomic: bool },
    /// A list.
    List {
        items: Arc<Schema>,
        list_type: ListType,
    },
}

static ANY: LazyLock<Arc<Schema>> = LazyLock::new(|| Arc::new(Schema::Any));

impl Schema {
    /// The shared untyped schema.
    pub fn any() -> Arc<Schema> {
        ANY.clone()
    }

    /// The schema of field `name` of this node (`None`: not a known field of a struct).
    pub fn field(&self, name: &str) -> Option<Arc<Schema>> {
        match self {
            Schema::Any => Some(Self::any()),
            Schema::Struct {
                fields, preserve, ..
            } => match fields.iter().find(|(n, _)| n == name) {
                Some((_, s)) => Some(s.clone()),
                None if *preserve => Some(Self::any()),
                None => None,
            },
            Schema::Map { values, .. } => Some(values.clone()),
            _ => None,
        }
    }

    /// Whether `name` is a declared field of a struct (SMD's "named field").
    pub fn is_named_field(&self, name: &str) -> bool {
        matches!(self, Schema::Struct { fields, .. } if fields.iter().any(|(n, _)| n == name))
    }

    /// The element schema of a list.
    pub fn items(&self) -> Arc<Schema> {
        match self {
            Schema::List { items, .. } => items.clone(),
            _ => Self::any(),
        }
    }

    /// The list type (untyped lists are atomic).
    pub fn list_type(&self) -> ListType {
        match self {
            Schema::List { list_type, .. } => list_type.clone(),
            _ => ListType::Atomic,
        }
    }

    /// Whether a map-valued node is owned as a whole.
    pub fn map_is_atomic(&self) -> bool {
        matches!(
            self,
            Schema::Struct { atomic: true, .. } | Schema::Map { atomic: true, .. }
        )
    }
}

/// Builders for the built-in schema table: short names keep the tables readable.
pub mod build {
    use super::*;

    pub fn any() -> Arc<Schema> {
        Schema::any()
    }
    pub fn scalar() -> Arc<Schema> {
        static S: LazyLock<Arc<Schema>> = LazyLock::new(|| Arc::new(Schema::Scalar));
        S.clone()
    }
    /// A struct with the given fields.
    pub fn st(fields: Vec<(&str, Arc<Schema>)>) -> Arc<Schema> {
        Arc::new(Schema::Struct {
            fields: fields
                .into_iter()
                .map(|(n, s)| (n.to_string(), s))
                .collect(),
            atomic: false,
            preserve: false,
        })
    }
    /// A struct whose listed fields are all untyped.
    pub fn fields_any(names: &[&str]) -> Arc<Schema> {
        st(names.iter().map(|n| (*n, any())).collect())
    }
    /// A struct owned as a whole (`+structType=atomic`, e.g. LabelSelector).
    pub fn atomic_struct(names: &[&str]) -> Arc<Schema> {
        Arc::new(Schema::Struct {
            fields: names.iter().map(|n| (n.to_string(), any())).collect(),
            atomic: true,
            preserve: false,
        })
    }
    /// `map[string]<values>`.
    pub fn map_of(values: Arc<Schema>) -> Arc<Schema> {
        Arc::new(Schema::Map {
            values,
            atomic: false,
        })
    }
    /// `map[string]string`.
    pub fn strings() -> Arc<Schema> {
        static S: LazyLock<Arc<Schema>> = LazyLock::new(|| map_of(scalar()));
        S.clone()
    }
    /// An atomic list.
    pub fn atomic() -> Arc<Schema> {
        static S: LazyLock<Arc<Schema>> = LazyLock::new(|| {
            Arc::new(Schema::List {
                items: Schema::any(),
                list_type: ListType::Atomic,
            })
        });
        S.clone()
    }
    /// A set of scalars.
    pub fn set() -> Arc<Schema> {
        static S: LazyLock<Arc<Schema>> = LazyLock::new(|| {
            Arc::new(Schema::List {
                items: scalar(),
                list_type: ListType::Set,
            })
        });
        S.clone()
    }
    /// A list-map keyed by `keys`.
    pub fn keyed(keys: &[&str], items: Arc<Schema>) -> Arc<Schema> {
        Arc::new(Schema::List {
            items,
            list_type: ListType::Map(keys.iter().map(|k| (k.to_string(), None)).collect()),
        })
    }
    /// A list-map keyed by `keys` where some keys have defaults.
    pub fn keyed_defaults(keys: &[(&str, Option<Value>)], items: Arc<Schema>) -> Arc<Schema> {
        Arc::new(Schema::List {
            items,
            list_type: ListType::Map(
                keys.iter()
                    .map(|(k, d)| (k.to_string(), d.clone()))
                    .collect(),
            ),
        })
    }
}

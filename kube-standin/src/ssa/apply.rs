//! Server-side apply: the applier's new field set replaces its last one, other managers'
//! changed fields conflict (or move, with force), and fields the applier stopped applying
//! are pruned unless someone else owns them (structured-merge-diff's `Updater.Apply`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set, path_string};
use super::managed::{Entry, Managed, ManagerId, Scope, Writer, empty_like, strip_meta, update};
use super::merge::{ensure_named_fields_are_members, merge, remove_items};
use super::schema::Schema;
use super::typed::to_field_set;
use crate::error::{ApiError, Cause};

/// The outcome of an apply: the new object (`None`: nothing to change) and the entries.
#[derive(Debug)]
pub struct Applied {
    pub object: Value,
    pub managed: Managed,
}

/// Server-side apply of `config` by `manager` onto `live` (`None`: create-on-apply).
pub fn apply(
    schema: &Schema,
    scope: Scope,
    live: Option<&Value>,
    config: &Value,
    mut managed: Managed,
    w: Writer<'_>,
    force: bool,
) -> Result<Applied, ApiError> {
    let Writer {
        manager,
        api_version,
        now,
    } = w;
    let empty = empty_like(config);
    let live_v = live.unwrap_or(&empty);
    if managed.entries.is_empty() && live.is_some() {
        // Fields set before the first apply belong to "before-first-apply" (skipnonapplied.go).
        managed = update(
            schema,
            scope,
            None,
            live_v,
            Managed::default(),
            Writer {
                manager: "before-first-apply",
                ..w
            },
        );
    }
    let me = ManagerId::apply(manager, scope.subresource());
    let config_set = strip_meta(scope.filter(to_field_set(config, schema)));
    let merged = merge(Some(live_v), Some(config), schema).unwrap_or_else(|| config.clone());
    let last = managed.entries.get(&me).map(|e| e.set.clone());
    let previous_time = managed.entries.get(&me).and_then(|e| e.time.clone());
    managed.entries.insert(
        me.clone(),
        Entry {
            set: config_set,
            api_version: api_version.into(),
            time: previous_time,
        },
    );
    let pruned = match &last {
        Some(last) if !last.is_empty() => prune(&merged, &managed, last, schema),
        _ => merged,
    };
    let mut others = managed.clone();
    let conflicts = others.update_others(&me, live_v, &pruned, schema);
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    managed = others;
    if managed.entries.get(&me).is_some_and(|e| e.set.is_empty()) {
        managed.entries.remove(&me);
    }
    let changed = &pruned != live_v;
    if changed && let Some(e) = managed.entries.get_mut(&me) {
        e.time = Some(now.into());
    }
    if let Some(e) = managed.entries.get_mut(&me)
        && e.time.is_none()
    {
        e.time = Some(now.into());
    }
    Ok(Applied {
        object: pruned,
        managed,
    })
}

/// Removes what the applier owned last time and no longer applies, unless someone else owns
/// it (`prune`, `addBackOwnedItems`, `addBackDanglingItems` of structured-merge-diff).
fn prune(merged: &Value, managed: &Managed, last: &Set, schema: &Schema) -> Value {
    let ensure = |s: &Set| ensure_named_fields_are_members(s, schema);
    let empty = || Value::Object(Map::new());
    let pruned = remove_items(merged, &ensure(last), schema).unwrap_or_else(empty);
    let owned = managed
        .entries
        .values()
        .fold(Set::default(), |acc, e| acc.union(&e.set));
    let merged_set = ensure(&to_field_set(merged, schema));
    let pruned_set = ensure(&to_field_set(&pruned, schema));
    let pruned = remove_items(
        merged,
        &merged_set.difference(&pruned_set.union(&ensure(&owned))),
        schema,
    )
    .unwrap_or_else(empty);
    let pruned_set = ensure(&to_field_set(&pruned, schema));
    remove_items(
        merged,
        &merged_set
            .difference(&pruned_set)
            .intersection(&ensure(last)),
        schema,
    )
    .unwrap_or_else(empty)
}

fn conflict_error(conflicts: &[(ManagerId, Set)]) -> ApiError {
    let mut flat: Vec<(&ManagerId, Vec<PathElement>)> = Vec::new();
    for (id, set) in conflicts {
        for p in set.paths() {
            flat.push((id, p));
        }
    }
    let causes: Vec<Cause> = flat
        .iter()
        .map(|(id, p)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", id.describe()),
            field: path_string(p),
        })
        .collect();
    let message = if flat.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            flat[0].0.describe(),
            path_string(&flat[0].1)
        )
    } else {
        let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, p) in &flat {
            by.entry(id.describe()).or_default().push(path_string(p));
        }
        let mut lines = Vec::new();
        for (m, paths) in by {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(paths.into_iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            flat.len(),
            lines.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

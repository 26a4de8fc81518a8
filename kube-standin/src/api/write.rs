//! Create and update: preparation, managedFields, optimistic locking against the store,
//! retries of unconditional updates, and the delete that removing the last finalizer means.

use serde_json::Value;

use super::{ServerState, WriteOptions, get_current, prepare, store_err};
use crate::error::ApiError;
use crate::kinds::{ResourceType, crd};
use crate::objects::meta;
use crate::ssa::managed::{self, Managed, Scope};
use crate::store::StoreError;

/// The managedFields scope of a write.
pub fn scope(rt: &ResourceType, opts: &WriteOptions) -> Scope {
    match opts.subresource.as_deref() {
        Some("status") => Scope::Status,
        _ => Scope::Main {
            has_status: rt.flags.status,
        },
    }
}

/// Takes the client's `managedFields` out of the object: `Some(empty)` for an explicit
/// reset (`[]` or `[{}]`), `None` when absent or empty-ish, else the decoded entries.
fn take_managed(obj: &mut Value) -> (Option<Managed>, bool) {
    let raw = meta::meta_mut(obj).remove("managedFields");
    match raw {
        Some(Value::Array(a)) if a.is_empty() => (Some(Managed::default()), true),
        Some(Value::Array(a)) if a.len() == 1 && a[0].as_object().is_some_and(|o| o.is_empty()) => {
            (Some(Managed::default()), true)
        }
        Some(list @ Value::Array(_)) => {
            let m = Managed::decode(&serde_json::json!({"metadata": {"managedFields": list}}));
            if m.entries.is_empty() {
                (None, false)
            } else {
                (Some(m), false)
            }
        }
        _ => (None, false),
    }
}

/// Creates `obj` (already decoded from the request) with Update-type ownership.
pub async fn create(
    state: &ServerState,
    rt: &ResourceType,
    ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let (given, _) = take_managed(&mut obj);
    let _alloc = if rt.group.is_empty() && rt.plural == "services" {
        Some(state.service_alloc.lock().await)
    } else {
        None
    };
    prepare::for_create(state, rt, ns, &mut obj, warnings).await?;
    let m = managed::update(
        &rt.schema,
        scope(rt, opts),
        None,
        &obj,
        given.unwrap_or_default(),
        managed::Writer {
            manager: &opts.manager,
            api_version: &rt.api_version(),
            now: &meta::now(),
        },
    );
    m.encode_into(&mut obj);
    insert(state, rt, obj, opts).await
}

/// Stores a fully prepared new object (or only returns it on a dry run).
pub async fn insert(
    state: &ServerState,
    rt: &ResourceType,
    mut obj: Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    if opts.dry_run {
        return Ok(obj);
    }
    let name = meta::name(&obj).unwrap_or_default().to_string();
    let ns = meta::namespace(&obj).map(str::to_string);
    let key = rt.key(ns.as_deref(), &name);
    let kv = state
        .store
        .create(&key, meta::encode(&obj))
        .await
        .map_err(|e| store_err(rt, &name, e))?;
    meta::set_resource_version(&mut obj, kv.mod_revision);
    if crd::is_crd(rt) {
        crd::sync(&state.registry, &obj, false);
    }
    Ok(obj)
}

/// What an update callback proposes.
#[derive(Debug)]
pub enum Change {
    /// A new object; ownership moves by comparison (PUT and non-apply patches).
    Replace(Value),
    /// The result of a server-side apply with its managed fields already computed.
    Applied { object: Value, managed: Managed },
}

/// Outcome of [`update_with`].
#[derive(Debug)]
pub struct Updated {
    pub object: Value,
    /// The object did not exist and was created (apply).
    pub created: bool,
}

const MAX_ATTEMPTS: usize = 16;

/// Read-modify-write of one object: `change` sees the live object (`None` if missing) and
/// proposes the next state. With `precondition` (the client's resourceVersion) a stale
/// object is a 409; without, a concurrent write makes it retry on the new state.
#[allow(clippy::too_many_arguments)]
pub async fn update_with<F>(
    state: &ServerState,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &WriteOptions,
    precondition: Option<&str>,
    warnings: &mut Vec<String>,
    mut change: F,
) -> Result<Updated, ApiError>
where
    F: FnMut(Option<&Value>) -> Result<Change, ApiError>,
{
    for _ in 0..MAX_ATTEMPTS {
        let current = match get_current(state, rt, ns, name).await {
            Ok(c) => Some(c),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        let Some((old, kv)) = current else {
            // Only apply creates a missing object.
            return match change(None)? {
                Change::Applied {
                    mut object,
                    managed,
                } => {
                    let _alloc = if rt.group.is_empty() && rt.plural == "services" {
                        Some(state.service_alloc.lock().await)
                    } else {
                        None
                    };
                    meta::set_meta(&mut object, "name", Some(Value::String(name.to_string())));
                    prepare::for_create(state, rt, ns, &mut object, warnings).await?;
                    managed.encode_into(&mut object);
                    match insert(state, rt, object, opts).await {
                        Ok(object) => Ok(Updated {
                            object,
                            created: true,
                        }),
                        Err(e) if e.code == 409 && precondition.is_none() => continue,
                        Err(e) => Err(e),
                    }
                }
                Change::Replace(_) => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            };
        };
        if let Some(rv) = precondition
            && rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict_modified(&rt.group, &rt.plural, name));
        }
        let (mut next, applied) = match change(Some(&old))? {
            Change::Replace(v) => (v, None),
            Change::Applied { object, managed } => (object, Some(managed)),
        };
        let (given, reset) = take_managed(&mut next);
        let sub = opts.subresource.as_deref();
        prepare::for_update(rt, &old, &mut next, sub, warnings)?;
        let managed = match applied {
            Some(m) => m,
            None => {
                let mut live = old.clone();
                meta::meta_mut(&mut live).remove("managedFields");
                let base = match (given, sub.is_some()) {
                    (Some(g), false) => g,
                    _ if reset => Managed::default(),
                    _ => Managed::decode(&old),
                };
                managed::update(
                    &rt.schema,
                    scope(rt, opts),
                    Some(&live),
                    &next,
                    base,
                    managed::Writer {
                        manager: &opts.manager,
                        api_version: &rt.api_version(),
                        now: &meta::now(),
                    },
                )
            }
        };
        managed.encode_into(&mut next);
        meta::set_resource_version(&mut next, kv.mod_revision);
        if next == old {
            return Ok(Updated {
                object: old,
                created: false,
            });
        }
        if opts.dry_run {
            return Ok(Updated {
                object: next,
                created: false,
            });
        }
        let key = rt.key(ns, name);
        let gone = meta::is_deleting(&next)
            && meta::finalizers(&next).is_empty()
            && !is_namespace_with_spec_finalizers(rt, &next);
        let result = if gone {
            state.store.delete(&key, kv.mod_revision).await
        } else {
            state
                .store
                .update(&key, meta::encode(&next), kv.mod_revision)
                .await
        };
        match result {
            Ok(written) => {
                meta::set_resource_version(&mut next, written.mod_revision);
                if crd::is_crd(rt) {
                    crd::sync(&state.registry, &next, gone);
                }
                return Ok(Updated {
                    object: next,
                    created: false,
                });
            }
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_))
                if precondition.is_none() =>
            {
                continue;
            }
            Err(e) => return Err(store_err(rt, name, e)),
        }
    }
    Err(ApiError::conflict_modified(&rt.group, &rt.plural, name))
}

/// A namespace stays until its `spec.finalizers` are empty too.
fn is_namespace_with_spec_finalizers(rt: &ResourceType, obj: &Value) -> bool {
    rt.group.is_empty()
        && rt.plural == "namespaces"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

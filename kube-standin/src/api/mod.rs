//! The resource API: the server state every handler shares, and the object operations
//! (create, update, delete, list, watch) independent of HTTP, used by handlers and controllers.

pub mod delete;
pub mod list;
pub mod prepare;
pub mod watch;
pub mod write;

use std::sync::Arc;

use serde_json::Value;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::kinds::{Registry, ResourceType};
use crate::objects::meta;
use crate::store::{KeyValue, Store, StoreError};

/// Everything a request handler or controller needs.
pub struct ServerState {
    pub config: ServerConfig,
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    /// Serializes ClusterIP and NodePort allocation with the Service write that uses it.
    pub service_alloc: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState").finish_non_exhaustive()
    }
}

/// Shared handle.
pub type State = Arc<ServerState>;

/// The live object and its store entry, or 404.
pub async fn get_current(
    state: &ServerState,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Result<(Value, KeyValue), ApiError> {
    match state.store.get(&rt.key(namespace, name)).await? {
        Some(kv) => Ok((present(rt, meta::decode(&kv)), kv)),
        None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
    }
}

/// The object for a GET: `resourceVersion=0` ("any version") may be served from the
/// store's possibly stale copy, as kube-apiserver serves it from its watch cache.
pub async fn get_for_read(
    state: &ServerState,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    resource_version: Option<&str>,
) -> Result<Value, ApiError> {
    let key = rt.key(namespace, name);
    let kv = if resource_version == Some("0") {
        state.store.get_serializable(&key).await?
    } else {
        state.store.get(&key).await?
    };
    match kv {
        Some(kv) => Ok(present(rt, meta::decode(&kv))),
        None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
    }
}

/// A stored object as served at `rt`'s version (custom resources may be stored at another).
pub fn present(rt: &ResourceType, mut obj: Value) -> Value {
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(rt.api_version()));
        o.insert("kind".into(), Value::String(rt.kind.clone()));
    }
    obj
}

/// Maps a store error on a named object.
pub fn store_err(rt: &ResourceType, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists(_) => ApiError::already_exists(&rt.group, &rt.plural, name),
        StoreError::NotFound(_) => ApiError::not_found(&rt.group, &rt.plural, name),
        StoreError::Conflict { .. } => ApiError::conflict_modified(&rt.group, &rt.plural, name),
        other => other.into(),
    }
}

/// Options of a write that come from the request.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The field manager recorded in managedFields.
    pub manager: String,
    pub dry_run: bool,
    /// `Some("status")` for writes through `/status`.
    pub subresource: Option<String>,
}

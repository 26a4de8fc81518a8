//! The object store seam: a kine-shaped revisioned key-value store.
//!
//! Shape (the subset of etcd's API that kube-apiserver uses, as kine implements it over SQL):
//! - one cluster-wide, strictly increasing **revision**; every write (create, update, delete)
//!   takes the next one, and an object's `resourceVersion` is its key's `mod_revision`;
//! - `create` only if the key is absent, `update`/`delete` only if the key's `mod_revision`
//!   still equals the caller's (compare-and-swap), so the API layer does optimistic locking;
//! - `list` of a key prefix at the current revision or at an older one (consistent pages for
//!   `limit`/`continue`), in key order;
//! - `watch` of a prefix from a revision: every event after it, in revision order, then live;
//! - `compact`: history older than a revision is dropped; reading or watching from before it
//!   fails with [`StoreError::Compacted`] (the API answers 410 "too old resource version").
//!
//! Values are opaque bytes (the API layer stores JSON without `resourceVersion`). Backends:
//! [`memory::MemoryStore`] in memory, [`etcd::EtcdStore`] in a real etcd cluster,
//! [`postgres::PostgresStore`] in a PostgreSQL database (kine's one-table schema).

pub mod etcd;
pub mod memory;
pub mod postgres;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use bytes::Bytes;
use tokio::sync::mpsc;

/// A store revision; `resourceVersion` is its decimal form.
pub type Revision = i64;

/// One key at one revision.
#[derive(Debug, Clone)]
pub struct KeyValue {
    pub key: Arc<str>,
    pub value: Bytes,
    /// The revision that created the key (the start of its current life).
    pub create_revision: Revision,
    /// The revision of the last write to the key; for a delete event, the delete's revision.
    pub mod_revision: Revision,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created or updated; `prev` is `None` for a create.
    Put,
    /// Deleted; `kv.value` is the last value, `kv.mod_revision` the delete's revision.
    Delete,
}

/// One change, as delivered to watchers.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// The key's previous value (updates and deletes).
    pub prev: Option<KeyValue>,
}

/// A page of a prefix listing.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// The revision the listing was read at.
    pub revision: Revision,
    pub items: Vec<KeyValue>,
    /// Whether keys after the last returned one remain.
    pub more: bool,
}

/// A live watch: events in revision order, and how far the backend has looked.
#[derive(Debug)]
pub struct Watch {
    pub events: mpsc::UnboundedReceiver<Event>,
    /// A revision R such that every matching event with revision <= R has already been
    /// queued on `events` (it may still be buffered there). The API layer drains the queue
    /// after reading it, then sends a BOOKMARK with R.
    pub progress: Arc<AtomicI64>,
}

/// Store failures the API layer maps to HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    /// The key's `mod_revision` differs from the expected one; `current` is the live value.
    #[error("key {key} was modified (expected revision {expected})")]
    Conflict {
        key: String,
        expected: Revision,
        current: Option<KeyValue>,
    },
    #[error("revision {requested} has been compacted (oldest available {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// The backend failed (for etcd: its error, worded as a Go client prints it, e.g.
    /// `etcdserver: request timed out`). kube-apiserver passes such errors through as a
    /// 500 `Status` without a reason, and so does the API layer.
    #[error("{0}")]
    Unavailable(String),
    /// The backend did not answer within its request timeout; the API answers as
    /// kube-apiserver does when a request's deadline passes (504 `Timeout`).
    #[error("store timeout: {0}")]
    Timeout(String),
}

/// The kine-shaped store every backend implements (see the module documentation).
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest revision (0 for an empty store that never saw a write).
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// The oldest revision from which `list` and `watch` still work.
    async fn compacted_revision(&self) -> Result<Revision, StoreError>;

    /// The key's current value, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Like [`Store::get`], but the backend may answer from its own, possibly stale copy
    /// without a quorum round trip (etcd's serializable read). kube-apiserver serves
    /// `resourceVersion=0` from its watch cache the same way: it still answers when etcd has
    /// lost quorum. Backends with a single copy answer like `get`.
    async fn get_serializable(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.get(key).await
    }

    /// Writes `value` under `key` if the key does not exist.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError>;

    /// Replaces the value if the key's `mod_revision` is still `expected`.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes the key if its `mod_revision` is still `expected`; returns the last value
    /// with `mod_revision` set to the delete's revision.
    async fn delete(&self, key: &str, expected: Revision) -> Result<KeyValue, StoreError>;

    /// Keys with `prefix`, in key order, starting at `start` (inclusive; `""` for the
    /// beginning), at most `limit` (0 = all), as of `revision` (0 = current).
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError>;

    /// Like [`Store::list`], possibly stale in the way of [`Store::get_serializable`]
    /// (`revision` 0 is the backend copy's own current revision).
    async fn list_serializable(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        self.list(prefix, start, limit, revision).await
    }

    /// Events for keys with `prefix` after revision `after`, then live ones.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError>;

    /// Drops history before `revision`.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}

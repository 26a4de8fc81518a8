//! The in-memory [`Store`]: per-key version chains, an event log since the compaction point,
//! and watchers fed under the write lock so none sees a gap or a reordering.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Event, EventKind, KeyValue, ListResult, Revision, Store, StoreError, Watch};

/// One version of a key; `value: None` is a tombstone.
#[derive(Debug, Clone)]
struct Version {
    mod_revision: Revision,
    create_revision: Revision,
    value: Option<Bytes>,
}

struct Watcher {
    prefix: String,
    tx: mpsc::UnboundedSender<Event>,
    progress: Arc<AtomicI64>,
}

#[derive(Default)]
struct Inner {
    revision: Revision,
    compacted: Revision,
    keys: BTreeMap<Arc<str>, Vec<Version>>,
    log: VecDeque<Event>,
    watchers: Vec<Watcher>,
}

/// A [`Store`] held in memory, compacting itself to keep `window` revisions of history.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    window: Revision,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("window", &self.window)
            .finish()
    }
}

impl MemoryStore {
    /// A store keeping at least `window` revisions of history (kine keeps 1000).
    pub fn new(window: Revision) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            window: window.max(1),
        }
    }

    /// Compare-and-swap of an existing key: a new value, or a tombstone for `None`.
    fn swap(
        &self,
        key: &str,
        value: Option<Bytes>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let mut inner = self.lock();
        let current = inner
            .keys
            .get_key_value(key)
            .and_then(|(k, vs)| latest(vs).map(|v| kv(k, v)));
        let Some(current) = current else {
            return Err(StoreError::NotFound(key.to_string()));
        };
        if current.mod_revision != expected {
            return Err(StoreError::Conflict {
                key: key.to_string(),
                expected,
                current: Some(current),
            });
        }
        let create_revision = current.create_revision;
        Ok(inner.write(key, value, create_revision, Some(current), self.window))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn latest(versions: &[Version]) -> Option<&Version> {
    versions.last().filter(|v| v.value.is_some())
}

fn at_revision(versions: &[Version], rev: Revision) -> Option<&Version> {
    versions
        .iter()
        .rev()
        .find(|v| v.mod_revision <= rev)
        .filter(|v| v.value.is_some())
}

fn kv(key: &Arc<str>, v: &Version) -> KeyValue {
    KeyValue {
        key: key.clone(),
        value: v.value.clone().unwrap_or_default(),
        create_revision: v.create_revision,
        mod_revision: v.mod_revision,
    }
}

impl Inner {
    fn key_arc(&self, key: &str) -> Arc<str> {
        match self.keys.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        }
    }

    /// Appends the event to the log and hands it to every watcher of its prefix.
    fn publish(&mut self, event: Event) {
        let rev = event.kv.mod_revision;
        self.watchers.retain(|w| {
            if event.kv.key.starts_with(w.prefix.as_str()) && w.tx.send(event.clone()).is_err() {
                return false;
            }
            w.progress.store(rev, Ordering::Release);
            !w.tx.is_closed()
        });
        self.log.push_back(event);
    }

    fn compact_to(&mut self, target: Revision) {
        if target <= self.compacted {
            return;
        }
        self.keys.retain(|_, versions| {
            // Keep the newest version at or before the target (lists at `target` need it)
            // and everything after it; a tombstone there is history nobody can ask for.
            let keep_from = versions
                .iter()
                .rposition(|v| v.mod_revision <= target)
                .unwrap_or(0);
            versions.drain(..keep_from);
            if versions
                .first()
                .is_some_and(|v| v.value.is_none() && v.mod_revision <= target)
            {
                versions.remove(0);
            }
            !versions.is_empty()
        });
        while self
            .log
            .front()
            .is_some_and(|e| e.kv.mod_revision <= target)
        {
            self.log.pop_front();
        }
        self.compacted = target;
    }

    fn write(
        &mut self,
        key: &str,
        value: Option<Bytes>,
        create_revision: Revision,
        prev: Option<KeyValue>,
        window: Revision,
    ) -> KeyValue {
        self.revision += 1;
        let rev = self.revision;
        let key = self.key_arc(key);
        let version = Version {
            mod_revision: rev,
            create_revision,
            value: value.clone(),
        };
        self.keys.entry(key.clone()).or_default().push(version);
        let (kind, kv) = match value {
            Some(v) => (
                EventKind::Put,
                KeyValue {
                    key,
                    value: v,
                    create_revision,
                    mod_revision: rev,
                },
            ),
            None => {
                let last = prev.as_ref().map(|p| p.value.clone()).unwrap_or_default();
                (
                    EventKind::Delete,
                    KeyValue {
                        key,
                        value: last,
                        create_revision,
                        mod_revision: rev,
                    },
                )
            }
        };
        self.publish(Event {
            kind,
            kv: kv.clone(),
            prev,
        });
        // Amortized compaction: every `window` writes, keep the last `window` revisions.
        if rev - self.compacted >= 2 * window {
            self.compact_to(rev - window);
        }
        kv
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().revision)
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().compacted)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .keys
            .get_key_value(key)
            .and_then(|(k, vs)| latest(vs).map(|v| kv(k, v))))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        let mut inner = self.lock();
        if inner.keys.get(key).and_then(|vs| latest(vs)).is_some() {
            return Err(StoreError::AlreadyExists(key.to_string()));
        }
        let create_revision = inner.revision + 1;
        Ok(inner.write(key, Some(value), create_revision, None, self.window))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.swap(key, Some(value), expected)
    }

    async fn delete(&self, key: &str, expected: Revision) -> Result<KeyValue, StoreError> {
        self.swap(key, None, expected)
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        let inner = self.lock();
        let rev = if revision <= 0 {
            inner.revision
        } else {
            revision
        };
        if rev > inner.revision {
            return Err(StoreError::FutureRevision {
                requested: rev,
                current: inner.revision,
            });
        }
        if rev < inner.compacted {
            return Err(StoreError::Compacted {
                requested: rev,
                compacted: inner.compacted,
            });
        }
        let from = if start.is_empty() || start < prefix {
            prefix
        } else {
            start
        };
        let mut items = Vec::new();
        let mut more = false;
        for (k, versions) in inner
            .keys
            .range::<str, _>((Bound::Included(from), Bound::Unbounded))
        {
            if !k.starts_with(prefix) {
                break;
            }
            let Some(v) = at_revision(versions, rev) else {
                continue;
            };
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push(kv(k, v));
        }
        Ok(ListResult {
            revision: rev,
            items,
            more,
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        let mut inner = self.lock();
        if after < inner.compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted: inner.compacted,
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for e in inner
            .log
            .iter()
            .filter(|e| e.kv.mod_revision > after && e.kv.key.starts_with(prefix))
        {
            let _ = tx.send(e.clone());
        }
        let progress = Arc::new(AtomicI64::new(inner.revision.max(after)));
        inner.watchers.push(Watcher {
            prefix: prefix.to_string(),
            tx,
            progress: progress.clone(),
        });
        Ok(Watch {
            events: rx,
            progress,
        })
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let target = revision.min(inner.revision);
        inner.compact_to(target);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! What only this backend does; the Store contract every backend keeps is checked in
    //! tests/store_contract.rs (and on etcd in tests/etcd_store.rs).
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[tokio::test]
    async fn progress_moves_with_every_write_not_only_matching_ones() {
        let s = MemoryStore::new(100);
        let w = s.watch("/r/", 0).await.unwrap();
        s.create("/other/y", b("1")).await.unwrap();
        assert_eq!(w.progress.load(Ordering::Acquire), 1);
    }

    #[tokio::test]
    async fn compaction_keeps_a_window_of_revisions() {
        let s = MemoryStore::new(2);
        s.create("/r/a", b("1")).await.unwrap();
        for i in 1..10 {
            s.update("/r/a", b("x"), i).await.unwrap();
        }
        let compacted = s.compacted_revision().await.unwrap();
        assert!(
            compacted >= 6,
            "auto-compaction keeps a window: {compacted}"
        );
        assert!(matches!(
            s.watch("/r/", 1).await,
            Err(StoreError::Compacted { requested: 1, .. })
        ));
        assert_eq!(
            s.list("/r/", "", 0, compacted).await.unwrap().items.len(),
            1
        );
    }
}

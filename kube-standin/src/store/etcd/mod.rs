//! The etcd [`Store`]: etcd's v3 API through its JSON gateway (`/v3/kv/*`, `/v3/watch`,
//! `/v3/maintenance/status`) on one or more client URLs, checked against Debian's etcd 3.4.
//!
//! Mapping: revision = etcd's header revision and `mod_revision`; create = txn
//! `create_revision(key) == 0` then put; update/delete = txn `mod_revision(key) == expected`
//! (the failure branch reads the key to tell NotFound from Conflict); list = range with
//! `range_end` = the prefix's end, `limit`, `revision`; watch = `start_revision` after+1 with
//! `prev_kv`; compaction = `/v3/kv/compaction`, recorded under `compact_rev_key` as
//! kube-apiserver's compactor does, so [`Store::compacted_revision`] can answer. Reads are
//! linearizable except the `*_serializable` ones. Errors keep etcd's words (see
//! [`StoreError`]); every call is bounded by [`EtcdConfig::request_timeout`].

mod client;
mod config;
mod members;
mod watch;
mod wire;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

pub use self::config::{EtcdConfig, EtcdConfigError, EtcdTls, MemberStatus};
pub use self::members::Member;

use self::client::{CallError, Kind, Transport};
use self::config::check_endpoint;
use self::wire::{RangeResponse, StatusResponse, TxnResponse, b64, prefix_end};
use super::{KeyValue, ListResult, Revision, Store, StoreError, Watch};

/// The key where the compacted revision is recorded (kube-apiserver's name for it).
const COMPACT_KEY: &str = "compact_rev_key";

/// A [`Store`] in etcd (see the module documentation).
#[derive(Debug, Clone)]
pub struct EtcdStore {
    t: Arc<Transport>,
}

fn unavailable(e: CallError) -> StoreError {
    match e {
        CallError::Timeout { .. } => StoreError::Timeout(e.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl EtcdStore {
    /// A store on the configured members (no connection is made yet).
    pub fn new(config: EtcdConfig) -> Result<Self, EtcdConfigError> {
        if config.endpoints.is_empty() {
            return Err(EtcdConfigError::NoEndpoints);
        }
        if config.tls.is_some() {
            return Err(EtcdConfigError::TlsUnsupported);
        }
        if config.request_timeout.is_zero() {
            return Err(EtcdConfigError::NoTimeout);
        }
        let endpoints = config
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| check_endpoint(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            t: Arc::new(Transport::new(
                endpoints,
                config.request_timeout,
                config.dial_timeout,
            )),
        })
    }

    /// The client URLs in use.
    pub fn endpoints(&self) -> &[String] {
        self.t.endpoints()
    }

    /// The status of the member at `endpoints()[endpoint]` (that member only).
    pub async fn member_status(&self, endpoint: usize) -> Result<MemberStatus, StoreError> {
        if endpoint >= self.t.endpoints().len() {
            return Err(StoreError::Unavailable(format!(
                "no endpoint {endpoint}: {} configured",
                self.t.endpoints().len()
            )));
        }
        let s: StatusResponse = self
            .t
            .call_on(
                Some(endpoint),
                "/v3/maintenance/status",
                &json!({}),
                Kind::Read,
            )
            .await
            .map_err(unavailable)?;
        Ok(MemberStatus {
            member_id: s.header.member_id,
            leader: (s.leader != 0).then_some(s.leader),
            raft_term: s.raft_term,
            raft_index: s.raft_index,
            revision: s.header.revision,
            is_learner: s.is_learner,
            version: s.version,
            errors: s.errors,
            db_size: s.db_size,
            db_size_in_use: s.db_size_in_use,
        })
    }

    async fn range(&self, body: Value) -> Result<RangeResponse, CallError> {
        self.t.call("/v3/kv/range", &body, Kind::Read).await
    }

    async fn txn(&self, body: Value) -> Result<TxnResponse, StoreError> {
        self.t
            .call("/v3/kv/txn", &body, Kind::Write)
            .await
            .map_err(unavailable)
    }

    /// The current revision and the recorded compaction: (revision, compacted, record version).
    async fn compaction_record(&self) -> Result<(Revision, Revision, i64), StoreError> {
        let r = self
            .range(json!({"key": b64(COMPACT_KEY.as_bytes())}))
            .await
            .map_err(unavailable)?;
        let (compacted, version) = match r.kvs.first() {
            Some(kv) => {
                let kv_version = kv.version;
                let v = kv.decode()?;
                let rev = String::from_utf8_lossy(&v.value).parse().unwrap_or(0);
                (rev, kv_version)
            }
            None => (0, 0),
        };
        Ok((r.header.revision, compacted, version))
    }

    /// The store error for a failed read at `revision`.
    async fn read_error(&self, e: CallError, revision: Revision) -> StoreError {
        if e.is_compacted() {
            let compacted = match self.compaction_record().await {
                Ok((_, c, _)) if c > revision => c,
                _ => revision + 1,
            };
            return StoreError::Compacted {
                requested: revision,
                compacted,
            };
        }
        if e.is_future() {
            let current = self.current_revision().await.unwrap_or(revision - 1);
            return StoreError::FutureRevision {
                requested: revision,
                current,
            };
        }
        unavailable(e)
    }

    async fn list_with(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
        serializable: bool,
    ) -> Result<ListResult, StoreError> {
        let from = if start.is_empty() || start < prefix {
            prefix
        } else {
            start
        };
        let body = json!({"key": b64(from.as_bytes()), "range_end": b64(&prefix_end(prefix)),
            "limit": limit.to_string(), "revision": revision.max(0).to_string(),
            "serializable": serializable});
        let r = match self.range(body).await {
            Ok(r) => r,
            Err(e) => return Err(self.read_error(e, revision).await),
        };
        let items = r
            .kvs
            .iter()
            .map(|kv| kv.decode())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListResult {
            revision: if revision > 0 {
                revision
            } else {
                r.header.revision
            },
            items,
            more: r.more,
        })
    }

    async fn get_with(
        &self,
        key: &str,
        serializable: bool,
    ) -> Result<Option<KeyValue>, StoreError> {
        let r = self
            .range(json!({"key": b64(key.as_bytes()), "serializable": serializable}))
            .await
            .map_err(unavailable)?;
        Ok(r.kvs.first().map(|kv| kv.decode()).transpose()?)
    }

    /// A compare-and-swap on `key`'s `mod_revision`; `op` is the success branch.
    async fn swap(
        &self,
        key: &str,
        expected: Revision,
        op: Value,
    ) -> Result<TxnResponse, StoreError> {
        let k = b64(key.as_bytes());
        if expected <= 0 {
            // mod_revision 0 would match an absent key and write it: answer as the memory store.
            return match self.get(key).await? {
                None => Err(StoreError::NotFound(key.to_string())),
                Some(current) => Err(StoreError::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Some(current),
                }),
            };
        }
        let r = self
            .txn(json!({
                "compare": [{"target": "MOD", "key": k, "mod_revision": expected.to_string()}],
                "success": [op],
                "failure": [{"request_range": {"key": k}}],
            }))
            .await?;
        if r.succeeded {
            return Ok(r);
        }
        match r.range_kvs().first() {
            None => Err(StoreError::NotFound(key.to_string())),
            Some(kv) => Err(StoreError::Conflict {
                key: key.to_string(),
                expected,
                current: Some(kv.decode()?),
            }),
        }
    }
}

impl From<wire::WireError> for StoreError {
    fn from(e: wire::WireError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.compaction_record().await?.0)
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.compaction_record().await?.1)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.get_with(key, false).await
    }

    async fn get_serializable(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.get_with(key, true).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        let k = b64(key.as_bytes());
        let r = self
            .txn(json!({
                "compare": [{"target": "CREATE", "key": k, "create_revision": "0"}],
                "success": [{"request_put": {"key": k, "value": b64(&value)}}],
                "failure": [{"request_range": {"key": k, "keys_only": true}}],
            }))
            .await?;
        if !r.succeeded {
            return Err(StoreError::AlreadyExists(key.to_string()));
        }
        let rev = r.header.revision;
        Ok(KeyValue {
            key: Arc::from(key),
            value,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let put = json!({"request_put": {"key": b64(key.as_bytes()), "value": b64(&value), "prev_kv": true}});
        let r = self.swap(key, expected, put).await?;
        let create_revision = r
            .responses
            .iter()
            .find_map(|op| op.response_put.as_ref()?.prev_kv.as_ref())
            .map(|kv| kv.create_revision)
            .unwrap_or_default();
        Ok(KeyValue {
            key: Arc::from(key),
            value,
            create_revision,
            mod_revision: r.header.revision,
        })
    }

    async fn delete(&self, key: &str, expected: Revision) -> Result<KeyValue, StoreError> {
        let del = json!({"request_delete_range": {"key": b64(key.as_bytes()), "prev_kv": true}});
        let r = self.swap(key, expected, del).await?;
        let prev = r
            .responses
            .iter()
            .find_map(|op| op.response_delete_range.as_ref()?.prev_kvs.first())
            .map(|kv| kv.decode())
            .transpose()?;
        let prev = prev.ok_or_else(|| StoreError::NotFound(key.to_string()))?;
        Ok(KeyValue {
            mod_revision: r.header.revision,
            ..prev
        })
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        self.list_with(prefix, start, limit, revision, false).await
    }

    async fn list_serializable(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        self.list_with(prefix, start, limit, revision, true).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        // etcd reports a compacted start revision only asynchronously on the stream; a range
        // at `after` answers at once (served by the member itself: no quorum round trip).
        if after > 0 {
            let probe = json!({"key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix)),
                "revision": after.to_string(), "count_only": true, "serializable": true});
            if let Err(e) = self.range(probe).await {
                match self.read_error(e, after).await {
                    StoreError::FutureRevision { .. } => {}
                    other => return Err(other),
                }
            }
        }
        watch::start(self.t.clone(), prefix, after)
            .await
            .map_err(unavailable)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        // Record first (a compare-and-swap on the record's version, as kube-apiserver's
        // compactor does, so concurrent servers agree), then compact.
        let target = loop {
            let (current, recorded, version) = self.compaction_record().await?;
            let target = revision.min(current);
            if target <= recorded {
                return Ok(());
            }
            let k = b64(COMPACT_KEY.as_bytes());
            let r = self
                .txn(json!({
                    "compare": [{"target": "VERSION", "key": k, "version": version.to_string()}],
                    "success": [{"request_put": {"key": k, "value": b64(target.to_string().as_bytes())}}],
                }))
                .await?;
            if r.succeeded {
                break target;
            }
        };
        match self
            .t
            .call::<Value>(
                "/v3/kv/compaction",
                &json!({"revision": target.to_string()}),
                Kind::Write,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_compacted() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

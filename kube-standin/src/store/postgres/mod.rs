//! The PostgreSQL [`Store`], the way kine keeps k3s's objects in an external database: one
//! table `kine` where every write is a new row (`id` is the revision; `created`/`deleted`
//! mark creates and tombstones; `prev_revision` and `old_value` link a row to the one it
//! replaced; the unique index on `(name, prev_revision)` makes compare-and-swap atomic), the
//! compaction point in the row `compact_rev_key`, and watches fed by polling new rows.
//!
//! One deliberate simplification against kine: writes take a transaction-scoped advisory
//! lock, so rows commit in `id` order and a poller never sees a later id before an earlier
//! one (kine instead detects such gaps and fills them). Several API servers may share one
//! database (k3s's HA with an external datastore): each polls the table.

mod connect;
mod poll;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Mutex;
use tokio_postgres::{Client, Row};

pub use connect::{Endpoint, Tls, parse};

use super::{Event, EventKind, KeyValue, ListResult, Revision, Store, StoreError, Watch};

/// kine's schema (its PostgreSQL dialect; `name` compares byte-wise, like etcd's keys).
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kine (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C",
    created INTEGER,
    deleted INTEGER,
    create_revision BIGINT,
    prev_revision BIGINT,
    lease INTEGER,
    value BYTEA,
    old_value BYTEA
);
CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name);
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name, id);
CREATE INDEX IF NOT EXISTS kine_id_deleted_index ON kine (id, deleted);
CREATE INDEX IF NOT EXISTS kine_prev_revision_index ON kine (prev_revision);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);
"#;

/// The row holding the compaction revision (in `prev_revision`), as kine names it.
const COMPACT_KEY: &str = "compact_rev_key";
/// The advisory lock every write transaction takes (any constant; "kine" in ASCII).
const WRITE_LOCK: i64 = 0x6b69_6e65;
/// Rows of history kept, as kine keeps 1000 revisions.
const WINDOW: Revision = 1000;

/// The columns every read selects, in [`row_kv`]'s order.
const COLUMNS: &str =
    "id, name, created, deleted, create_revision, prev_revision, value, old_value";

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    endpoint: Endpoint,
    /// Reads (tokio-postgres pipelines concurrent queries on one connection).
    reader: Mutex<Client>,
    /// Writes, one transaction at a time.
    writer: Mutex<Client>,
    poll: Arc<poll::Poller>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// A database error as the store reports it.
fn db(e: &tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(connect::db_error(e))
}

/// One row as a key-value (kine: a created row's create revision is its own id).
fn row_kv(r: &Row) -> (KeyValue, bool, Option<KeyValue>) {
    let id: i64 = r.get(0);
    let name: String = r.get(1);
    let created = r.get::<_, Option<i32>>(2).unwrap_or(0) != 0;
    let deleted = r.get::<_, Option<i32>>(3).unwrap_or(0) != 0;
    let create_revision = if created {
        id
    } else {
        r.get::<_, Option<i64>>(4).unwrap_or(0)
    };
    let prev_revision = r.get::<_, Option<i64>>(5).unwrap_or(0);
    let value: Option<Vec<u8>> = r.get(6);
    let old: Option<Vec<u8>> = r.get(7);
    let key: Arc<str> = Arc::from(name);
    let prev = (!created && prev_revision > 0).then(|| KeyValue {
        key: key.clone(),
        value: Bytes::from(old.unwrap_or_default()),
        create_revision,
        mod_revision: prev_revision,
    });
    let kv = KeyValue {
        key,
        value: Bytes::from(value.unwrap_or_default()),
        create_revision,
        mod_revision: id,
    };
    (kv, deleted, prev)
}

/// A row as a watch event.
pub(crate) fn row_event(r: &Row) -> Event {
    let (kv, deleted, prev) = row_kv(r);
    Event {
        kind: if deleted {
            EventKind::Delete
        } else {
            EventKind::Put
        },
        kv,
        prev,
    }
}

/// `prefix` as a LIKE pattern matching every key that starts with it.
fn like(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl PostgresStore {
    /// Connects (creating the database when missing), creates kine's table when missing and
    /// starts the poller that feeds watches.
    pub async fn connect(endpoint: Endpoint) -> Result<Self, StoreError> {
        let reader = connect::connect(&endpoint).await?;
        reader.batch_execute(SCHEMA).await.map_err(|e| db(&e))?;
        let writer = connect::connect(&endpoint).await?;
        let poller = connect::connect(&endpoint).await?;
        let start: i64 = reader
            .query_one("SELECT COALESCE(MAX(id), 0) FROM kine", &[])
            .await
            .map_err(|e| db(&e))?
            .get(0);
        let poll = poll::Poller::start(poller, start);
        Ok(Self {
            endpoint,
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            poll,
        })
    }

    /// The read connection, reconnected when the database closed it (a restart).
    async fn reader(&self) -> Result<tokio::sync::MutexGuard<'_, Client>, StoreError> {
        let mut c = self.reader.lock().await;
        if c.is_closed() {
            *c = connect::connect(&self.endpoint).await?;
        }
        Ok(c)
    }

    /// The key's newest row (a tombstone included): (kv, deleted).
    async fn newest(c: &Client, key: &str) -> Result<Option<(KeyValue, bool)>, StoreError> {
        let q = format!("SELECT {COLUMNS} FROM kine WHERE name = $1 ORDER BY id DESC LIMIT 1");
        let row = c.query_opt(&q, &[&key]).await.map_err(|e| db(&e))?;
        Ok(row.map(|r| {
            let (kv, deleted, _) = row_kv(&r);
            (kv, deleted)
        }))
    }

    /// One write: under the advisory lock, `check` judges the key's newest row and says what
    /// to insert (created, deleted, create_revision, prev_revision, value, old_value).
    async fn write(
        &self,
        key: &str,
        check: impl FnOnce(Option<(KeyValue, bool)>) -> Result<Insert, StoreError>,
    ) -> Result<KeyValue, StoreError> {
        let mut c = self.writer.lock().await;
        if c.is_closed() {
            *c = connect::connect(&self.endpoint).await?;
        }
        let tx = c.transaction().await.map_err(|e| db(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .await
            .map_err(|e| db(&e))?;
        let q = format!("SELECT {COLUMNS} FROM kine WHERE name = $1 ORDER BY id DESC LIMIT 1");
        let newest = tx
            .query_opt(&q, &[&key])
            .await
            .map_err(|e| db(&e))?
            .map(|r| {
                let (kv, deleted, _) = row_kv(&r);
                (kv, deleted)
            });
        let ins = check(newest)?;
        let row = tx
            .query_one(
                "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $7) RETURNING id",
                &[
                    &key,
                    &i32::from(ins.created),
                    &i32::from(ins.deleted),
                    &ins.create_revision,
                    &ins.prev_revision,
                    &ins.value.as_ref(),
                    &ins.old_value.as_deref(),
                ],
            )
            .await
            .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        let id: i64 = row.get(0);
        self.poll.wake();
        Ok(KeyValue {
            key: Arc::from(key),
            value: ins.value,
            create_revision: if ins.created { id } else { ins.create_revision },
            mod_revision: id,
        })
    }

    /// Compare-and-swap of an existing key: a new value, or a tombstone for `None`.
    async fn swap(
        &self,
        key: &str,
        value: Option<Bytes>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.write(key, |newest| {
            let current = match newest {
                Some((kv, false)) => kv,
                _ => return Err(StoreError::NotFound(key.to_owned())),
            };
            if current.mod_revision != expected {
                return Err(StoreError::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: Some(current),
                });
            }
            let deleted = value.is_none();
            Ok(Insert {
                created: false,
                deleted,
                create_revision: current.create_revision,
                prev_revision: current.mod_revision,
                value: value.unwrap_or_else(|| current.value.clone()),
                old_value: Some(current.value.to_vec()),
            })
        })
        .await
    }

    async fn compacted(c: &Client) -> Result<Revision, StoreError> {
        let row = c
            .query_opt(
                "SELECT prev_revision FROM kine WHERE name = $1 ORDER BY id DESC LIMIT 1",
                &[&COMPACT_KEY],
            )
            .await
            .map_err(|e| db(&e))?;
        Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)).unwrap_or(0))
    }

    async fn current(c: &Client) -> Result<Revision, StoreError> {
        let row = c
            .query_one("SELECT COALESCE(MAX(id), 0) FROM kine", &[])
            .await
            .map_err(|e| db(&e))?;
        Ok(row.get(0))
    }
}

/// What a write inserts.
struct Insert {
    created: bool,
    deleted: bool,
    create_revision: Revision,
    prev_revision: Revision,
    value: Bytes,
    old_value: Option<Vec<u8>>,
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Self::current(&*self.reader().await?).await
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Self::compacted(&*self.reader().await?).await
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let c = self.reader().await?;
        Ok(Self::newest(&c, key)
            .await?
            .and_then(|(kv, deleted)| (!deleted).then_some(kv)))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        self.write(key, |newest| match newest {
            Some((_, false)) => Err(StoreError::AlreadyExists(key.to_owned())),
            other => Ok(Insert {
                created: true,
                deleted: false,
                create_revision: 0,
                prev_revision: other.map_or(0, |(kv, _)| kv.mod_revision),
                value,
                old_value: None,
            }),
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.swap(key, Some(value), expected).await
    }

    async fn delete(&self, key: &str, expected: Revision) -> Result<KeyValue, StoreError> {
        self.swap(key, None, expected).await
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        let c = self.reader().await?;
        let current = Self::current(&c).await?;
        let rev = if revision <= 0 { current } else { revision };
        if rev > current {
            return Err(StoreError::FutureRevision {
                requested: rev,
                current,
            });
        }
        let compacted = Self::compacted(&c).await?;
        if rev < compacted {
            return Err(StoreError::Compacted {
                requested: rev,
                compacted,
            });
        }
        let from = if start.is_empty() || start < prefix {
            prefix
        } else {
            start
        };
        // TEXT holds no NUL: a start of `k\0` (the key after `k`, how pages continue) is
        // "every key above `k`", since NUL is the smallest byte.
        let (from, op) = match from.split_once('\0') {
            Some((k, _)) => (k, ">"),
            None => (from, ">="),
        };
        // One more than asked, to know whether more remain.
        let fetch = if limit == 0 {
            i64::MAX
        } else {
            limit as i64 + 1
        };
        let q = format!(
            "SELECT {COLUMNS} FROM kine kv JOIN (SELECT MAX(m.id) AS mid FROM kine m \
             WHERE m.name LIKE $1 AND m.name {op} $2 AND m.id <= $3 GROUP BY m.name) latest \
             ON latest.mid = kv.id WHERE kv.deleted = 0 ORDER BY kv.name LIMIT $4"
        );
        let rows = c
            .query(&q, &[&like(prefix), &from, &rev, &fetch])
            .await
            .map_err(|e| db(&e))?;
        let mut items: Vec<KeyValue> = rows.iter().map(|r| row_kv(r).0).collect();
        let more = limit > 0 && items.len() > limit;
        items.truncate(if limit == 0 { items.len() } else { limit });
        Ok(ListResult {
            revision: rev,
            items,
            more,
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        let c = self.reader().await?;
        let compacted = Self::compacted(&c).await?;
        if after < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        self.poll.subscribe(&c, prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut c = self.writer.lock().await;
        if c.is_closed() {
            *c = connect::connect(&self.endpoint).await?;
        }
        compact(&mut c, revision).await
    }
}

/// kine's compaction: rows replaced by a row at or before `revision`, and tombstones at or
/// before it, are deleted; `compact_rev_key` records the point.
pub(crate) async fn compact(c: &mut Client, revision: Revision) -> Result<(), StoreError> {
    let tx = c.transaction().await.map_err(|e| db(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await
        .map_err(|e| db(&e))?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(id), 0) FROM kine WHERE name <> $1",
            &[&COMPACT_KEY],
        )
        .await
        .map_err(|e| db(&e))?
        .get(0);
    let target = revision.min(current);
    let done: Option<i64> = tx
        .query_opt(
            "SELECT prev_revision FROM kine WHERE name = $1 ORDER BY id DESC LIMIT 1",
            &[&COMPACT_KEY],
        )
        .await
        .map_err(|e| db(&e))?
        .and_then(|r| r.get(0));
    if done.is_some_and(|d| d >= target) || target <= 0 {
        return tx.commit().await.map_err(|e| db(&e));
    }
    tx.execute(
        "DELETE FROM kine AS kv USING (SELECT kp.prev_revision AS id FROM kine AS kp \
         WHERE kp.name <> $1 AND kp.prev_revision <> 0 AND kp.id <= $2 \
         UNION SELECT kd.id AS id FROM kine AS kd WHERE kd.deleted <> 0 AND kd.id <= $2) AS ks \
         WHERE kv.id = ks.id",
        &[&COMPACT_KEY, &target],
    )
    .await
    .map_err(|e| db(&e))?;
    if done.is_some() {
        tx.execute(
            "UPDATE kine SET prev_revision = $2 WHERE name = $1",
            &[&COMPACT_KEY, &target],
        )
        .await
        .map_err(|e| db(&e))?;
    } else {
        // kine's marker row: created and deleted set so it never reads as a key.
        tx.execute(
            "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value) \
             VALUES ($1, 0, 1, 0, $2, 0, NULL, NULL)",
            &[&COMPACT_KEY, &target],
        )
        .await
        .map_err(|e| db(&e))?;
    }
    tx.commit().await.map_err(|e| db(&e))
}

/// Whether a compaction is due after `current` with the last point `compacted`.
pub(crate) fn compaction_due(current: Revision, compacted: Revision) -> Option<Revision> {
    (current - compacted >= 2 * WINDOW).then_some(current - WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_literally() {
        assert_eq!(like("/registry/a_b%"), "/registry/a\\_b\\%%");
        assert_eq!(compaction_due(2500, 0), Some(1500));
        assert_eq!(compaction_due(1500, 0), None);
    }
}

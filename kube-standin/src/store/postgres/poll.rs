//! Watches over the `kine` table, as kine feeds them: one task per store polls for rows
//! after the last one it saw (at once after a local write, else every 100 ms, so writes of
//! other API servers sharing the database arrive too), hands each to the watchers of its
//! prefix, and compacts the table to keep kine's window of revisions.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc};
use tokio_postgres::Client;

use super::{COLUMNS, COMPACT_KEY, db, like, row_event};
use crate::store::{Event, Revision, StoreError, Watch};

/// How often the table is looked at when nothing local woke the poller.
const EVERY: Duration = Duration::from_millis(100);
/// Rows read per poll.
const BATCH: i64 = 1000;

struct Watcher {
    prefix: String,
    /// Only events after this revision (the watch's start).
    after: Revision,
    tx: mpsc::UnboundedSender<Event>,
    progress: Arc<AtomicI64>,
}

struct State {
    /// Every row up to here has been handed out.
    last: Revision,
    watchers: Vec<Watcher>,
}

/// The poller of one store.
pub struct Poller {
    state: Mutex<State>,
    wake: Notify,
}

impl Poller {
    /// Starts polling on `client` from revision `start`.
    pub fn start(client: Client, start: Revision) -> Arc<Poller> {
        let p = Arc::new(Poller {
            state: Mutex::new(State {
                last: start,
                watchers: Vec::new(),
            }),
            wake: Notify::new(),
        });
        tokio::spawn(run(Arc::downgrade(&p), client));
        p
    }

    /// Polls now (a local write just committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A watch of `prefix` after `after`: the rows up to the poller's position read on `c`,
    /// then live ones; under the state lock, so nothing is missed or sent twice.
    pub async fn subscribe(
        &self,
        c: &Client,
        prefix: &str,
        after: Revision,
    ) -> Result<Watch, StoreError> {
        let mut state = self.state.lock().await;
        let (tx, rx) = mpsc::unbounded_channel();
        let q = format!(
            "SELECT {COLUMNS} FROM kine WHERE id > $1 AND id <= $2 AND name LIKE $3 AND name <> $4 ORDER BY id"
        );
        let rows = c
            .query(&q, &[&after, &state.last, &like(prefix), &COMPACT_KEY])
            .await
            .map_err(|e| db(&e))?;
        for r in &rows {
            let _ = tx.send(row_event(r));
        }
        let progress = Arc::new(AtomicI64::new(state.last.max(after)));
        state.watchers.push(Watcher {
            prefix: prefix.to_owned(),
            after,
            tx,
            progress: progress.clone(),
        });
        Ok(Watch {
            events: rx,
            progress,
        })
    }
}

/// Until the store is dropped: poll, hand out, compact now and then.
async fn run(p: std::sync::Weak<Poller>, mut client: Client) {
    let mut polls: u32 = 0;
    loop {
        let Some(poller) = p.upgrade() else { return };
        if client.is_closed() {
            // The database went away; the store's own connections reconnect on use, this
            // one waits for the next round.
            tokio::time::sleep(EVERY * 10).await;
            continue;
        }
        let last = poller.state.lock().await.last;
        let q = format!("SELECT {COLUMNS} FROM kine WHERE id > $1 ORDER BY id LIMIT $2");
        if let Ok(rows) = client.query(&q, &[&last, &BATCH]).await {
            let mut state = poller.state.lock().await;
            for r in rows {
                let e = row_event(&r);
                let rev = e.kv.mod_revision;
                if rev <= state.last {
                    continue;
                }
                state.last = rev;
                if &*e.kv.key == COMPACT_KEY {
                    continue;
                }
                state.watchers.retain(|w| {
                    if rev > w.after && e.kv.key.starts_with(w.prefix.as_str()) {
                        return w.tx.send(e.clone()).is_ok();
                    }
                    !w.tx.is_closed()
                });
            }
            let at = state.last;
            for w in &state.watchers {
                w.progress.store(at.max(w.after), Ordering::Release);
            }
        }
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(100) {
            compact_if_due(&mut client).await;
        }
        // Holding the poller for at most one period: a dropped store ends the task next round.
        let _ = tokio::time::timeout(EVERY, poller.wake.notified()).await;
    }
}

/// Keeps kine's window of history (the API server never asks this store to compact).
async fn compact_if_due(client: &mut Client) {
    let Ok(row) = client
        .query_one(
            "SELECT COALESCE(MAX(id), 0), COALESCE((SELECT prev_revision FROM kine WHERE name = $1 ORDER BY id DESC LIMIT 1), 0) FROM kine",
            &[&COMPACT_KEY],
        )
        .await
    else {
        return;
    };
    if let Some(target) = super::compaction_due(row.get(0), row.get(1)) {
        let _ = super::compact(client, target).await;
    }
}

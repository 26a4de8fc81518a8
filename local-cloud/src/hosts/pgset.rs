//! The realizer's PostgreSQL servers: one `pg::PgActor` per VNet-integrated flexible server
//! record, kept in line with the store like the VMs' actors, and what their operations
//! wait for.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::pg::{self, PgActor, PgState, PgWant};
use super::pgserver::{self, Install};
use super::pgspec::PgSpec;
use super::realizer::{Inner, lock};
use crate::arm::store::Hold;

#[derive(Debug)]
struct Entry {
    tx: watch::Sender<PgWant>,
    state: Arc<Mutex<PgState>>,
    task: tokio::task::JoinHandle<()>,
}

/// Every server's actor.
#[derive(Debug)]
pub(super) struct PgServers {
    entries: Mutex<HashMap<String, Entry>>,
    retiring: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The machine's PostgreSQL installations, found once.
    installs: Arc<Vec<Install>>,
    next_veth: AtomicU32,
    /// One lock per server name, held by its actor (`PgActor::life`).
    lives: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether the directories of servers deleted while the cloud was down are gone.
    swept: AtomicBool,
}

impl PgServers {
    pub fn new() -> Self {
        Self {
            entries: Mutex::default(),
            retiring: Mutex::default(),
            installs: Arc::new(pgserver::installed()),
            next_veth: AtomicU32::new(0),
            lives: Mutex::default(),
            swept: AtomicBool::new(false),
        }
    }

    /// The full version (`15.18`) that serves a request for major `requested`, if any.
    pub fn version_for(&self, requested: &str) -> Option<String> {
        pgserver::pick(&self.installs, requested).map(|i| i.full.clone())
    }

    /// Brings the servers in line with the records; the first time, removes the
    /// directories of servers that no longer exist.
    pub fn sync(&self, inner: &Arc<Inner>, specs: Vec<PgSpec>) {
        if !self.swept.swap(true, Ordering::SeqCst) {
            let live: HashSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let root = inner.data_dir.join(pg::PG_DIR);
            for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live.contains(name.as_str()) {
                    tracing::info!(server = %name, "removing the data of a deleted PostgreSQL server");
                    // Nothing is mounted there: the servers' mounts live in their own mount
                    // namespaces.
                    if let Err(err) = std::fs::remove_dir_all(e.path()) {
                        tracing::warn!(error = %err, "leftover PostgreSQL directory not removed");
                    }
                }
            }
        }
        let mut entries = lock(&self.entries);
        let seen: HashSet<String> = specs.iter().map(|s| s.key.clone()).collect();
        for spec in specs {
            match entries.get(&spec.key) {
                Some(e) => {
                    e.tx.send_if_modified(|cur| {
                        let changed = !matches!(cur, PgWant::Run(s) if **s == spec);
                        if changed {
                            *cur = PgWant::Run(Box::new(spec.clone()));
                        }
                        changed
                    });
                }
                None => {
                    let n = self.next_veth.fetch_add(1, Ordering::Relaxed);
                    let state = Arc::new(Mutex::new(PgState::default()));
                    let actor = PgActor {
                        inner: inner.clone(),
                        state: state.clone(),
                        installs: self.installs.clone(),
                        netns: format!("{}-pg-{}", inner.prefix, spec.name),
                        veth: format!("{}p{n}", inner.prefix),
                        dir: pg::server_dir(&inner.data_dir, &spec.name),
                        life: lock(&self.lives)
                            .entry(spec.name.clone())
                            .or_default()
                            .clone(),
                    };
                    let key = spec.key.clone();
                    let (tx, rx) = watch::channel(PgWant::Run(Box::new(spec)));
                    let task = tokio::spawn(actor.run(rx));
                    entries.insert(key, Entry { tx, state, task });
                }
            }
        }
        let gone: Vec<String> = entries
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(e) = entries.remove(&k) {
                e.tx.send_replace(PgWant::Remove);
                lock(&self.retiring).push(e.task);
            }
        }
    }

    /// What the operation `op` on server or database `key` waits for.
    pub fn hold(&self, key: &str, op: &str) -> Hold {
        let server = key.split("/databases/").next().unwrap_or(key);
        let entries = lock(&self.entries);
        match entries.get(server) {
            Some(e) => pg::hold(&lock(&e.state), key, op),
            None => Hold::Wait, // not seen by `sync` yet
        }
    }

    /// Stops every server (data kept) and waits.
    pub async fn shutdown(&self) {
        let mut tasks: Vec<_> = std::mem::take(&mut *lock(&self.retiring));
        for (_, e) in lock(&self.entries).drain() {
            e.tx.send_replace(PgWant::Down);
            tasks.push(e.task);
        }
        for t in tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "PostgreSQL server task failed");
            }
        }
    }
}

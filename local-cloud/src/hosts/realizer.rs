//! The host realizer: follows the store's VM records and keeps one actor task per VM in
//! line with it (running, stopped, or gone), and the PostgreSQL servers' actors
//! (`pgset`). A VM's create operation is held (see `store::OpGate`) until its sshd
//! answers, a server's until it accepts a login, so `Succeeded` means reachable.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::claim::Claims;
use super::forward::Forwarders;
use super::lbspec::LbSpec;
use super::pgset::PgServers;
use super::pgspec::PgSpec;
use super::{HostError, HostInfo, HostSpec, HostState, actor, cleanup, exe, net, sys};
use crate::arm::store::{AddressClaims, Hold, OpGate};
use crate::error::ErrorDetail;

/// Subdirectory of the data dir holding one directory per host.
const HOSTS_DIR: &str = "hosts";
/// File in the hosts dir naming this instance's interface prefix.
const INSTANCE_FILE: &str = ".instance";

#[derive(Debug, Clone)]
pub(super) enum Want {
    Run(HostSpec),
    Stop(HostSpec),
    /// Tear down but keep the disk (cloud shutdown).
    Down,
    /// Tear down and delete the disk (VM deleted).
    Remove,
}

#[derive(Debug)]
struct Entry {
    tx: watch::Sender<Want>,
    info: Arc<Mutex<HostInfo>>,
    task: tokio::task::JoinHandle<()>,
}

/// Shared by the actors.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) prefix: String,
    pub(super) dir: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) config_name: String,
    pub(super) bridge: tokio::sync::Mutex<net::Bridge>,
    pub(super) next_veth: AtomicU32,
    /// The executable every host runs as its init.
    pub(super) host_exe: PathBuf,
    /// The cloud's time factor, told to the hosts (`HOST_INFO`).
    pub(super) time_factor: f64,
    /// The public addresses this cloud holds on the machine.
    pub(super) claims: Arc<Claims>,
    /// The cloud's CA certificate (PEM), given to every host and PostgreSQL server.
    pub(super) ca_pem: String,
}

/// The task that keeps the load balancers' forwarders in line with the store.
type LbTask = (watch::Sender<Vec<LbSpec>>, tokio::task::JoinHandle<()>);

/// Realizes VM records as hosts. One per local cloud with `realize_hosts`.
#[derive(Debug)]
pub struct Realizer {
    inner: Arc<Inner>,
    entries: Mutex<HashMap<String, Entry>>,
    retiring: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    lbs: Mutex<Option<LbTask>>,
    pg: PgServers,
    /// Set by `shutdown`; otherwise dropping tears the hosts down synchronously.
    shut: std::sync::atomic::AtomicBool,
}

impl Drop for Realizer {
    fn drop(&mut self) {
        if !self.shut.load(Ordering::SeqCst) {
            tracing::warn!("local cloud dropped without shutdown: tearing its hosts down");
            cleanup::blocking_teardown(&self.inner.prefix);
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Realizer {
    /// Checks root, tools and the hosts' init executable (`host_exe`, see `exe::locate`),
    /// picks this data dir's interface prefix, and removes what a crashed previous run left
    /// (processes, namespaces, links, mounts, disks of VMs that no longer exist; disks of
    /// `live` VMs are kept). `time_factor` is the cloud's, told to every host.
    pub async fn new(
        data_dir: &Path,
        live: &HashSet<String>,
        host_exe: Option<&Path>,
        time_factor: f64,
    ) -> Result<Self, HostError> {
        sys::preflight()?;
        let host_exe = exe::locate(host_exe)?;
        // Absolute paths: they go into mount options, the chroot and the hiding tmpfs.
        let data_dir = &data_dir.canonicalize().map_err(|source| HostError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        let dir = data_dir.join(HOSTS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| HostError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let prefix = instance_prefix(&dir)?;
        let config_name = format!("sshd_config.{prefix}");
        let ca_path = data_dir.join(crate::tls::CA_FILE);
        let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| HostError::Io {
            path: ca_path.display().to_string(),
            source,
        })?;
        cleanup::leftovers(&prefix, &config_name, &dir, live).await;
        let inner = Inner {
            bridge: tokio::sync::Mutex::new(net::Bridge::new(format!("{prefix}br"))),
            prefix,
            dir,
            data_dir: data_dir.to_path_buf(),
            config_name,
            next_veth: AtomicU32::new(0),
            host_exe,
            time_factor,
            claims: Arc::default(),
            ca_pem,
        };
        let inner = Arc::new(inner);
        let (tx, rx) = watch::channel(Vec::new());
        let task = tokio::spawn(lb_loop(inner.clone(), rx));
        Ok(Self {
            inner,
            entries: Mutex::new(HashMap::new()),
            retiring: Mutex::new(Vec::new()),
            lbs: Mutex::new(Some((tx, task))),
            pg: PgServers::new(),
            shut: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Brings the hosts in line with the VM records: new VMs boot, stopped ones halt,
    /// started ones boot again, vanished ones are torn down and their disks deleted.
    pub fn sync(&self, specs: Vec<HostSpec>) {
        let mut entries = lock(&self.entries);
        let mut seen = HashSet::new();
        for spec in specs {
            seen.insert(spec.key.clone());
            let want = if spec.running {
                Want::Run(spec.clone())
            } else {
                Want::Stop(spec.clone())
            };
            match entries.get(&spec.key) {
                Some(e) => {
                    e.tx.send_if_modified(|cur| {
                        let changed = match (&*cur, &want) {
                            (Want::Run(a), Want::Run(b)) | (Want::Stop(a), Want::Stop(b)) => a != b,
                            _ => true,
                        };
                        if changed {
                            *cur = want.clone();
                        }
                        changed
                    });
                }
                None => {
                    let entry = self.spawn(&spec, want);
                    entries.insert(spec.key.clone(), entry);
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
                e.tx.send_replace(Want::Remove);
                lock(&self.retiring).push(e.task);
            }
        }
    }

    fn spawn(&self, spec: &HostSpec, want: Want) -> Entry {
        let n = self.inner.next_veth.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(Mutex::new(HostInfo {
            name: spec.name.clone(),
            state: HostState::Starting,
            address: spec.ip.to_string(),
            admin_user: spec.admin_user.clone(),
            netns: format!("{}-{}", self.inner.prefix, spec.name.to_ascii_lowercase()),
            host_key_fingerprint: None,
            host_public_key: None,
            sshd_pid: None,
            error: None,
        }));
        let (tx, rx) = watch::channel(want);
        let actor = actor::Actor {
            inner: self.inner.clone(),
            info: info.clone(),
            dir: self.inner.dir.join(spec.name.to_ascii_lowercase()),
            veth: format!("{}v{n}", self.inner.prefix),
        };
        let task = tokio::spawn(actor.run(rx));
        Entry { tx, info, task }
    }

    /// Brings the PostgreSQL servers in line with the flexible server records.
    pub fn sync_postgres(&self, specs: Vec<PgSpec>) {
        self.pg.sync(&self.inner, specs);
    }

    /// Keeps a PUT's administrator password for server `name` until its server has it
    /// (`pg::stash_password`).
    pub fn stash_password(&self, name: &str, password: &str) -> Result<(), HostError> {
        super::pg::stash_password(&self.inner.data_dir, name, password)
    }

    /// The PostgreSQL version (`15.18`) that runs a server asking for major `requested`:
    /// that major if this machine has it, else its newest; `None` without PostgreSQL.
    pub fn postgres_version(&self, requested: &str) -> Option<String> {
        self.pg.version_for(requested)
    }

    /// Brings the network in line with the store: the public addresses this cloud holds
    /// (`public`, every public IP resource's) and the load balancers' forwarders.
    pub fn sync_network(&self, lbs: Vec<LbSpec>, public: &HashSet<std::net::Ipv4Addr>) {
        self.inner.claims.reconcile(public);
        if let Some((tx, _)) = lock(&self.lbs).as_ref() {
            tx.send_if_modified(|cur| {
                let changed = *cur != lbs;
                if changed {
                    *cur = lbs;
                }
                changed
            });
        }
    }

    /// What claims public addresses for this cloud before the store hands them out.
    pub fn claims(&self) -> Arc<dyn AddressClaims> {
        self.inner.claims.clone()
    }

    /// The host of VM `name` (case-insensitive), if realized.
    pub fn info(&self, name: &str) -> Option<HostInfo> {
        lock(&self.entries)
            .values()
            .map(|e| lock(&e.info).clone())
            .find(|i| i.name.eq_ignore_ascii_case(name))
    }

    /// Every realized host.
    pub fn all(&self) -> Vec<HostInfo> {
        let mut v: Vec<HostInfo> = lock(&self.entries)
            .values()
            .map(|e| lock(&e.info).clone())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Stops the forwarders, tears every host down (disks kept for a restart), waits,
    /// removes the bridge.
    pub async fn shutdown(&self) {
        let lbs = lock(&self.lbs).take();
        if let Some((tx, task)) = lbs {
            drop(tx);
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "load balancer task failed");
            }
        }
        let mut tasks: Vec<_> = std::mem::take(&mut *lock(&self.retiring));
        for (_, e) in lock(&self.entries).drain() {
            e.tx.send_replace(Want::Down);
            tasks.push(e.task);
        }
        for t in tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "host task failed");
            }
        }
        self.pg.shutdown().await;
        self.inner.bridge.lock().await.remove().await;
        self.shut.store(true, Ordering::SeqCst);
    }
}

impl OpGate for Realizer {
    fn hold(&self, vm_key: &str, op: &str) -> Hold {
        if vm_key.contains("/providers/microsoft.dbforpostgresql/") {
            return self.pg.hold(vm_key, op);
        }
        let entries = lock(&self.entries);
        let Some(e) = entries.get(vm_key) else {
            return Hold::Wait; // not seen by `sync` yet
        };
        let info = lock(&e.info);
        match info.state {
            HostState::Running | HostState::Stopped | HostState::Down => Hold::Ready,
            HostState::Starting => Hold::Wait,
            HostState::Failed => Hold::Failed(ErrorDetail {
                code: "OSProvisioningClientError".into(),
                message: info
                    .error
                    .clone()
                    .unwrap_or_else(|| "The host could not be realized.".into()),
            }),
        }
    }
}

/// Applies each new set of load balancers; stops them all when the realizer goes.
async fn lb_loop(inner: Arc<Inner>, mut rx: watch::Receiver<Vec<LbSpec>>) {
    let mut fw = Forwarders::default();
    let holds = |ip| inner.claims.holds(ip);
    loop {
        let lbs = rx.borrow_and_update().clone();
        fw.apply(&lbs, &inner.bridge, inner.time_factor, holds)
            .await;
        if rx.changed().await.is_err() {
            fw.apply(&[], &inner.bridge, inner.time_factor, holds).await;
            return;
        }
    }
}

/// This data dir's interface prefix: `plc` + 5 hex, made once. Interface names are at
/// most 15 characters: the bridge is `<prefix>br`, veths `<prefix>v<n>`.
fn instance_prefix(dir: &Path) -> Result<String, HostError> {
    let path = dir.join(INSTANCE_FILE);
    if let Ok(p) = std::fs::read_to_string(&path) {
        let p = p.trim();
        if p.len() == 8 && p.starts_with("plc") {
            return Ok(p.to_string());
        }
    }
    let p = format!("plc{}", &uuid::Uuid::new_v4().simple().to_string()[..5]);
    std::fs::write(&path, &p).map_err(|source| HostError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(p)
}

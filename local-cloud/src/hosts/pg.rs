//! VNet-integrated flexible servers as real PostgreSQL servers: one actor task per server
//! record (`pgspec::PgSpec`), which keeps a `postgres` (`pgserver`) running in a network
//! namespace of its own on the delegated subnet, applies a new administrator password
//! handed over by a PUT (`stash_password`), and creates and drops the databases that have
//! (had) records. What it reached is published in `PgState`, which holds the server's and
//! databases' operations (`hold`) until it is true.
//!
//! On disk, per server, `<data_dir>/postgres/<name>/`: `data/` (the cluster), `tls/`,
//! `pg_hba.conf`, `postgres.log`, `databases` (those made through ARM, so a database
//! created in SQL is never dropped), and `password` while a PUT's password waits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::pgserver::{self, Install, Server, sql_ident, sql_literal};
use super::pgspec::PgSpec;
use super::realizer::{Inner, lock};
use super::{HostError, net, sys};
use crate::arm::store::Hold;
use crate::error::ErrorDetail;

/// Subdirectory of the data dir holding one directory per server.
pub const PG_DIR: &str = "postgres";
/// A PUT's password waiting to be applied, in the server's directory (mode 0600).
const PASSWORD: &str = "password";
/// The databases created through ARM, one a line.
const MANAGED: &str = "databases";

/// What the realizer wants of a server.
#[derive(Debug, Clone)]
pub(super) enum PgWant {
    Run(Box<PgSpec>),
    /// Stop, keep the data (cloud shutdown).
    Down,
    /// Stop and delete the data (server deleted).
    Remove,
}

/// What a server's actor has reached.
#[derive(Debug, Default)]
pub(super) struct PgState {
    /// The operation (`PgSpec::generation`) whose spec is fully applied.
    pub applied: Option<Option<String>>,
    /// Why the last attempt failed, and for which operation.
    pub failed: Option<(Option<String>, String)>,
    /// The databases that exist and have a record.
    pub databases: BTreeSet<String>,
}

/// A server directory's path.
pub fn server_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(PG_DIR).join(name.to_ascii_lowercase())
}

/// Keeps a PUT's administrator password for the server's actor only (mode 0600, never in
/// the store, never logged); the actor applies it, checks a login with it and removes it.
pub fn stash_password(data_dir: &Path, name: &str, password: &str) -> Result<(), HostError> {
    let dir = server_dir(data_dir, name);
    std::fs::create_dir_all(&dir).map_err(|source| HostError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    crate::persist::write_atomic(&dir.join(PASSWORD), password.as_bytes(), true).map_err(|e| {
        HostError::Io {
            path: dir.join(PASSWORD).display().to_string(),
            source: std::io::Error::other(e.to_string()),
        }
    })
}

/// What a server or database operation waits for (`key`: lower-case id).
pub(super) fn hold(state: &PgState, key: &str, op: &str) -> Hold {
    let database = key.rsplit_once("/databases/").map(|(_, db)| db);
    let failed = |why: &str| {
        Hold::Failed(ErrorDetail {
            code: "InternalServerError".into(),
            message: format!("The local cloud could not realize the PostgreSQL server: {why}"),
        })
    };
    match database {
        Some(db) if state.databases.iter().any(|d| d.eq_ignore_ascii_case(db)) => Hold::Ready,
        Some(_) => match &state.failed {
            Some((_, why)) => failed(why),
            None => Hold::Wait,
        },
        None => match (&state.applied, &state.failed) {
            (Some(Some(done)), _) if done == op => Hold::Ready,
            (_, Some((Some(at), why))) if at == op => failed(why),
            _ => Hold::Wait,
        },
    }
}

/// One server's task.
pub(super) struct PgActor {
    pub inner: Arc<Inner>,
    pub state: Arc<Mutex<PgState>>,
    pub installs: Arc<Vec<Install>>,
    pub netns: String,
    pub veth: String,
    pub dir: PathBuf,
    /// Held for the actor's whole life: a server re-created under the same name (same
    /// directory and namespace) waits until the deleted one is gone.
    pub life: Arc<tokio::sync::Mutex<()>>,
}

/// The running server: its postmaster and what its namespace was made for.
struct Running {
    child: tokio::process::Child,
    spec: PgSpec,
}

impl PgActor {
    pub async fn run(self, mut rx: watch::Receiver<PgWant>) {
        let _life = self.life.clone().lock_owned().await;
        let mut running: Option<Running> = None;
        loop {
            let want = rx.borrow_and_update().clone();
            match want {
                PgWant::Run(spec) => {
                    let result = self.apply(&spec, &mut running).await;
                    let mut st = lock(&self.state);
                    match result {
                        Ok(()) => {
                            st.applied = Some(spec.generation.clone());
                            st.failed = None;
                        }
                        Err(e) => {
                            tracing::warn!(server = %spec.name, error = %e, "PostgreSQL server not realized");
                            st.failed = Some((spec.generation.clone(), e.to_string()));
                        }
                    }
                }
                PgWant::Down | PgWant::Remove => {
                    self.stop(running.take()).await;
                    if matches!(want, PgWant::Remove)
                        && let Err(e) = sys::remove_dir(&self.dir).await
                    {
                        tracing::warn!(error = %e, "PostgreSQL server directory not removed");
                    }
                    return;
                }
            }
            if rx.changed().await.is_err() {
                self.stop(running.take()).await;
                return;
            }
        }
    }

    fn server(&self, install: &Install) -> Server {
        Server {
            dir: self.dir.clone(),
            netns: self.netns.clone(),
            install: install.clone(),
        }
    }

    async fn apply(&self, spec: &PgSpec, running: &mut Option<Running>) -> Result<(), HostError> {
        if let Some(p) = &spec.problem {
            return Err(HostError::Spec {
                vm: spec.name.clone(),
                detail: p.clone(),
            });
        }
        let install = pgserver::pick(&self.installs, &spec.version).ok_or_else(|| {
            HostError::Preflight(
                "PostgreSQL is not installed on this machine (apt-get install postgresql)".into(),
            )
        })?;
        let server = self.server(install);
        let pending = self.dir.join(PASSWORD);
        let password = std::fs::read_to_string(&pending).ok();
        let alive = running
            .as_mut()
            .is_some_and(|r| matches!(r.child.try_wait(), Ok(None)));
        let mut fresh = false;
        if !alive {
            self.stop(running.take()).await;
            fresh = !server.initialized();
            self.boot(spec, &server, password.as_deref()).await?;
            let child = server.start(&spec.admin, spec.ip).await?;
            *running = Some(Running {
                child,
                spec: spec.clone(),
            });
        } else if let Some(r) = running.as_mut()
            && r.spec.routes != spec.routes
        {
            net::set_routes(&self.netns, &r.spec.routes, &spec.routes).await?;
            r.spec = spec.clone();
        }
        if let Some(pw) = password {
            if !fresh {
                let stmt = format!(
                    "ALTER ROLE {} PASSWORD {};",
                    sql_ident(&spec.admin),
                    sql_literal(&pw)
                );
                // psql may quote the statement back in an error: never the password.
                server
                    .sql(&spec.admin, &stmt)
                    .await
                    .map_err(|e| HostError::Command {
                        cmd: "ALTER ROLE ... PASSWORD".into(),
                        detail: e.to_string().replace(&pw, "***"),
                    })?;
            }
            server.login(&spec.fqdn, spec.ip, &spec.admin, &pw).await?;
            // Only a password that works is forgotten; a PUT of the same one comes later.
            if std::fs::read_to_string(&pending).is_ok_and(|p| p == pw) {
                let _ = std::fs::remove_file(&pending);
            }
        }
        self.databases(spec, &server).await
    }

    /// Namespace, certificate and (first time) the cluster, before `postgres` starts.
    async fn boot(
        &self,
        spec: &PgSpec,
        server: &Server,
        password: Option<&str>,
    ) -> Result<(), HostError> {
        pgserver::owned_dir(&self.dir)?;
        if !net::netns_exists(&self.netns) {
            let bridge = {
                let mut b = self.inner.bridge.lock().await;
                b.ensure_created().await?;
                b.name.clone()
            };
            net::create_netns(
                &self.netns,
                &self.veth,
                &bridge,
                (spec.ip, spec.subnet),
                false,
            )
            .await?;
        }
        sys::kill_netns(&self.netns).await;
        net::set_routes(&self.netns, &[], &spec.routes).await?;
        let (cert, key) = crate::tls::issue_server_cert(&self.inner.data_dir, &spec.fqdn, spec.ip)
            .map_err(|e| HostError::Key(e.to_string()))?;
        pgserver::configure(&self.dir, &self.inner.ca_pem, &cert, &key)?;
        if !server.initialized() {
            let pw = password.ok_or_else(|| HostError::Spec {
                vm: spec.name.clone(),
                detail: "no administrator password to create the server with; PUT it again with administratorLoginPassword".into(),
            })?;
            server.init(&spec.admin, pw).await?;
        }
        Ok(())
    }

    /// Creates the databases with records, drops those made through ARM whose record went.
    async fn databases(&self, spec: &PgSpec, server: &Server) -> Result<(), HostError> {
        let list = server
            .sql(
                &spec.admin,
                "SELECT datname FROM pg_database WHERE NOT datistemplate;",
            )
            .await?;
        let present: BTreeSet<String> = list.lines().map(str::to_string).collect();
        let managed_path = self.dir.join(MANAGED);
        let mut managed: BTreeSet<String> = std::fs::read_to_string(&managed_path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        for db in &spec.databases {
            if !present.contains(db) {
                server
                    .sql(&spec.admin, &format!("CREATE DATABASE {};", sql_ident(db)))
                    .await?;
            }
            managed.insert(db.clone());
        }
        let gone: Vec<String> = managed
            .iter()
            .filter(|d| !spec.databases.contains(d))
            .cloned()
            .collect();
        for db in gone {
            if present.contains(&db) {
                server
                    .sql(
                        &spec.admin,
                        &format!("DROP DATABASE {} WITH (FORCE);", sql_ident(&db)),
                    )
                    .await?;
            }
            managed.remove(&db);
        }
        let text: String = managed.iter().map(|d| format!("{d}\n")).collect();
        super::rootfs::write(&managed_path, &text, 0o600)?;
        lock(&self.state).databases = spec.databases.iter().cloned().collect();
        Ok(())
    }

    /// Fast shutdown of the postmaster (SIGINT), then whatever is left in the namespace,
    /// and the namespace.
    async fn stop(&self, running: Option<Running>) {
        if let Some(mut r) = running {
            if let Some(pid) = r.child.id() {
                sys::kill(&[pid], "INT").await;
            }
            if tokio::time::timeout(std::time::Duration::from_secs(10), r.child.wait())
                .await
                .is_err()
            {
                tracing::warn!(netns = %self.netns, "a PostgreSQL server did not stop within 10 s");
            }
        }
        sys::kill_netns(&self.netns).await;
        net::remove_netns(&self.netns, &self.veth).await;
    }
}

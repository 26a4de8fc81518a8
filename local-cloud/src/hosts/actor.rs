//! One host's actor: a task that applies the latest wanted state (run, stop, down,
//! remove) of its VM, one transition at a time, and publishes the host's state.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::realizer::{Inner, Want, lock};
use super::{HostError, HostInfo, HostSpec, HostState, host, net, rootfs, sys};

/// One host's task: applies the latest wanted state until told to go.
pub(super) struct Actor {
    pub inner: Arc<Inner>,
    pub info: Arc<Mutex<HostInfo>>,
    pub dir: PathBuf,
    pub veth: String,
}

impl Actor {
    fn set(&self, state: HostState, error: Option<String>, pid: Option<u32>) {
        let mut i = lock(&self.info);
        i.state = state;
        i.error = error;
        i.sshd_pid = pid;
    }

    pub async fn run(self, mut rx: watch::Receiver<Want>) {
        let netns = lock(&self.info).netns.clone();
        let mut booted: Option<host::Booted> = None;
        let mut failed = false;
        // The routes and names the running host has (they follow the VNet without a reboot).
        let mut applied: Option<HostSpec> = None;
        loop {
            let want = rx.borrow_and_update().clone();
            match want {
                Want::Run(spec) if booted.is_none() && !failed => {
                    self.set(HostState::Starting, None, None);
                    match self.boot(&spec, &netns).await {
                        Ok(b) => {
                            tracing::debug!(vm = %spec.name, "host running");
                            self.set(HostState::Running, None, b.sshd_pid());
                            booted = Some(b);
                            applied = Some(spec);
                        }
                        Err(e) => {
                            tracing::warn!(vm = %spec.name, error = %e, "host failed");
                            self.set(HostState::Failed, Some(e.to_string()), None);
                            failed = true;
                        }
                    }
                }
                Want::Run(spec) => {
                    if let Some(old) = applied.as_mut().filter(|_| booted.is_some())
                        && (old.routes != spec.routes || old.names != spec.names)
                    {
                        let upper = self.dir.join("upper");
                        let done = match net::set_routes(&netns, &old.routes, &spec.routes).await {
                            Ok(()) => super::image::write_names(&upper, &spec.names),
                            Err(e) => Err(e),
                        };
                        match done {
                            Ok(()) => *old = spec,
                            Err(e) => {
                                tracing::warn!(vm = %spec.name, error = %e, "host network not updated")
                            }
                        }
                    }
                }
                Want::Stop(_) => {
                    if let Some(b) = booted.take() {
                        b.halt(&netns).await;
                    }
                    failed = false;
                    self.set(HostState::Stopped, None, None);
                }
                Want::Down | Want::Remove => {
                    self.teardown(booted.take(), &netns, matches!(want, Want::Remove))
                        .await;
                    return;
                }
            }
            if rx.changed().await.is_err() {
                self.teardown(booted.take(), &netns, false).await;
                return;
            }
        }
    }

    async fn boot(&self, spec: &HostSpec, netns: &str) -> Result<host::Booted, HostError> {
        if let Some(p) = &spec.problem {
            return Err(HostError::Spec {
                vm: spec.name.clone(),
                detail: p.clone(),
            });
        }
        self.inner
            .bridge
            .lock()
            .await
            .ensure_subnet(spec.subnet)
            .await?;
        std::fs::create_dir_all(&self.dir).map_err(|source| HostError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        let (public, fp) = rootfs::host_key(&self.dir)?;
        {
            let mut i = lock(&self.info);
            i.host_public_key = Some(public);
            i.host_key_fingerprint = Some(fp);
        }
        let upper = rootfs::prepare(
            &self.dir,
            spec,
            &self.inner.config_name,
            self.inner.time_factor,
        )?;
        super::image::write_names(&upper, &spec.names)?;
        rootfs::write(
            &upper.join(super::HOST_CA.trim_start_matches('/')),
            &self.inner.ca_pem,
            0o644,
        )?;
        if !net::netns_exists(netns) {
            let bridge = self.inner.bridge.lock().await.name.clone();
            net::create_netns(netns, &self.veth, &bridge, (spec.ip, spec.subnet), true).await?;
        }
        net::set_routes(netns, &[], &spec.routes).await?;
        let plan = host::BootPlan {
            dir: &self.dir,
            data_dir: &self.inner.data_dir,
            netns,
            config_name: &self.inner.config_name,
            init: &self.inner.host_exe,
        };
        host::boot(&plan, spec).await
    }

    async fn teardown(&self, booted: Option<host::Booted>, netns: &str, delete_disk: bool) {
        match booted {
            Some(b) => b.halt(netns).await,
            None => sys::kill_netns(netns).await,
        }
        net::remove_netns(netns, &self.veth).await;
        if delete_disk && let Err(e) = sys::remove_dir(&self.dir).await {
            tracing::warn!(error = %e, "host directory not removed");
        }
        self.set(HostState::Down, None, None);
    }
}

//! One host's lifecycle: boot (namespaces, overlay root, init, sshd) and shutdown.
//!
//! A booted host is one process tree in a PID namespace of its own:
//! `unshare --mount --uts --ipc --pid --fork --kill-child` runs a shell as the namespace's
//! PID 1 that mounts the overlay root (`lowerdir=/`, the host's own upper/work dirs), binds
//! `/dev` (with its own `/dev/shm`, `/dev/pts` and `/dev/mqueue`), mounts the namespace's
//! own `/proc`, puts a tmpfs on `/run`, `/tmp` and over the local cloud's data dir (so a
//! host sees neither the CA key, nor other hosts' disks, nor the machine's or other hosts'
//! temporary files; the data dir's path reads as an empty directory even when it lies
//! under `/tmp`), binds the init executable read-only at `guest::INIT_PATH`, sets the
//! hostname, then execs `ip netns exec NETNS chroot MERGED init`: still PID 1, now the
//! host's init (`crate::guest`), which starts sshd. Every mount lives only in that private
//! mount namespace and every process in that PID namespace, so killing the init (or the
//! `unshare` above it, whose death kills it) leaves nothing of the host behind.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::sys::{host_init, kill, kill_netns, listener};
use super::{HostError, HostSpec};
use crate::guest::{INIT_FLAG, INIT_PATH};

/// How long a booting sshd may take to accept connections.
const BOOT_TIMEOUT: Duration = Duration::from_secs(20);
/// The host's console: the init's output (and what it logs of the host's boot), inside the
/// host's directory.
pub const LOG: &str = "console.log";

/// A running host: the `unshare` process above its init.
#[derive(Debug)]
pub struct Booted {
    child: tokio::process::Child,
    sshd: Option<u32>,
}

/// Single-quotes `s` for `sh`.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Names and paths one boot needs.
#[derive(Debug)]
pub struct BootPlan<'a> {
    pub dir: &'a Path,
    pub data_dir: &'a Path,
    pub netns: &'a str,
    pub config_name: &'a str,
    /// The machine's path of the executable that becomes the host's init.
    pub init: &'a Path,
}

/// The shell script PID 1 runs before it becomes the host's init.
fn script(plan: &BootPlan<'_>, hostname: &str) -> Result<String, HostError> {
    let path = |d: &str| plan.dir.join(d).to_string_lossy().into_owned();
    let (upper, work, merged) = (path("upper"), path("work"), path("merged"));
    for p in [&upper, &work] {
        // Overlay's option syntax has no escaping.
        if p.contains([',', ':']) {
            return Err(HostError::Preflight(format!(
                "the host directory {p} contains ',' or ':', which overlayfs cannot take"
            )));
        }
    }
    Ok(format!(
        "set -e\n\
         M={m}\n\
         mount -t overlay overlay -o lowerdir=/,upperdir={u},workdir={w} \"$M\"\n\
         mount --rbind /dev \"$M/dev\"\n\
         mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m tmpfs \"$M/dev/shm\"\n\
         mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts \"$M/dev/pts\"\n\
         if [ -d \"$M/dev/mqueue\" ]; then mount -t mqueue mqueue \"$M/dev/mqueue\"; fi\n\
         mount -t proc -o nosuid,nodev,noexec proc \"$M/proc\"\n\
         mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m tmpfs \"$M/run\"\n\
         mkdir -p \"$M/run/sshd\" \"$M/run/lock\"\n\
         chmod 1777 \"$M/run/lock\"\n\
         mount -t tmpfs -o mode=1777,nosuid,nodev,size=512m tmpfs \"$M/tmp\"\n\
         mkdir -p \"$M\"{hide}\n\
         mount -t tmpfs -o mode=0700,size=1m tmpfs \"$M\"{hide}\n\
         mount --bind {exe} \"$M{INIT_PATH}\"\n\
         mount -o remount,bind,ro \"$M{INIT_PATH}\"\n\
         hostname {h}\n\
         exec ip netns exec {ns} sh -c 'mount -t sysfs sysfs \"$0/sys\"; exec chroot \"$0\" {INIT_PATH} {INIT_FLAG} --sshd-config {cfg}' \"$M\"\n",
        m = sq(&merged),
        u = sq(&upper),
        w = sq(&work),
        hide = sq(&plan.data_dir.to_string_lossy()),
        exe = sq(&plan.init.to_string_lossy()),
        h = sq(hostname),
        ns = sq(plan.netns),
        cfg = plan.config_name,
    ))
}

/// Starts the host's process tree and waits until its sshd answers with a banner.
pub async fn boot(plan: &BootPlan<'_>, spec: &HostSpec) -> Result<Booted, HostError> {
    let script = script(plan, &spec.hostname)?;
    let log_path = plan.dir.join(LOG);
    let (log, log2) = super::sys::append_log(&log_path)?;
    let mut child = tokio::process::Command::new("unshare")
        .args(["--mount", "--uts", "--ipc", "--pid", "--fork"])
        .args(["--kill-child=SIGKILL", "--propagation", "private"])
        .args(["sh", "-c"])
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| HostError::Command {
            cmd: "unshare ... init".into(),
            detail: e.to_string(),
        })?;
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(HostError::Boot {
                vm: spec.name.clone(),
                detail: format!("the host's init exited ({status}): {}", log_tail(&log_path)),
            });
        }
        if banner(spec.ip).await {
            let sshd = match host_init(plan.netns).await {
                Some(init) => listener(plan.netns, init, "sshd").await,
                None => None,
            };
            return Ok(Booted { child, sshd });
        }
        if started.elapsed() > BOOT_TIMEOUT {
            let _ = child.kill().await;
            kill_netns(plan.netns).await;
            return Err(HostError::Boot {
                vm: spec.name.clone(),
                detail: format!(
                    "sshd did not answer within {BOOT_TIMEOUT:?}: {}",
                    log_tail(&log_path)
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether an SSH server answers on `ip:22` with its banner.
async fn banner(ip: Ipv4Addr) -> bool {
    let addr = SocketAddr::from((ip, 22));
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut buf = [0u8; 8];
        s.read_exact(&mut buf).await.ok()?;
        Some(buf.starts_with(b"SSH-"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(true))
    )
}

/// The last lines of a log, for an error message.
pub(super) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

impl Booted {
    /// The machine's pid of the host's sshd listener when it booted.
    pub fn sshd_pid(&self) -> Option<u32> {
        self.sshd
    }

    /// Ends the host: kills its init, which takes every process of its PID namespace with
    /// it (the mounts go with the last of them), then anything else left in its network
    /// namespace.
    pub async fn halt(mut self, netns: &str) {
        if let Some(init) = host_init(netns).await {
            kill(&[init], "KILL").await;
        }
        let _ = self.child.start_kill();
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                netns,
                "a host's unshare did not end after its init was killed"
            );
        }
        kill_netns(netns).await;
    }
}

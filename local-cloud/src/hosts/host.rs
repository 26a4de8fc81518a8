//! One host's lifecycle: boot (namespace, overlay root, sshd) and shutdown.
//!
//! A booted host is one long-lived process tree: `unshare --mount --uts --ipc` runs a shell
//! that mounts the overlay root (`lowerdir=/`, the host's own upper/work dirs), binds
//! `/dev` (with its own `/dev/shm`, `/dev/pts` and `/dev/mqueue`) and `/proc`, puts a tmpfs
//! on `/run`, `/tmp` and over the local cloud's data dir (so a host sees neither the CA
//! key, nor other hosts' disks, nor the machine's or other hosts' temporary files; the data
//! dir's path reads as an empty directory even when it lies under `/tmp`), sets
//! the hostname, then execs `ip netns exec NETNS chroot MERGED sshd -D`. Every mount lives
//! only in that private mount namespace, so killing the namespace's processes leaves no
//! mount behind.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::sys::{SSHD, kill_netns};
use super::{HostError, HostSpec};

/// How long a booting sshd may take to accept connections.
const BOOT_TIMEOUT: Duration = Duration::from_secs(20);
/// The file sshd writes its log to inside the host's directory.
pub const LOG: &str = "sshd.log";

/// A running host's sshd process.
#[derive(Debug)]
pub struct Booted {
    child: tokio::process::Child,
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
}

/// Starts the host's process tree and waits until its sshd answers with a banner.
pub async fn boot(plan: &BootPlan<'_>, spec: &HostSpec) -> Result<Booted, HostError> {
    let dir = plan.dir;
    let path = |d: &str| dir.join(d).to_string_lossy().into_owned();
    let (upper, work, merged) = (path("upper"), path("work"), path("merged"));
    for p in [&upper, &work] {
        // Overlay's option syntax has no escaping.
        if p.contains([',', ':']) {
            return Err(HostError::Preflight(format!(
                "the host directory {p} contains ',' or ':', which overlayfs cannot take"
            )));
        }
    }
    let hide = plan.data_dir.to_string_lossy();
    let script = format!(
        "set -e\n\
         M={m}\n\
         mount -t overlay overlay -o lowerdir=/,upperdir={u},workdir={w} \"$M\"\n\
         mount --rbind /dev \"$M/dev\"\n\
         mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m tmpfs \"$M/dev/shm\"\n\
         mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts \"$M/dev/pts\"\n\
         if [ -d \"$M/dev/mqueue\" ]; then mount -t mqueue mqueue \"$M/dev/mqueue\"; fi\n\
         mount --bind /proc \"$M/proc\"\n\
         mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m tmpfs \"$M/run\"\n\
         mkdir -p \"$M/run/sshd\" \"$M/run/lock\"\n\
         chmod 1777 \"$M/run/lock\"\n\
         mount -t tmpfs -o mode=1777,nosuid,nodev,size=512m tmpfs \"$M/tmp\"\n\
         mkdir -p \"$M\"{hide}\n\
         mount -t tmpfs -o mode=0700,size=1m tmpfs \"$M\"{hide}\n\
         hostname {h}\n\
         exec ip netns exec {ns} sh -c 'mount -t sysfs sysfs \"$0/sys\"; exec chroot \"$0\" {SSHD} -D -e -f /etc/ssh/{cfg}' \"$M\"\n",
        m = sq(&merged),
        u = sq(&upper),
        w = sq(&work),
        hide = sq(&hide),
        h = sq(&spec.hostname),
        ns = sq(plan.netns),
        cfg = plan.config_name,
    );
    let log_path = dir.join(LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| HostError::Io {
            path: log_path.display().to_string(),
            source,
        })?;
    let log2 = log.try_clone().map_err(|source| HostError::Io {
        path: log_path.display().to_string(),
        source,
    })?;
    let mut child = tokio::process::Command::new("unshare")
        .args([
            "--mount",
            "--uts",
            "--ipc",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| HostError::Command {
            cmd: "unshare ... sshd".into(),
            detail: e.to_string(),
        })?;
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(HostError::Boot {
                vm: spec.name.clone(),
                detail: format!("sshd exited ({status}): {}", log_tail(&log_path)),
            });
        }
        if banner(spec.ip).await {
            return Ok(Booted { child });
        }
        if started.elapsed() > BOOT_TIMEOUT {
            kill_netns(plan.netns).await;
            let _ = child.kill().await;
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

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

impl Booted {
    /// The sshd listener's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops sshd and every session: all processes of the namespace (the mounts go with
    /// the last of them).
    pub async fn halt(mut self, netns: &str) {
        kill_netns(netns).await;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

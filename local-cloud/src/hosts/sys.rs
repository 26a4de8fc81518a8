//! Running the system tools hosts are made of (`ip`, `unshare`, `mount`, ...) and checking
//! at start that they, and root, are there.

use std::path::Path;
use std::process::Stdio;

use super::HostError;

/// Debian's OpenSSH server.
pub const SSHD: &str = "/usr/sbin/sshd";

/// The Debian packages hosts need, as one command a user can paste.
pub const INSTALL_HINT: &str = "apt-get install openssh-server sudo iproute2";

/// Runs `prog args...`, returning stdout; a non-zero exit is an error carrying stderr.
pub async fn run(prog: &str, args: &[&str]) -> Result<String, HostError> {
    let out = tokio::process::Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| HostError::Command {
            cmd: format!("{prog} {}", args.join(" ")),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(HostError::Command {
            cmd: format!("{prog} {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like `run`, for commands whose failure is expected in cleanup (already gone).
pub async fn run_quiet(prog: &str, args: &[&str]) {
    if let Err(e) = run(prog, args).await {
        tracing::debug!(error = %e, "cleanup command failed (likely nothing to clean)");
    }
}

/// The effective uid of this process, from `/proc/self/status` (no unsafe `geteuid`).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn on_path(name: &str) -> bool {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .any(|d| d.join(name).is_file())
}

/// Checks root and the tools hosts need; the error names exactly what to do.
pub fn preflight() -> Result<(), HostError> {
    if euid() != Some(0) {
        return Err(HostError::Preflight(
            "realizing VMs as hosts needs root (network namespaces, mounts, sshd); \
             run `platform local-cloud serve --hosts` as root, or serve without --hosts"
                .into(),
        ));
    }
    let mut missing = Vec::new();
    if !Path::new(SSHD).is_file() {
        missing.push("sshd (openssh-server)");
    }
    if !on_path("sudo") {
        missing.push("sudo");
    }
    if !on_path("ip") {
        missing.push("ip (iproute2)");
    }
    for tool in ["unshare", "chroot", "mount", "mknod", "hostname"] {
        if !on_path(tool) {
            missing.push(tool);
        }
    }
    if !missing.is_empty() {
        return Err(HostError::Preflight(format!(
            "realizing VMs as hosts needs {}: install them with `{INSTALL_HINT}` \
             (unshare, chroot, mount, mknod, hostname come with util-linux/coreutils/mount)",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Pids of every process in network namespace `netns` (empty if it does not exist).
pub async fn netns_pids(netns: &str) -> Vec<u32> {
    match run("ip", &["netns", "pids", netns]).await {
        Ok(out) => out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A field of `/proc/<pid>/status` (`PPid`, `NSpid`, `Name`, ...).
fn status_field(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// The machine's pid of the host init of namespace `netns`: the process of it that is PID 1
/// of a PID namespace below the machine's.
pub async fn host_init(netns: &str) -> Option<u32> {
    netns_pids(netns).await.into_iter().find(|pid| {
        status_field(*pid, "NSpid").is_some_and(|ns| {
            let levels: Vec<&str> = ns.split_whitespace().collect();
            levels.len() > 1 && levels.last() == Some(&"1")
        })
    })
}

/// The machine's pid of the child of `parent` in `netns` named `name` (its `comm`).
pub async fn listener(netns: &str, parent: u32, name: &str) -> Option<u32> {
    let parent = parent.to_string();
    netns_pids(netns).await.into_iter().find(|pid| {
        status_field(*pid, "PPid").as_deref() == Some(parent.as_str())
            && status_field(*pid, "Name").as_deref() == Some(name)
    })
}

/// Sends `signal` to each pid, ignoring those already gone.
pub async fn kill(pids: &[u32], signal: &str) {
    if pids.is_empty() {
        return;
    }
    let mut args = vec![format!("-{signal}")];
    args.extend(pids.iter().map(u32::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_quiet("kill", &args).await;
}

/// Kills every process in `netns`: TERM, then KILL for what is left after a short grace.
pub async fn kill_netns(netns: &str) {
    let pids = netns_pids(netns).await;
    if pids.is_empty() {
        return;
    }
    kill(&pids, "TERM").await;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        if netns_pids(netns).await.is_empty() {
            return;
        }
    }
    kill(&netns_pids(netns).await, "KILL").await;
}

/// `path` opened for appending (created if needed) twice, for a child's stdout and stderr.
pub fn append_log(path: &Path) -> Result<(std::fs::File, std::fs::File), HostError> {
    let io = |source| HostError::Io {
        path: path.display().to_string(),
        source,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let log2 = log.try_clone().map_err(io)?;
    Ok((log, log2))
}

/// Mount points at or below `dir` in this mount namespace (deepest first).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let prefix = dir.to_string_lossy().trim_end_matches('/').to_string();
    let mut found: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.len()));
    found
}

/// Removes a host directory, first lazily unmounting anything mounted under it, and refusing
/// to recurse if a mount is still there (it could lead into the machine's own root).
pub async fn remove_dir(dir: &Path) -> Result<(), HostError> {
    for m in mounts_under(dir) {
        run_quiet("umount", &["-l", &m]).await;
    }
    if !mounts_under(dir).is_empty() {
        return Err(HostError::Command {
            cmd: format!("rm -r {}", dir.display()),
            detail: "something is still mounted below it".into(),
        });
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HostError::Io {
            path: dir.display().to_string(),
            source: e,
        }),
    }
}

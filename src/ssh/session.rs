//! SSH sessions: one ControlMaster connection per host (the system `ssh` client, spoken to
//! through its mux socket by the `openssh` crate: no process per command), host keys pinned
//! in the cluster's `known_hosts`, retries while a fresh VM boots. Commands: `exec.rs`.

use openssh::{KnownHosts, Session, SessionBuilder};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::host::HostError;
use super::known_hosts;
use super::target::Target;

/// How sessions are opened.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The cluster's `known_hosts` (`<state_dir>/known_hosts`).
    pub known_hosts: PathBuf,
    /// Where master sockets live; short, because unix socket paths are limited to ~100 bytes.
    pub control_dir: PathBuf,
    /// Private key; `None` leaves the choice to ssh (agent, `~/.ssh/config`).
    pub keyfile: Option<PathBuf>,
    /// Login user for targets whose inventory sets none.
    pub default_user: String,
    /// `ProxyJump` host (`[user@]host[:port]`), for nodes without a public address.
    pub jump_host: Option<String>,
    /// An ssh config file instead of the user's `~/.ssh/config` (which is honoured by default).
    pub ssh_config: Option<PathBuf>,
    /// TCP connect timeout of one attempt.
    pub connect_timeout: Duration,
    /// `ServerAliveInterval`: a host that stops answering is declared dead after 3 intervals.
    pub keepalive: Duration,
    /// How long to keep retrying refused/unroutable connections (a VM still booting).
    pub boot_wait: Duration,
}

impl SshOptions {
    /// Defaults with host keys pinned in `known_hosts` and master sockets in `control_dir`
    /// (see `crate::paths::Paths` for the cluster's own).
    pub fn new(known_hosts: PathBuf, control_dir: PathBuf, default_user: &str) -> SshOptions {
        SshOptions {
            known_hosts,
            control_dir,
            keyfile: None,
            default_user: default_user.to_owned(),
            jump_host: None,
            ssh_config: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(5),
            boot_wait: Duration::from_secs(120),
        }
    }
}

/// Creates `dir` with mode 0700 and checks that we own it (it may be under `/tmp`).
fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::create_dir_all(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    let me = std::fs::metadata("/proc/self")?.uid();
    if !meta.is_dir() || meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by this user",
            dir.display()
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// A connected host: one master connection, every command multiplexed over it.
#[derive(Debug)]
pub struct SshHost {
    pub(super) name: String,
    address: String,
    port: u16,
    pub(super) session: Session,
}

/// What a failed connection attempt means.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    KeyChanged,
    /// Worth retrying while the host boots (refused, no route, sshd not ready).
    Booting,
    /// The key is not (yet) authorized: cloud-init may still be writing it; retried briefly.
    Auth,
    Fatal,
}

fn classify(log: &str) -> Failure {
    const BOOTING: &[&str] = &[
        "Connection refused",
        "No route to host",
        "Connection timed out",
        "Network is unreachable",
        "Connection reset",
        "Connection closed by",
        "kex_exchange_identification",
        "banner exchange",
    ];
    if known_hosts::is_key_mismatch(log) {
        Failure::KeyChanged
    } else if BOOTING.iter().any(|p| log.contains(p)) {
        Failure::Booting
    } else if log.contains("Permission denied (") {
        Failure::Auth
    } else {
        Failure::Fatal
    }
}

/// The full text of an openssh error: for connection errors, ssh's own log.
pub(super) fn error_text(e: &openssh::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

impl SshHost {
    /// Opens the master connection to `target`, retrying with backoff (0.25 s doubling to
    /// 4 s) while it is refused or unroutable, for up to `boot_wait`. A changed host key is
    /// refused at once.
    pub async fn connect(target: &Target, opts: &SshOptions) -> Result<SshHost, HostError> {
        let name = target.name.clone();
        let other = |message: String| HostError::Other {
            host: name.clone(),
            message,
        };
        target.check().map_err(other)?;
        ensure_private_dir(&opts.control_dir)
            .map_err(|e| other(format!("control directory: {e}")))?;
        if let Some(dir) = opts.known_hosts.parent() {
            std::fs::create_dir_all(dir).map_err(|e| other(format!("known_hosts: {e}")))?;
        }
        let known_before =
            !known_hosts::recorded_keys(&opts.known_hosts, &target.address, target.port)
                .await
                .is_empty();
        let mut b = SessionBuilder::default();
        b.user(
            target
                .user
                .clone()
                .unwrap_or_else(|| opts.default_user.clone()),
        )
        .port(target.port)
        // accept-new: records a new key, refuses a changed one (never `no`).
        .known_hosts_check(KnownHosts::Add)
        .user_known_hosts_file(&opts.known_hosts)
        .connect_timeout(opts.connect_timeout)
        .server_alive_interval(opts.keepalive)
        .control_directory(&opts.control_dir);
        if let Some(k) = target.keyfile.as_ref().or(opts.keyfile.as_ref()) {
            b.keyfile(k);
        }
        if let Some(j) = &opts.jump_host {
            b.jump_hosts([j]);
        }
        if let Some(c) = &opts.ssh_config {
            b.config_file(c);
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0u32;
        let session = loop {
            attempt += 1;
            let log = match b.connect_mux(&target.address).await {
                Ok(s) => break s,
                Err(e) => error_text(&e),
            };
            let kind = classify(&log);
            let budget = match kind {
                Failure::Booting => opts.boot_wait,
                Failure::Auth => opts.boot_wait.min(Duration::from_secs(20)),
                Failure::KeyChanged => {
                    return Err(other(
                        known_hosts::mismatch_message(
                            &opts.known_hosts,
                            &name,
                            &target.address,
                            target.port,
                            &log,
                        )
                        .await,
                    ));
                }
                Failure::Fatal => Duration::ZERO,
            };
            if started.elapsed() + delay > budget {
                return Err(HostError::Unreachable {
                    host: name,
                    message: format!("{} (after {attempt} attempts)", last_line(&log)),
                });
            }
            tracing::debug!(host = %name, attempt, error = %last_line(&log), "ssh not ready, retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(4));
        };
        if !known_before {
            for key in
                known_hosts::recorded_keys(&opts.known_hosts, &target.address, target.port).await
            {
                tracing::info!(
                    "trusting new host key {} {} for {name} ({})",
                    key.algorithm(),
                    known_hosts::fingerprint(&key),
                    known_hosts::host_key_name(&target.address, target.port)
                );
            }
        }
        Ok(SshHost {
            name,
            address: target.address.clone(),
            port: target.port,
            session,
        })
    }

    /// The address connected to.
    pub fn address(&self) -> (&str, u16) {
        (&self.address, self.port)
    }

    /// The master's control socket (`ssh -S` can share the connection, e.g. for debugging).
    pub fn control_socket(&self) -> &Path {
        self.session.control_socket()
    }

    /// Whether the master connection is still alive.
    pub async fn check(&self) -> bool {
        self.session.check().await.is_ok()
    }

    /// Closes the master connection (dropping does too, synchronously).
    pub async fn close(self) {
        if let Err(e) = self.session.close().await {
            tracing::debug!(host = %self.name, error = %e, "closing the ssh master");
        }
    }

    pub(super) fn unreachable(&self, message: impl Into<String>) -> HostError {
        HostError::Unreachable {
            host: self.name.clone(),
            message: message.into(),
        }
    }
}

/// The last non-empty line of a log (ssh puts the reason there).
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            classify("ssh: connect to host 10.0.0.4 port 22: Connection refused"),
            Failure::Booting
        );
        assert_eq!(
            classify("kex_exchange_identification: read: Connection reset by peer"),
            Failure::Booting
        );
        assert_eq!(
            classify("u@h: Permission denied (publickey)."),
            Failure::Auth
        );
        assert_eq!(
            classify(
                "@@@\nWARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed."
            ),
            Failure::KeyChanged
        );
        assert_eq!(
            classify("ssh: Could not resolve hostname x"),
            Failure::Fatal
        );
    }
}

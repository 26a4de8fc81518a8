//! SSH sessions: one ControlMaster connection per host (the system `ssh` client, spoken to
//! through its mux socket by the `openssh` crate: no process per command), host keys pinned
//! in the cluster's `known_hosts`, retries while a fresh VM boots, and [`Host`] on top.

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

use super::host::{ExecOutput, ExecRequest, Host, HostError, shell_quote};
use super::known_hosts;
use super::targets::Target;

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
    /// Defaults for a cluster whose state lives in `state_dir`.
    pub fn new(state_dir: &Path, default_user: &str) -> SshOptions {
        SshOptions {
            known_hosts: state_dir.join("known_hosts"),
            control_dir: control_dir_for(state_dir),
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

/// `<state_dir>/ssh` when short enough for socket paths (the crate adds
/// `/.ssh-connectionXXXXXX/master` and ssh a 17-byte temporary suffix), else
/// `/tmp/plat-<hash of state_dir>`.
pub fn control_dir_for(state_dir: &Path) -> PathBuf {
    let preferred = state_dir.join("ssh");
    if preferred.as_os_str().len() <= 50 {
        return preferred;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(state_dir.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("/tmp/plat-{}", &hex::encode(hash)[..12]))
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
    name: String,
    address: String,
    port: u16,
    session: Session,
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
fn error_text(e: &openssh::Error) -> String {
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
        if let Some(k) = &opts.keyfile {
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

    fn unreachable(&self, message: impl Into<String>) -> HostError {
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

/// The remote command line: env exports, `timeout` (remote, so the process really dies) and
/// `sudo -n` for become (outermost, so the timeout and env apply to the root process).
pub fn remote_command(req: &ExecRequest<'_>) -> Result<String, String> {
    let mut script = String::new();
    for (k, v) in req.env {
        if k.is_empty()
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || k.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!("invalid environment variable name {k:?}"));
        }
        script.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    script.push_str(req.command);
    let mut cmd = format!("/bin/sh -c {}", shell_quote(&script));
    if let Some(t) = req.timeout {
        cmd = format!("timeout -k 5 {:.3}s {cmd}", t.as_secs_f64());
    }
    if req.become_root {
        cmd = format!("sudo -n -- {cmd}");
    }
    Ok(cmd)
}

#[async_trait::async_trait]
impl Host for SshHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
        let cmd = remote_command(&req).map_err(|message| HostError::Other {
            host: self.name.clone(),
            message,
        })?;
        let started = Instant::now();
        let mut command = self.session.raw_command(&cmd);
        command
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn().await {
            Ok(c) => c,
            Err(e) => return Err(self.unreachable(error_text(&e))),
        };
        let stdin = child.stdin().take();
        let feed = async {
            if let (Some(data), Some(mut pipe)) = (req.stdin, stdin) {
                // A command that exits without reading its stdin is not an error here.
                let _ = pipe.write_all(data).await;
                let _ = pipe.shutdown().await;
            }
        };
        let run = async {
            let (_, out) = tokio::join!(feed, child.wait_with_output());
            out
        };
        // Local backstop in case the remote `timeout` could not run.
        let out = match req.timeout {
            Some(t) => match tokio::time::timeout(t + Duration::from_secs(10), run).await {
                Ok(out) => out,
                Err(_) => {
                    return Err(HostError::Timeout {
                        host: self.name.clone(),
                        after: t,
                    });
                }
            },
            None => run.await,
        };
        match out {
            Ok(o) => {
                let status = o.status.code().unwrap_or(-1);
                if let Some(t) = req.timeout
                    && (status == 124 || status == 137)
                    && started.elapsed() >= t
                {
                    return Err(HostError::Timeout {
                        host: self.name.clone(),
                        after: t,
                    });
                }
                Ok(ExecOutput {
                    status,
                    stdout: o.stdout,
                    stderr: o.stderr,
                })
            }
            // The mux protocol cannot tell a killed process from a lost connection: ask the
            // master whether it is still up.
            Err(e @ (openssh::Error::Disconnected | openssh::Error::RemoteProcessTerminated)) => {
                if self.check().await {
                    Err(HostError::Other {
                        host: self.name.clone(),
                        message: format!("{e} (killed by a signal?)"),
                    })
                } else {
                    Err(self.unreachable(format!("{e} (ssh connection lost)")))
                }
            }
            Err(e) => Err(self.unreachable(error_text(&e))),
        }
    }
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

    #[test]
    fn remote_command_nests_env_timeout_and_sudo() {
        let env = vec![("A_1".to_owned(), "x y".to_owned())];
        let req = ExecRequest {
            command: "echo $A_1",
            env: &env,
            become_root: true,
            timeout: Some(Duration::from_millis(1500)),
            ..Default::default()
        };
        assert_eq!(
            remote_command(&req).unwrap(),
            "sudo -n -- timeout -k 5 1.500s /bin/sh -c 'export A_1='\\''x y'\\''\necho $A_1'"
        );
        let bad = vec![("1A".to_owned(), String::new())];
        let req = ExecRequest {
            command: "true",
            env: &bad,
            ..Default::default()
        };
        assert!(remote_command(&req).is_err());
    }

    #[test]
    fn control_dir_is_short() {
        assert_eq!(control_dir_for(Path::new("/s")), Path::new("/s/ssh"));
        let long = PathBuf::from(format!("/{}", "x".repeat(80)));
        let d = control_dir_for(&long);
        assert!(d.starts_with("/tmp") && d.as_os_str().len() < 30, "{d:?}");
    }
}

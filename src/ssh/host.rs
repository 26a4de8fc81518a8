//! The one seam between node work (playbooks, k3s install) and how a command reaches a host.
//!
//! Everything a task does is a shell command with optional stdin: file transfers are
//! `cat > tmp && mv` on the far side, so they work the same with and without `become`
//! (sudo) and need no second channel. The SSH implementation multiplexes these over one
//! connection per host; [`LocalHost`] runs them on this machine (tests, `--connection local`).

use std::time::Duration;

/// One command to run on a host.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest<'a> {
    /// Run by `/bin/sh -c` on the host.
    pub command: &'a str,
    /// Bytes written to the command's stdin (then stdin is closed).
    pub stdin: Option<&'a [u8]>,
    /// Extra environment variables for the command.
    pub env: &'a [(String, String)],
    /// Run as root through `sudo -n` (Ansible's `become`).
    pub become_root: bool,
    /// Kill the command after this long (k3s's installer can block forever).
    pub timeout: Option<Duration>,
}

/// What a finished command returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a command could not be run (as opposed to running and failing).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{host}: unreachable: {message}")]
    Unreachable { host: String, message: String },
    #[error("{host}: command timed out after {after:?}")]
    Timeout { host: String, after: Duration },
    #[error("{host}: {message}")]
    Other { host: String, message: String },
}

/// A host that runs shell commands.
#[async_trait::async_trait]
pub trait Host: Send + Sync {
    /// The inventory name of the host.
    fn name(&self) -> &str;
    /// Runs one command and waits for it.
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError>;
}

/// Quotes a string for a POSIX shell (single quotes, `'` as `'\''`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Wraps a command for `become`: `sudo -n -- /bin/sh -c '<command>'` (non-interactive: a
/// host without passwordless sudo fails at once instead of hanging on a prompt).
pub fn become_command(command: &str) -> String {
    format!("sudo -n -- /bin/sh -c {}", shell_quote(command))
}

/// Runs commands on this machine with `/bin/sh -c`; `become_root` uses sudo unless already
/// root.
#[derive(Debug, Clone)]
pub struct LocalHost {
    name: String,
}

impl LocalHost {
    /// A local host with an inventory name.
    pub fn new(name: impl Into<String>) -> Self {
        LocalHost { name: name.into() }
    }
}

#[async_trait::async_trait]
impl Host for LocalHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
        use tokio::io::AsyncWriteExt;
        let is_root = std::env::var("USER").is_ok_and(|u| u == "root")
            || std::fs::metadata("/proc/self")
                .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        let command = if req.become_root && !is_root {
            become_command(req.command)
        } else {
            req.command.to_owned()
        };
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(&command).kill_on_drop(true);
        cmd.envs(req.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let other = |e: std::io::Error| HostError::Other {
            host: self.name.clone(),
            message: e.to_string(),
        };
        let mut child = cmd.spawn().map_err(other)?;
        let mut stdin = child.stdin.take();
        if let (Some(data), Some(pipe)) = (req.stdin, stdin.as_mut()) {
            pipe.write_all(data).await.map_err(other)?;
        }
        drop(stdin);
        let wait = child.wait_with_output();
        let out = match req.timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| HostError::Timeout {
                    host: self.name.clone(),
                    after: t,
                })?,
            None => wait.await,
        }
        .map_err(other)?;
        Ok(ExecOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(shell_quote("plain/path-1.txt"), "plain/path-1.txt");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            become_command("echo 'hi'"),
            r"sudo -n -- /bin/sh -c 'echo '\''hi'\'''"
        );
    }

    #[tokio::test]
    async fn local_host_runs_with_stdin_env_and_timeout() {
        let h = LocalHost::new("here");
        let env = vec![("GREETING".to_owned(), "hello".to_owned())];
        let out = h
            .exec(ExecRequest {
                command: "printf '%s ' \"$GREETING\"; cat; exit 3",
                stdin: Some(b"world"),
                env: &env,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, b"hello world");
        let slow = h
            .exec(ExecRequest {
                command: "sleep 5",
                timeout: Some(Duration::from_millis(100)),
                ..Default::default()
            })
            .await;
        assert!(matches!(slow, Err(HostError::Timeout { .. })), "{slow:?}");
    }
}

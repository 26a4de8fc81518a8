//! Running commands over an [`SshHost`]'s master connection: each command is one mux
//! channel (no process), with env, stdin, become through `sudo -n`, and a timeout enforced
//! on the host by `timeout(1)` so a hung command really dies there.

use openssh::Stdio;
use std::time::{Duration, Instant};

use super::capture;
use super::host::{ExecOutput, ExecRequest, Host, HostError, shell_quote, with_env};
use super::session::{SshHost, error_text};

/// Waits until cloud-init has finished on `host` (`cloud-init status --wait`), so node work
/// does not race first-boot provisioning; hosts without cloud-init return at once. Exit 2
/// ("done, with recoverable errors") counts as finished, as it does for cloud-init itself.
pub async fn wait_for_cloud_init(
    host: &dyn Host,
    timeout: Duration,
) -> Result<ExecOutput, HostError> {
    let out = host
        .exec(ExecRequest {
            command: "command -v cloud-init >/dev/null 2>&1 || exit 0; \
                      cloud-init status --wait >/dev/null; rc=$?; [ $rc -eq 2 ] && exit 0; exit $rc",
            timeout: Some(timeout),
            ..Default::default()
        })
        .await?;
    if out.status != 0 {
        return Err(HostError::Other {
            host: host.name().to_owned(),
            message: format!(
                "cloud-init failed (status {}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out)
}

/// The remote command line and the bytes to send ahead of stdin: `timeout` (remote, so the
/// process really dies), `sudo -n` for become (outermost, so the timeout and env apply to
/// the root process), the script and its positional arguments, each quoted as one word for
/// the login shell. Environment values are not in it: they go on stdin ([`with_env`]).
pub fn remote_command(req: &ExecRequest<'_>) -> Result<(String, Vec<u8>), String> {
    let (script, env_line) = with_env(req)?;
    let mut cmd = format!("/bin/sh -c {} sh", shell_quote(&script));
    for a in req.args {
        cmd.push(' ');
        cmd.push_str(&shell_quote(a));
    }
    if let Some(t) = req.timeout {
        cmd = format!("timeout -k 5 {:.3}s {cmd}", t.as_secs_f64());
    }
    if req.become_root {
        cmd = format!("sudo -n -- {cmd}");
    }
    Ok((cmd, env_line))
}

#[async_trait::async_trait]
impl Host for SshHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
        let (cmd, env_line) = remote_command(&req).map_err(|message| HostError::Other {
            host: self.name.clone(),
            message,
        })?;
        let started = Instant::now();
        let mut command = self.session.raw_command(&cmd);
        let feeds = req.stdin.is_some() || !env_line.is_empty();
        command
            .stdin(if feeds { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn().await {
            Ok(c) => c,
            Err(e) => return Err(self.unreachable(error_text(&e))),
        };
        let (stdin, stdout, stderr) = (
            child.stdin().take(),
            child.stdout().take(),
            child.stderr().take(),
        );
        let run = async {
            let parts = [&env_line[..], req.stdin.unwrap_or_default()];
            // Output first: the wait ends the streams when it resolves (openssh's own order).
            let io = capture::exchange(stdin, &parts, stdout, stderr, req.limit()).await;
            let status = child.wait().await?;
            Ok::<_, openssh::Error>((status, io.map_err(openssh::Error::ChildIo)?))
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
            Ok((status, (stdout, stderr))) => {
                let status = status.code().unwrap_or(-1);
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
                    stdout: stdout.0,
                    stderr: stderr.0,
                    stdout_dropped: stdout.1,
                    stderr_dropped: stderr.1,
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
    use std::path::PathBuf;

    #[test]
    fn remote_command_nests_timeout_and_sudo_and_keeps_env_values_off_it() {
        let env = vec![("A_1".to_owned(), "s3cret x'y\nz".to_owned())];
        let args = vec!["arg one".to_owned(), "$(id)".to_owned()];
        let req = ExecRequest {
            command: "echo $A_1 \"$1\"",
            args: &args,
            env: &env,
            become_root: true,
            timeout: Some(Duration::from_millis(1500)),
            ..Default::default()
        };
        let (cmd, stdin) = remote_command(&req).unwrap();
        // `sudo`'s argument list (what `ps` shows every user) carries no value.
        assert!(!cmd.contains("s3cret"), "{cmd}");
        assert!(
            cmd.starts_with("sudo -n -- timeout -k 5 1.500s /bin/sh -c 'IFS= read -r"),
            "{cmd}"
        );
        assert!(
            cmd.ends_with("echo $A_1 \"$1\"' sh 'arg one' '$(id)'"),
            "{cmd}"
        );
        assert_eq!(
            String::from_utf8(stdin).unwrap(),
            "export A_1='s3cret x'\\''y'\"$__platform_nl\"z\n"
        );
        let bad = vec![("1A".to_owned(), String::new())];
        let req = ExecRequest {
            command: "true",
            env: &bad,
            ..Default::default()
        };
        assert!(remote_command(&req).is_err());
    }

    #[tokio::test]
    async fn the_remote_command_line_runs_with_env_from_stdin() {
        // What the login shell on the host does with our command line, played locally.
        let env = vec![("A_1".to_owned(), "s3cret x'y\nz $(id) `id`".to_owned())];
        let args = vec!["arg one".to_owned()];
        let req = ExecRequest {
            command: "printf '%s|%s|' \"$A_1\" \"$1\"; cat",
            args: &args,
            env: &env,
            stdin: Some(b"data"),
            ..Default::default()
        };
        let (cmd, env_line) = remote_command(&req).unwrap();
        let mut stdin = env_line;
        stdin.extend_from_slice(b"data");
        let out = super::super::host::LocalHost::new("here")
            .exec(ExecRequest {
                command: &cmd,
                stdin: Some(&stdin),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "s3cret x'y\nz $(id) `id`|arg one|data"
        );
    }

    #[tokio::test]
    async fn cloud_init_wait_passes_without_cloud_init_and_reports_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let host = super::super::host::LocalHost::new("here");
        let fake = |rc: i32| {
            let script = dir.path().join("cloud-init");
            std::fs::write(&script, format!("#!/bin/sh\necho boom >&2\nexit {rc}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        // Without cloud-init (this machine, unless it has one) there is nothing to wait for.
        if !which_cloud_init() {
            assert!(
                wait_for_cloud_init(&host, Duration::from_secs(5))
                    .await
                    .is_ok()
            );
        }
        // PATH is changed per command (PathHost): the test must not alter the process env.
        fake(2);
        let h = PathHost {
            inner: host.clone(),
            dir: dir.path().to_owned(),
        };
        assert!(
            wait_for_cloud_init(&h, Duration::from_secs(5))
                .await
                .is_ok()
        );
        fake(1);
        let err = wait_for_cloud_init(&h, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("cloud-init failed (status 1)"),
            "{err}"
        );
    }

    fn which_cloud_init() -> bool {
        std::process::Command::new("sh")
            .args(["-c", "command -v cloud-init"])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A local host with a directory prepended to PATH for its commands.
    struct PathHost {
        inner: super::super::host::LocalHost,
        dir: PathBuf,
    }

    #[async_trait::async_trait]
    impl Host for PathHost {
        fn name(&self) -> &str {
            self.inner.name()
        }
        async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
            let command = format!("PATH={}:$PATH; {}", self.dir.display(), req.command);
            self.inner
                .exec(ExecRequest {
                    command: &command,
                    ..req
                })
                .await
        }
    }
}

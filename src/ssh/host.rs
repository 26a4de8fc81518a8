//! The one seam between node work (playbooks, k3s install) and how a command reaches a host.
//!
//! Everything a task does is a shell command with optional stdin: file transfers are
//! `cat > tmp && mv` on the far side, so they work the same with and without `become`
//! (sudo) and need no second channel. The SSH implementation multiplexes these over one
//! connection per host; [`LocalHost`] runs them on this machine (tests, `--connection local`).

use std::time::Duration;

use super::capture::{self, DEFAULT_OUTPUT_LIMIT};

/// One command to run on a host.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest<'a> {
    /// Run by `/bin/sh -c` on the host.
    pub command: &'a str,
    /// Positional parameters of the command (`$1`, `$2`...): how user values reach a script
    /// without ever being part of its text.
    pub args: &'a [String],
    /// Bytes written to the command's stdin (then stdin is closed).
    pub stdin: Option<&'a [u8]>,
    /// Extra environment variables for the command. Their values reach the shell on stdin,
    /// ahead of [`stdin`](Self::stdin), never on a command line that `ps` shows.
    pub env: &'a [(String, String)],
    /// Run as root through `sudo -n` (Ansible's `become`).
    pub become_root: bool,
    /// Kill the command after this long (k3s's installer can block forever).
    pub timeout: Option<Duration>,
    /// Bytes of each output stream kept (the tail); `None` is [`DEFAULT_OUTPUT_LIMIT`].
    pub output_limit: Option<usize>,
}

impl ExecRequest<'_> {
    /// The number of bytes of each stream to keep.
    pub fn limit(&self) -> usize {
        self.output_limit.unwrap_or(DEFAULT_OUTPUT_LIMIT)
    }
}

/// What a finished command returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
    /// The tail of stdout (a first line says so when earlier bytes were dropped).
    pub stdout: Vec<u8>,
    /// The tail of stderr, likewise.
    pub stderr: Vec<u8>,
    /// Bytes of stdout dropped before the kept tail (0: `stdout` is complete).
    pub stdout_dropped: u64,
    /// Bytes of stderr dropped before the kept tail.
    pub stderr_dropped: u64,
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
    /// Runs one command and waits for it. Implementations pass `args` as positional
    /// parameters, deliver `env` as [`with_env`] does, and keep at most
    /// [`ExecRequest::limit`] bytes of each output stream.
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError>;
}

/// Quotes a string for a POSIX shell (single quotes, `'` as `'\''`): the result is one
/// word whose value is exactly `s`, whatever `s` holds (`;`, `$()`, backticks, quotes,
/// newlines). Tested against a real `/bin/sh` in `tests::quoting_round_trips_through_sh`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `name` is a POSIX environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The script and the stdin prefix that carry `req.env` to the shell: the values travel as
/// one line on stdin (`export K='v' ...`, evaluated by the script's first lines), so they
/// never appear in an argument list (with `become`, `sudo`'s argv is readable by every user
/// through `ps`). The names are checked; values may not hold NUL bytes.
pub fn with_env(req: &ExecRequest<'_>) -> Result<(String, Vec<u8>), String> {
    if req.env.is_empty() {
        return Ok((req.command.to_owned(), Vec::new()));
    }
    let mut line = String::from("export");
    for (k, v) in req.env {
        if !is_env_name(k) {
            return Err(format!(
                "invalid environment variable name {k:?} (allowed: letters, digits and _, not starting with a digit)"
            ));
        }
        if v.contains('\0') {
            return Err(format!(
                "the value of environment variable {k} holds a NUL byte"
            ));
        }
        // A newline would end the line: each one is spliced in from a variable instead.
        let value = v
            .split('\n')
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join("\"$__platform_nl\"");
        line.push_str(&format!(" {k}={value}"));
    }
    line.push('\n');
    let script = format!(
        "IFS= read -r __platform_env || {{ echo 'platform: the environment was not received on stdin' >&2; exit 125; }}\n\
         __platform_nl='\n'\n\
         eval \"$__platform_env\"; unset __platform_env __platform_nl\n{}",
        req.command
    );
    Ok((script, line.into_bytes()))
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
        let other = |message: String| HostError::Other {
            host: self.name.clone(),
            message,
        };
        let (script, env_line) = with_env(&req).map_err(other)?;
        let is_root = std::fs::metadata("/proc/self")
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        // An argument vector, not a command line: nothing here is parsed by a shell.
        let mut cmd = if req.become_root && !is_root {
            let mut c = tokio::process::Command::new("sudo");
            c.args(["-n", "--", "/bin/sh"]);
            c
        } else {
            tokio::process::Command::new("/bin/sh")
        };
        cmd.arg("-c").arg(&script).arg("sh").args(req.args);
        cmd.kill_on_drop(true)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let io = |e: std::io::Error| other(e.to_string());
        let mut child = cmd.spawn().map_err(io)?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let run = async {
            let parts = [&env_line[..], req.stdin.unwrap_or_default()];
            let (out, err) = capture::exchange(stdin, &parts, stdout, stderr, req.limit()).await?;
            Ok::<_, std::io::Error>((child.wait().await?, out, err))
        };
        let (status, out, err) = match req.timeout {
            Some(t) => tokio::time::timeout(t, run)
                .await
                .map_err(|_| HostError::Timeout {
                    host: self.name.clone(),
                    after: t,
                })?,
            None => run.await,
        }
        .map_err(io)?;
        Ok(ExecOutput {
            status: status.code().unwrap_or(-1),
            stdout: out.0,
            stderr: err.0,
            stdout_dropped: out.1,
            stderr_dropped: err.1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that would run a command if a script took them as text.
    pub(crate) const HOSTILE: &[&str] = &[
        "a; touch /tmp/x #",
        "$(id)",
        "`id`",
        "it's",
        "say \"hi\" \\ \\\\",
        "two\nlines\n",
        "'\n$HOME'\"$HOME\"",
        "",
        " leading and trailing ",
        "-n",
        "*",
        "tab\tcr\r",
        "ünïcödé €",
    ];

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(shell_quote("plain/path-1.txt"), "plain/path-1.txt");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        for v in HOSTILE {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(v)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), *v, "{v:?}");
        }
        assert!(is_env_name("_A1") && is_env_name("a"));
        assert!(!is_env_name("1A") && !is_env_name("A-B") && !is_env_name(""));
    }

    #[tokio::test]
    async fn args_and_env_values_stay_out_of_the_script_and_argv() {
        let h = LocalHost::new("here");
        let args: Vec<String> = HOSTILE.iter().map(|s| (*s).to_owned()).collect();
        let env: Vec<(String, String)> = HOSTILE
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("V{i}"), format!("s3cret{v}")))
            .collect();
        let req = ExecRequest {
            command: "for a; do printf '%s\\0' \"$a\"; done; printf '%s\\0' \"$V0\" \"$V5\" \"$V6\"; \
                      tr '\\0' ' ' < /proc/$$/cmdline >&2; cat",
            args: &args,
            env: &env,
            stdin: Some(b"rest of stdin"),
            ..Default::default()
        };
        let (script, _) = with_env(&req).unwrap();
        assert!(
            !script.contains("touch") && !script.contains("lines"),
            "{script}"
        );
        let out = h.exec(req).await.unwrap();
        assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
        let mut want: Vec<u8> = Vec::new();
        for v in HOSTILE {
            want.extend_from_slice(v.as_bytes());
            want.push(0);
        }
        for i in [0, 5, 6] {
            want.extend_from_slice(format!("s3cret{}", HOSTILE[i]).as_bytes());
            want.push(0);
        }
        want.extend_from_slice(b"rest of stdin");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want)
        );
        // The shell's own argument list holds the arguments but no environment value.
        let argv = String::from_utf8_lossy(&out.stderr);
        assert!(argv.contains("a; touch /tmp/x #"), "{argv}");
        assert!(!argv.contains("s3cret"), "{argv}");
        let bad = vec![("1A".to_owned(), "x".to_owned())];
        let err = with_env(&ExecRequest {
            env: &bad,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.contains("\"1A\"") && err.contains("not starting with a digit"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn local_output_keeps_a_bounded_tail() {
        let out = LocalHost::new("here")
            .exec(ExecRequest {
                command: "head -c 3000000 /dev/zero | tr '\\0' x; echo END; echo err >&2",
                output_limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            (out.stdout_dropped, out.stderr_dropped),
            (3_000_004 - 1000, 0)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with("[output truncated: the first 2999004 bytes"),
            "{text}"
        );
        assert!(text.ends_with("xxEND\n") && text.len() < 1100, "{text}");
        assert_eq!(out.stderr, b"err\n");
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

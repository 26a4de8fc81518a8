//! `wait_for`: poll a TCP port or a path on the host until it is in the wanted state.
//!
//! The whole poll loop runs on the host in one exec (no round trip per attempt). A port is
//! probed with bash's `/dev/tcp` under `timeout 2`, so an unanswered SYN cannot stall a
//! probe; `host` defaults to 127.0.0.1 as in Ansible. Never `changed`; skipped in check mode.

use std::time::Duration;

use super::{ModuleCtx, Outcome};
use crate::ssh::host::{HostError, shell_quote};

pub(super) async fn run(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    // Ansible's wait_for does not run in check mode either.
    if ctx.check {
        return Ok(Outcome {
            skipped: true,
            msg: "skipped in check mode".into(),
            ..Outcome::default()
        });
    }
    let prepared = (|| -> Result<_, String> {
        let num = |k: &str, default: u64| -> Result<u64, String> {
            match ctx.str_arg(k)? {
                None => Ok(default),
                Some(s) => s
                    .parse::<u64>()
                    .map_err(|_| format!("`{k}` must be a whole number, found {s:?}")),
            }
        };
        let port = ctx.str_arg("port")?;
        if let Some(p) = &port
            && p.parse::<u16>().is_err()
        {
            return Err(format!("`port` must be a port number, found {p:?}"));
        }
        let path = ctx.str_arg("path")?;
        if port.is_some() == path.is_some() {
            return Err("give exactly one of `port` or `path`".into());
        }
        let state = ctx.str_arg("state")?.unwrap_or_else(|| "started".into());
        let want_up = match state.as_str() {
            "started" | "present" => true,
            "stopped" | "absent" => false,
            s => {
                return Err(format!(
                    "`state: {s}` is not supported; use started/present or stopped/absent"
                ));
            }
        };
        let host = ctx.str_arg("host")?.unwrap_or_else(|| "127.0.0.1".into());
        Ok((
            port,
            path,
            host,
            want_up,
            num("timeout", 300)?,
            num("delay", 0)?,
        ))
    })();
    let (port, path, host, want_up, timeout, delay) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::fail(e)),
    };
    let (probe, what) = match (&port, &path) {
        (Some(p), _) => (
            format!(
                "timeout 2 bash -c {} 2>/dev/null",
                shell_quote(&format!("exec 3<>/dev/tcp/{host}/{p}"))
            ),
            format!("port {p} on {host}"),
        ),
        (_, Some(p)) => (format!("[ -e {} ]", shell_quote(p)), format!("path {p}")),
        _ => unreachable!("checked above"),
    };
    let (hit, state_word) = if want_up { ("0", "up") } else { ("1", "down") };
    let script = format!(
        r#"sleep {delay}
end=$(( $(date +%s) + {timeout} ))
while :; do
  if {probe}; then r=0; else r=1; fi
  [ "$r" = {hit} ] && exit 0
  if [ "$(date +%s)" -ge "$end" ]; then echo {msg} >&2; exit 1; fi
  sleep 0.2
done
"#,
        msg = shell_quote(&format!(
            "Timeout when waiting for {what} to be {state_word} ({timeout} s)"
        )),
    );
    let mut ctx_timeout = ctx.timeout;
    // The host-side loop ends itself; the exec timeout is only a backstop.
    let backstop = Duration::from_secs(timeout + delay + 30);
    if ctx_timeout.is_none_or(|t| t > backstop) {
        ctx_timeout = Some(backstop);
    }
    let out = crate::ssh::host::Host::exec(
        ctx.host,
        crate::ssh::host::ExecRequest {
            command: &script,
            stdin: None,
            env: &[],
            become_root: ctx.become_root,
            timeout: ctx_timeout,
        },
    )
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    let failed = out.status != 0;
    Ok(Outcome {
        failed,
        rc: failed.then_some(out.status),
        msg: if failed {
            stderr.clone()
        } else {
            String::new()
        },
        stderr,
        ..Outcome::default()
    })
}

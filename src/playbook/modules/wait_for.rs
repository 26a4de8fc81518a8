//! `wait_for`: poll a TCP port or a path on the host until it is in the wanted state.
//!
//! The whole poll loop runs on the host in one exec (no round trip per attempt). A port is
//! probed with bash's `/dev/tcp` under `timeout 2`, so an unanswered SYN cannot stall a
//! probe. `host` defaults to 127.0.0.1 as in Ansible and must be an IP address or a DNS
//! name; it reaches the probe as an argument, never as script text. Never `changed`;
//! skipped in check mode.

use std::time::Duration;

use super::{ModuleCtx, Outcome, Params};
use crate::ssh::host::HostError;

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
        check_host(&host)?;
        Ok((
            port,
            path,
            host,
            want_up,
            ctx.u64_arg("timeout", 300)?,
            ctx.u64_arg("delay", 0)?,
        ))
    })();
    let (port, path, host, want_up, timeout, delay) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    // Every value is a parameter; bash gets host and port as its own "$1" and "$2".
    let (probe, what, params) = match (port, path) {
        (Some(p), _) => (
            r#"timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' bash "$host" "$port" 2>/dev/null"#,
            format!("port {p} on {host}"),
            Params::default().var("host", host).var("port", p),
        ),
        (_, Some(p)) => (
            r#"[ -e "$path" ]"#,
            format!("path {p}"),
            Params::default().var("path", p),
        ),
        _ => unreachable!("checked above"),
    };
    let (hit, state_word) = if want_up { ("0", "up") } else { ("1", "down") };
    let params = params
        .var("delay", delay.to_string())
        .var("timeout", timeout.to_string())
        .var("hit", hit)
        .var(
            "msg",
            format!("Timeout when waiting for {what} to be {state_word} ({timeout} s)"),
        );
    let script = format!(
        r#"sleep "$delay"
end=$(( $(date +%s) + timeout ))
while :; do
  if {probe}; then r=0; else r=1; fi
  [ "$r" = "$hit" ] && exit 0
  if [ "$(date +%s)" -ge "$end" ]; then printf '%s\n' "$msg" >&2; exit 1; fi
  sleep 0.2
done
"#
    );
    // The host-side loop ends itself; the exec timeout is only a backstop.
    let backstop = Duration::from_secs(timeout + delay + 30);
    let exec_timeout = Some(ctx.timeout.map_or(backstop, |t| t.min(backstop)));
    let out = ctx
        .exec_with(&script, params, None, exec_timeout, None)
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

/// Checks `host`: an IP address or a DNS name, so that it can only ever name a host.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if crate::hostname::is_ip_or_dns_name(host) {
        return Ok(());
    }
    Err(format!(
        "`host` {host:?} is not an IP address or a DNS name (allowed: {})",
        crate::hostname::ALLOWED
    ))
}

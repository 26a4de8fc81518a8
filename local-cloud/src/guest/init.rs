//! A host's init: PID 1 of the host's PID namespace. It reaps every orphan of the host
//! (processes started over SSH outlive their session under it) and keeps the host's sshd
//! running. Killing it from the machine ends every process of the host at once: the
//! kernel kills a PID namespace with its init.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::reaper::{Exit, Reaper};
use super::{SSHD, log};

/// What the realizer tells the init on its command line.
#[derive(Debug)]
struct Args {
    /// File name of the sshd configuration in `/etc/ssh`.
    sshd_config: String,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut sshd_config = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sshd-config" => sshd_config = it.next().cloned(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let sshd_config = sshd_config.ok_or("--sshd-config NAME is required")?;
    if sshd_config.contains('/') || sshd_config.starts_with('.') {
        return Err(format!(
            "--sshd-config {sshd_config:?} must be a file name in /etc/ssh"
        ));
    }
    Ok(Args { sshd_config })
}

/// Runs the init; returns only on a fatal error (its exit code).
pub fn main(args: &[String]) -> i32 {
    if rustix::process::getpid().as_raw_nonzero().get() != 1 {
        log("the local cloud's host init must run as PID 1 of a host's PID namespace");
        return 2;
    }
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            log(&format!("host init: {e}"));
            return 2;
        }
    };
    // One thread: the reaper's spawn-then-register must never race a reaping pass.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(&format!("host init: no runtime: {e}"));
            return 1;
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> i32 {
    let reaper = match Reaper::start() {
        Ok(r) => r,
        Err(e) => {
            log(&format!("host init: cannot handle SIGCHLD: {e}"));
            return 1;
        }
    };
    log("host init started");
    let config = format!("/etc/ssh/{}", args.sshd_config);
    loop {
        let mut cmd = Command::new(SSHD);
        cmd.args(["-D", "-e", "-f", &config])
            .stdin(Stdio::null())
            .process_group(0);
        match reaper.spawn(&mut cmd) {
            Ok(child) => {
                let exit = child.exit.await.unwrap_or(Exit::Code(255));
                log(&format!(
                    "sshd {} ended: {exit:?}; starting it again",
                    child.pid
                ));
            }
            Err(e) => log(&format!("cannot start {SSHD}: {e}")),
        }
        // As systemd's Restart=on-failure with its default RestartSec of 100 ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_a_config_in_etc_ssh() {
        let ok = parse(&["--sshd-config".into(), "sshd_config.plc1".into()]).unwrap();
        assert_eq!(ok.sshd_config, "sshd_config.plc1");
        assert!(parse(&[]).is_err());
        assert!(parse(&["--sshd-config".into(), "../x".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
    }
}

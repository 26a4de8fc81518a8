//! A host's init: PID 1 of the host's PID namespace. It reaps every orphan of the host
//! (processes started over SSH outlive their session under it) and is the host's service
//! manager: at boot it starts the host's sshd (`ssh.service`) and every enabled unit, and
//! serves `systemctl`. Killing it from the machine ends every process of the host at
//! once: the kernel kills a PID namespace with its init.

use super::journal::Journal;
use super::manager::{Manager, serve};
use super::reaper::Reaper;
use super::service::Ctx;
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

/// Debian's `ssh.service`, with the sshd configuration the local cloud made for this host.
fn ssh_unit(config: &str) -> String {
    format!(
        "# Written at boot by the local cloud's host init: Debian's ssh.service with this\n\
         # host's sshd configuration.\n\
         [Unit]\n\
         Description=OpenBSD Secure Shell server\n\
         Documentation=man:sshd(8) man:sshd_config(5)\n\
         \n\
         [Service]\n\
         ExecStartPre={SSHD} -t -f {config}\n\
         ExecStart={SSHD} -D -e -f {config}\n\
         ExecReload={SSHD} -t -f {config}\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         KillMode=process\n\
         Restart=on-failure\n\
         RestartPreventExitStatus=255\n\
         Type=notify\n\
         RuntimeDirectory=sshd\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n\
         Alias=sshd.service\n"
    )
}

/// `/run` as the manager needs it: `/run/systemd/system` (where runtime units live, and
/// the mark by which programs tell that systemd runs the host), this boot's id, the unit
/// of the host's sshd.
fn prepare_run(config: &str) -> std::io::Result<String> {
    std::fs::create_dir_all("/run/systemd/system")?;
    std::fs::create_dir_all("/run/local-cloud")?;
    let boot = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(super::BOOT_ID, format!("{boot}\n"))?;
    std::fs::write("/run/systemd/system/ssh.service", ssh_unit(config))?;
    Ok(boot)
}

async fn run(args: Args) -> i32 {
    let reaper = match Reaper::start() {
        Ok(r) => r,
        Err(e) => {
            log(&format!("host init: cannot handle SIGCHLD: {e}"));
            return 1;
        }
    };
    let boot = match prepare_run(&format!("/etc/ssh/{}", args.sshd_config)) {
        Ok(b) => b,
        Err(e) => {
            log(&format!("host init: cannot prepare /run: {e}"));
            return 1;
        }
    };
    log("host init started");
    let mgr = Manager::new(Ctx {
        reaper,
        journal: Journal::new(boot),
    });
    let server = mgr.clone();
    tokio::spawn(async move {
        if let Err(e) = serve(server).await {
            log(&format!("host init: systemctl socket failed: {e}"));
        }
    });
    mgr.boot();
    std::future::pending().await
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

//! `systemctl`'s verbs as the host's init runs them: the root check, the dispatch, and the
//! verbs that change things (jobs, unit files) with systemctl's messages and exit codes (a
//! failed job 1, an unknown unit 5; the looking verbs are in `queries`). Verbs systemctl
//! has and this stand-in does not say so.

use std::fmt::Write as _;

use tokio::sync::oneshot;

use super::args::{Opts, parse};
use super::install;
use super::manager::Manager;
use super::queries::{cat, is_enabled, is_state, list_units, show, status};
use super::service::{Cmd, JobResult, Res};
use super::systemctl::Response;
use super::unit::Load;
use super::unitfile::canonical;

const NEEDS_ROOT: &[&str] = &[
    "start",
    "stop",
    "restart",
    "try-restart",
    "condrestart",
    "reload",
    "reload-or-restart",
    "try-reload-or-restart",
    "force-reload",
    "enable",
    "disable",
    "reenable",
    "mask",
    "unmask",
    "daemon-reload",
    "daemon-reexec",
    "reset-failed",
];
const UNSUPPORTED: &[&str] = &[
    "reboot",
    "poweroff",
    "halt",
    "kexec",
    "suspend",
    "hibernate",
    "hybrid-sleep",
    "soft-reboot",
    "isolate",
    "kill",
    "clean",
    "freeze",
    "thaw",
    "edit",
    "set-property",
    "revert",
    "preset",
    "preset-all",
    "link",
    "list-timers",
    "list-sockets",
    "list-jobs",
    "list-dependencies",
    "set-environment",
    "unset-environment",
    "import-environment",
    "show-environment",
    "get-default",
    "set-default",
    "switch-root",
    "rescue",
    "emergency",
    "default",
    "exit",
    "list-machines",
    "list-paths",
    "bind",
    "mount-image",
    "whoami",
    "help",
    "cancel",
    "is-system-running",
    "add-wants",
    "add-requires",
];

/// Runs one `systemctl` invocation for a caller with user id `uid`.
pub async fn run(mgr: &Manager, argv: &[String], uid: u32) -> Response {
    let mut r = Response::default();
    let (verb, args, o) = match parse(argv) {
        Ok(p) => p,
        Err(e) => {
            r.err = format!("{e}\n");
            r.code = 1;
            return r;
        }
    };
    if NEEDS_ROOT.contains(&verb.as_str()) && uid != 0 {
        let what = args.first().map(|a| canonical(a)).unwrap_or_default();
        let _ = writeln!(r.err, "Failed to {verb} {what}: Access denied");
        r.code = 4;
        return r;
    }
    let units: Vec<String> = args.iter().map(|a| canonical(a)).collect();
    r.code = match verb.as_str() {
        "start"
        | "stop"
        | "restart"
        | "try-restart"
        | "condrestart"
        | "reload"
        | "reload-or-restart"
        | "try-reload-or-restart"
        | "force-reload" => jobs(mgr, &verb, &units, &o, &mut r).await,
        "is-active" | "is-failed" => is_state(mgr, &units, &o, &mut r, verb == "is-failed"),
        "is-enabled" => is_enabled(&units, &o, &mut r),
        "status" => status(mgr, &units, &o, uid, &mut r),
        "show" => show(mgr, &units, &o, &mut r),
        "cat" => cat(mgr, &units, &mut r),
        "enable" | "disable" | "reenable" | "mask" | "unmask" => {
            files(mgr, &verb, &units, &o, &mut r).await
        }
        "daemon-reload" => {
            mgr.daemon_reload();
            0
        }
        "daemon-reexec" => 0,
        "reset-failed" => {
            let all: Vec<String> = mgr.all().into_iter().map(|s| s.unit.name.clone()).collect();
            for u in if units.is_empty() { &all } else { &units } {
                mgr.unit(u).send(Cmd::ResetFailed);
            }
            0
        }
        "list-units" => list_units(mgr, &o, &mut r),
        "list-unit-files" => {
            let (text, any) = install::list(&args, !o.no_legend);
            r.out = text;
            if any { 0 } else { 1 }
        }
        v if UNSUPPORTED.contains(&v) => {
            let _ = writeln!(
                r.err,
                "systemctl: '{v}' is not supported on the local cloud's hosts (stop and start the VM through the cloud to restart it)"
            );
            1
        }
        v => {
            let _ = writeln!(r.err, "Unknown command verb '{v}'.");
            1
        }
    };
    r
}

pub(super) fn too_few(r: &mut Response) -> i32 {
    r.err.push_str("Too few arguments.\n");
    1
}

/// Why a job failed, as systemctl words it after "Job for X failed because ".
fn reason(res: Res) -> &'static str {
    match res {
        Res::ExitCode | Res::Success => "the control process exited with error code",
        Res::Signal => "a fatal signal was delivered to the control process",
        Res::CoreDump => "a fatal signal was delivered causing the control process to dump core",
        Res::Timeout => "a timeout was exceeded",
        Res::StartLimitHit => "start of the service was attempted too often",
        Res::Resources => "of unavailable resources or another system error",
        Res::Protocol => "the service did not take the steps required by its unit configuration",
    }
}

async fn jobs(mgr: &Manager, verb: &str, units: &[String], o: &Opts, r: &mut Response) -> i32 {
    if units.is_empty() {
        return too_few(r);
    }
    let mut code = 0;
    let mut waits = Vec::new();
    for name in units {
        let h = mgr.unit(name);
        let s = h.now();
        let (u, id) = (&s.unit, s.unit.name.clone());
        let action = verb.split('-').next().unwrap_or(verb);
        let stopping = verb == "stop";
        let refusal = match &u.load {
            Load::NotFound if stopping => Some((format!("Unit {name} not loaded."), 5)),
            Load::NotFound => Some((format!("Unit {name} not found."), 5)),
            Load::Masked if !stopping => Some((format!("Unit {id} is masked."), 1)),
            Load::BadSetting(_) if !stopping => Some((
                format!(
                    "Unit {id} has a bad unit file setting.\nSee system logs and 'systemctl status {id}' for details."
                ),
                1,
            )),
            _ => None,
        };
        if let Some((why, c)) = refusal {
            let _ = writeln!(r.err, "Failed to {action} {name}: {why}");
            code = c;
            continue;
        }
        if u.changed_on_disk() {
            let _ = writeln!(
                r.err,
                "Warning: The unit file, source configuration file or drop-ins of {id} changed on disk. Run 'systemctl daemon-reload' to reload units."
            );
        }
        let active = matches!(s.phase.active(), "active" | "reloading");
        let can_reload = !u.exec_reload.is_empty();
        let (tx, rx) = oneshot::channel();
        let cmd = match verb {
            "start" => Cmd::Start(Some(tx)),
            "stop" => Cmd::Stop(Some(tx)),
            "restart" => Cmd::Restart(Some(tx)),
            "try-restart" | "condrestart" if !active => continue,
            "try-restart" | "condrestart" => Cmd::Restart(Some(tx)),
            "reload" => Cmd::Reload(tx),
            "try-reload-or-restart" if !active => continue,
            _ if active && can_reload => Cmd::Reload(tx),
            _ => Cmd::Restart(Some(tx)),
        };
        h.send(cmd);
        if !o.no_block {
            waits.push((id, action, rx));
        }
    }
    for (id, action, rx) in waits {
        match rx.await {
            Ok(JobResult::Done) => {}
            Ok(JobResult::Failed(res)) => {
                let _ = writeln!(
                    r.err,
                    "Job for {id} failed because {}.\nSee \"systemctl status {id}\" and \"journalctl -xeu {id}\" for details.",
                    reason(res)
                );
                code = 1;
            }
            Ok(JobResult::Invalid(m)) if m.starts_with("Job for") => {
                let _ = writeln!(r.err, "{m}");
                code = 1;
            }
            Ok(JobResult::Invalid(m)) => {
                let _ = writeln!(r.err, "Failed to {action} {id}: {m}");
                code = 1;
            }
            Ok(JobResult::Canceled) | Err(_) => {
                let _ = writeln!(r.err, "Job for {id} canceled.");
                code = 1;
            }
        }
    }
    code
}

async fn files(mgr: &Manager, verb: &str, units: &[String], o: &Opts, r: &mut Response) -> i32 {
    if units.is_empty() {
        return too_few(r);
    }
    let mut ok = true;
    for u in units {
        ok &= match verb {
            "enable" => install::enable(u, &mut r.err),
            "disable" => install::disable(u, &mut r.err),
            "reenable" => install::disable(u, &mut r.err) && install::enable(u, &mut r.err),
            "mask" => install::mask(u, true, &mut r.err),
            _ => install::mask(u, false, &mut r.err),
        };
    }
    mgr.daemon_reload();
    if !ok {
        return 1;
    }
    if o.now && matches!(verb, "enable" | "disable" | "reenable" | "mask") {
        let job = if verb == "enable" || verb == "reenable" {
            "start"
        } else {
            "stop"
        };
        return jobs(mgr, job, units, o, r).await;
    }
    0
}

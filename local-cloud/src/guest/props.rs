//! How `systemctl show` and `systemctl status` present a unit: the properties (names and
//! value formats as systemd's, the subset Ansible's `systemd_service` module and people
//! read) and the status page.

use std::fmt::Write as _;

use super::cmdline::{ExecCmd, format_span};
use super::journal::{self, now_us};
use super::procs;
use super::reaper::Exit;
use super::service::{Phase, Snapshot};
use super::state::describe;
use super::unit::{KillMode, Kind, Load, NotifyAccess, Restart, Unit};

/// `Sun 2026-11-29 04:40:12 UTC`, or empty for never.
pub fn timestamp(us: i64) -> String {
    if us == 0 {
        return String::new();
    }
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let day = t.weekday().to_string();
    format!(
        "{} {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        &day[..3],
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn ago(us: i64) -> String {
    let s = ((now_us() - us) / 1_000_000).max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}min {}s ago", s / 60, s % 60),
        3600..86400 => format!("{}h {}min ago", s / 3600, s % 3600 / 60),
        _ => format!("{} days ago", s / 86400),
    }
}

fn yes(b: bool) -> String {
    (if b { "yes" } else { "no" }).to_string()
}

fn exec_prop(cmd: &ExecCmd, run: Option<(u32, i64, Option<Exit>)>) -> String {
    let (pid, start, exit) = run.unwrap_or((0, 0, None));
    let start = if start == 0 {
        "[n/a]".into()
    } else {
        format!("[{}]", timestamp(start))
    };
    let (code, status) = match exit {
        None => ("(null)".to_string(), "0/0".to_string()),
        Some(Exit::Code(c)) => ("exited".into(), format!("{c}/0")),
        Some(Exit::Signal { sig, core }) => (
            (if core { "dumped" } else { "killed" }).into(),
            format!("0/{sig}"),
        ),
    };
    format!(
        "{{ path={} ; argv[]={} ; ignore_errors={} ; start_time={start} ; stop_time=[n/a] ; pid={pid} ; code={code} ; status={status} }}",
        cmd.path,
        cmd.argv.join(" "),
        yes(cmd.ignore_errors)
    )
}

/// `LoadError=` of a unit that did not load.
fn load_error(u: &Unit) -> Option<String> {
    let n = &u.name;
    match &u.load {
        Load::Loaded => None,
        Load::NotFound => Some(format!(
            "org.freedesktop.systemd1.NoSuchUnit \"Unit {n} not found.\""
        )),
        Load::Masked => Some(format!(
            "org.freedesktop.systemd1.UnitMasked \"Unit {n} is masked.\""
        )),
        Load::BadSetting(_) => Some(format!(
            "org.freedesktop.systemd1.BadUnitSetting \"Unit {n} has a bad unit file setting.\""
        )),
    }
}

/// The load state's name.
pub fn load_state(u: &Unit) -> &'static str {
    match u.load {
        Load::Loaded => "loaded",
        Load::NotFound => "not-found",
        Load::Masked => "masked",
        Load::BadSetting(_) => "bad-setting",
    }
}

/// Every property `systemctl show` prints for the unit, in systemd's order (service
/// properties, then the unit's); `file_state` is its `UnitFileState`.
pub fn properties(s: &Snapshot, file_state: Option<&str>) -> Vec<(&'static str, String)> {
    let u = &s.unit;
    let mut p: Vec<(&'static str, String)> = Vec::new();
    let main = s.exec_main.as_ref();
    if u.load == Load::Loaded {
        let kind = match u.kind {
            Kind::Simple => "simple",
            Kind::Exec => "exec",
            Kind::Notify => "notify",
            Kind::Oneshot => "oneshot",
        };
        let restart = match u.restart {
            Restart::No => "no",
            Restart::Always => "always",
            Restart::OnSuccess => "on-success",
            Restart::OnFailure => "on-failure",
            Restart::OnAbnormal => "on-abnormal",
            Restart::OnAbort => "on-abort",
            Restart::OnWatchdog => "on-watchdog",
        };
        let notify = match u.notify_access {
            NotifyAccess::None => "none",
            NotifyAccess::Main => "main",
            NotifyAccess::Exec => "exec",
            NotifyAccess::All => "all",
        };
        p.push(("Type", kind.into()));
        p.push(("ExitType", "main".into()));
        p.push(("Restart", restart.into()));
        p.push(("NotifyAccess", notify.into()));
        p.push(("RestartUSec", format_span(Some(u.restart_sec))));
        p.push(("TimeoutStartUSec", format_span(u.timeout_start)));
        p.push(("TimeoutStopUSec", format_span(u.timeout_stop)));
        p.push(("RuntimeMaxUSec", "infinity".into()));
        p.push(("WatchdogUSec", "0".into()));
        p.push(("RemainAfterExit", yes(u.remain_after_exit)));
    }
    p.push(("MainPID", s.main_pid.unwrap_or(0).to_string()));
    p.push(("ControlPID", s.control_pid.unwrap_or(0).to_string()));
    p.push(("StatusText", s.status_text.clone()));
    p.push(("Result", s.result.name().into()));
    p.push(("NRestarts", s.n_restarts.to_string()));
    let (code, status) = match main.and_then(|m| m.exit) {
        None => (0, 0),
        Some(Exit::Code(c)) => (1, c),
        Some(Exit::Signal { sig, core }) => (if core { 3 } else { 2 }, sig),
    };
    p.push((
        "ExecMainStartTimestamp",
        timestamp(main.map_or(0, |m| m.start_us)),
    ));
    p.push((
        "ExecMainExitTimestamp",
        timestamp(main.map_or(0, |m| m.exit_us)),
    ));
    p.push(("ExecMainPID", main.map_or(0, |m| m.pid).to_string()));
    p.push(("ExecMainCode", code.to_string()));
    p.push(("ExecMainStatus", status.to_string()));
    let lists: [(&'static str, &Vec<ExecCmd>); 6] = [
        ("ExecStartPre", &u.exec_start_pre),
        ("ExecStart", &u.exec_start),
        ("ExecStartPost", &u.exec_start_post),
        ("ExecReload", &u.exec_reload),
        ("ExecStop", &u.exec_stop),
        ("ExecStopPost", &u.exec_stop_post),
    ];
    for (key, cmds) in lists {
        for c in cmds {
            let run = (key == "ExecStart")
                .then(|| main.map(|m| (m.pid, m.start_us, m.exit)))
                .flatten();
            p.push((key, exec_prop(c, run)));
        }
    }
    let env: Vec<String> = u
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    p.push(("Environment", env.join(" ")));
    for (f, optional) in &u.environment_files {
        p.push((
            "EnvironmentFiles",
            format!("{f} (ignore_errors={})", yes(*optional)),
        ));
    }
    if u.load == Load::Loaded {
        let mode = match u.kill_mode {
            KillMode::ControlGroup => "control-group",
            KillMode::Mixed => "mixed",
            KillMode::Process => "process",
            KillMode::None => "none",
        };
        p.push(("KillMode", mode.into()));
        p.push(("KillSignal", u.kill_signal.to_string()));
        let nofile = u.limit_nofile.map_or("524288".into(), |n| {
            if n == u64::MAX {
                "infinity".into()
            } else {
                n.to_string()
            }
        });
        p.push(("LimitNOFILE", nofile.clone()));
        p.push(("LimitNOFILESoft", nofile));
        p.push(("User", u.user.clone().unwrap_or_default()));
        p.push(("Group", u.group.clone().unwrap_or_default()));
        p.push((
            "WorkingDirectory",
            u.working_directory.clone().unwrap_or_default(),
        ));
        p.push(("RuntimeDirectory", u.runtime_directory.join(" ")));
    }
    p.push(("Id", u.name.clone()));
    let names: Vec<&str> = std::iter::once(u.name.as_str())
        .chain(u.alias.iter().map(String::as_str))
        .collect();
    p.push(("Names", names.join(" ")));
    let wanted_by = if file_state == Some("enabled") {
        u.wanted_by.join(" ")
    } else {
        String::new()
    };
    p.push(("WantedBy", wanted_by));
    p.push((
        "Description",
        if u.description.is_empty() {
            u.name.clone()
        } else {
            u.description.clone()
        },
    ));
    p.push(("LoadState", load_state(u).into()));
    p.push(("ActiveState", s.phase.active().into()));
    p.push(("SubState", s.phase.sub().into()));
    p.push((
        "FragmentPath",
        u.fragment
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
    ));
    let dropins: Vec<String> = u.dropins.iter().map(|d| d.display().to_string()).collect();
    p.push(("DropInPaths", dropins.join(" ")));
    p.push(("UnitFileState", file_state.unwrap_or_default().into()));
    p.push((
        "UnitFilePreset",
        if file_state.is_some() {
            "enabled".into()
        } else {
            String::new()
        },
    ));
    p.push(("StateChangeTimestamp", timestamp(s.state_change_us)));
    p.push(("ActiveEnterTimestamp", timestamp(s.active_enter_us)));
    p.push(("ActiveExitTimestamp", timestamp(s.active_exit_us)));
    p.push(("InactiveEnterTimestamp", timestamp(s.inactive_enter_us)));
    p.push(("InactiveExitTimestamp", timestamp(s.inactive_exit_us)));
    p.push(("CanStart", yes(u.startable())));
    p.push(("CanStop", yes(u.load == Load::Loaded)));
    p.push(("CanReload", yes(!u.exec_reload.is_empty())));
    p.push(("Documentation", u.documentation.join(" ")));
    p.push(("NeedDaemonReload", yes(u.changed_on_disk())));
    p.push(("InvocationID", s.invocation.clone()));
    if let Some(e) = load_error(u) {
        p.push(("LoadError", e));
    }
    p
}

/// `systemctl status` of one unit (without its journal lines).
pub fn status(s: &Snapshot, file_state: Option<&str>) -> String {
    let u = &s.unit;
    let mut o = String::new();
    let bullet = match s.phase {
        Phase::Dead => "○",
        Phase::Failed => "×",
        _ => "●",
    };
    let _ = writeln!(o, "{bullet} {}", u.title());
    let loaded = match (&u.load, &u.fragment) {
        (Load::Loaded, Some(f)) => match file_state {
            Some("static") | None => format!("loaded ({}; static)", f.display()),
            Some(st) => format!("loaded ({}; {st}; preset: enabled)", f.display()),
        },
        (Load::NotFound, _) => format!("not-found (Reason: Unit {} not found.)", u.name),
        (Load::Masked, _) => format!("masked (Reason: Unit {} is masked.)", u.name),
        (Load::BadSetting(why), _) => format!(
            "bad-setting (Reason: Unit {} has a bad unit file setting: {why})",
            u.name
        ),
        (Load::Loaded, None) => "loaded".into(),
    };
    let _ = writeln!(o, "     Loaded: {loaded}");
    for (i, d) in u.dropins.iter().enumerate() {
        let head = if i == 0 {
            "    Drop-In: "
        } else {
            "             "
        };
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = d
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let _ = writeln!(o, "{head}{dir}\n             └─{name}");
    }
    let since = match s.phase.active() {
        "active" | "reloading" => s.active_enter_us,
        "inactive" | "failed" => s.inactive_enter_us,
        _ => s.state_change_us,
    };
    let mut active = format!("{} ({})", s.phase.active(), s.phase.sub());
    if matches!(s.phase, Phase::Failed | Phase::AutoRestart) {
        let _ = write!(active, " (Result: {})", s.result.name());
    }
    if since != 0 {
        let _ = write!(active, " since {}; {}", timestamp(since), ago(since));
    }
    let _ = writeln!(o, "     Active: {active}");
    for (i, d) in u.documentation.iter().enumerate() {
        let _ = writeln!(
            o,
            "{}{d}",
            if i == 0 {
                "       Docs: "
            } else {
                "             "
            }
        );
    }
    for c in &s.controls {
        let _ = writeln!(
            o,
            "    Process: {} {}={} ({})",
            c.pid,
            c.setting,
            c.command,
            describe(c.exit)
        );
    }
    match (s.main_pid, &s.exec_main) {
        (Some(pid), _) => {
            let _ = writeln!(o, "   Main PID: {pid} ({})", procs::comm(pid));
        }
        (None, Some(m)) if m.pid != 0 => {
            let how = m.exit.map(describe).unwrap_or_default();
            let _ = writeln!(o, "   Main PID: {} ({how})", m.pid);
        }
        _ => {}
    }
    if !s.status_text.is_empty() {
        let _ = writeln!(o, "     Status: \"{}\"", s.status_text);
    }
    let members = procs::members(&s.groups);
    if !members.is_empty() {
        let _ = writeln!(o, "     CGroup: /system.slice/{}", u.name);
        for (i, pid) in members.iter().enumerate() {
            let branch = if i + 1 == members.len() {
                "└─"
            } else {
                "├─"
            };
            let _ = writeln!(o, "             {branch}{pid} {}", procs::cmdline(*pid));
        }
    }
    o
}

/// The last `n` journal lines of the unit, as `systemctl status` ends with them.
pub fn journal_tail(unit: &str, n: usize) -> String {
    let records = journal::read(unit).unwrap_or_default();
    let host = super::manager::hostname();
    let start = records.len().saturating_sub(n);
    let mut o = String::new();
    for r in &records[start..] {
        let _ = writeln!(o, "{}", journal::short(r, &host));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_systemds() {
        assert_eq!(timestamp(0), "");
        assert_eq!(
            timestamp(1_764_391_212_000_000),
            "Sat 2025-11-29 04:40:12 UTC"
        );
    }
}

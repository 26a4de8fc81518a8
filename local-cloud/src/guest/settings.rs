//! The settings of a service unit's file, applied one `Key=Value` at a time onto a `Unit`:
//! the directives the local hosts' service manager implements, systemd's value syntaxes for
//! each, and the list of those it reads but does not implement (`Unit::ignored`).

use std::time::Duration;

use super::cmdline::{self, ExecCmd};
use super::unit::{KillMode, Kind, NotifyAccess, Restart, Unit};
use super::unitfile::{Entry, Specifiers};

impl Unit {
    /// Applies one setting (specifiers expanded first); the error makes the unit bad.
    pub(super) fn apply(&mut self, e: &Entry, spec: &Specifiers) -> Result<(), String> {
        let v = spec.expand(&e.value)?;
        let v = v.as_str();
        let span = |v: &str| cmdline::timespan(v);
        let zero_is_none = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        let list = |dst: &mut Vec<ExecCmd>, v: &str| -> Result<(), String> {
            if v.is_empty() {
                dst.clear();
            } else {
                dst.extend(cmdline::exec(v)?);
            }
            Ok(())
        };
        match (e.section.as_str(), e.key.as_str()) {
            ("Unit", "Description") => self.description = v.to_string(),
            ("Unit", "Documentation") => self
                .documentation
                .extend(v.split_whitespace().map(String::from)),
            ("Unit", "StartLimitIntervalSec") => {
                self.start_limit_interval = span(v)?.unwrap_or_default()
            }
            ("Unit", "StartLimitBurst") => {
                self.start_limit_burst = v.parse().map_err(|_| "not a number")?
            }
            ("Service", "Type") => {
                self.kind = match v {
                    "simple" | "idle" => Kind::Simple,
                    "exec" => Kind::Exec,
                    "notify" | "notify-reload" => Kind::Notify,
                    "oneshot" => Kind::Oneshot,
                    other => {
                        return Err(format!(
                            "Type={other} is not supported by the local cloud's service manager (simple, exec, notify, oneshot are)"
                        ));
                    }
                }
            }
            ("Service", "ExecStartPre") => list(&mut self.exec_start_pre, v)?,
            ("Service", "ExecStart") => list(&mut self.exec_start, v)?,
            ("Service", "ExecStartPost") => list(&mut self.exec_start_post, v)?,
            ("Service", "ExecReload") => list(&mut self.exec_reload, v)?,
            ("Service", "ExecStop") => list(&mut self.exec_stop, v)?,
            ("Service", "ExecStopPost") => list(&mut self.exec_stop_post, v)?,
            ("Service", "Environment") if v.is_empty() => self.environment.clear(),
            ("Service", "Environment") => {
                let (ok, bad) = cmdline::assignments(v);
                self.environment.extend(ok);
                self.ignored.extend(bad);
            }
            ("Service", "EnvironmentFile") if v.is_empty() => self.environment_files.clear(),
            ("Service", "EnvironmentFile") => match v.strip_prefix('-') {
                Some(p) => self.environment_files.push((p.to_string(), true)),
                None => self.environment_files.push((v.to_string(), false)),
            },
            ("Service", "Restart") => {
                self.restart = match v {
                    "no" => Restart::No,
                    "always" => Restart::Always,
                    "on-success" => Restart::OnSuccess,
                    "on-failure" => Restart::OnFailure,
                    "on-abnormal" => Restart::OnAbnormal,
                    "on-abort" => Restart::OnAbort,
                    "on-watchdog" => Restart::OnWatchdog,
                    other => return Err(format!("invalid Restart={other}")),
                }
            }
            ("Service", "RestartSec") => self.restart_sec = span(v)?.unwrap_or(Duration::MAX),
            ("Service", "RestartPreventExitStatus") => self
                .restart_prevent
                .extend(v.split_whitespace().filter_map(|s| s.parse::<i32>().ok())),
            ("Service", "TimeoutStartSec") => self.timeout_start = zero_is_none(span(v)?),
            ("Service", "TimeoutStopSec") => self.timeout_stop = zero_is_none(span(v)?),
            ("Service", "TimeoutSec") => {
                self.timeout_start = zero_is_none(span(v)?);
                self.timeout_stop = self.timeout_start;
            }
            ("Service", "KillMode") => {
                self.kill_mode = match v {
                    "control-group" => KillMode::ControlGroup,
                    "mixed" => KillMode::Mixed,
                    "process" => KillMode::Process,
                    "none" => KillMode::None,
                    other => return Err(format!("invalid KillMode={other}")),
                }
            }
            ("Service", "KillSignal") => {
                self.kill_signal = signal_number(v).ok_or("unknown signal")?
            }
            ("Service", "RemainAfterExit") => self.remain_after_exit = boolean(v)?,
            ("Service", "NotifyAccess") => {
                self.notify_access = match v {
                    "none" => NotifyAccess::None,
                    "main" => NotifyAccess::Main,
                    "exec" => NotifyAccess::Exec,
                    "all" => NotifyAccess::All,
                    other => return Err(format!("invalid NotifyAccess={other}")),
                }
            }
            ("Service", "User") => self.user = Some(v.to_string()),
            ("Service", "Group") => self.group = Some(v.to_string()),
            ("Service", "WorkingDirectory") => {
                self.working_directory = Some(v.trim_start_matches('-').to_string())
            }
            ("Service", "RuntimeDirectory") => self
                .runtime_directory
                .extend(v.split_whitespace().map(String::from)),
            ("Service", "LimitNOFILE") => {
                self.limit_nofile = match v {
                    "infinity" => Some(u64::MAX),
                    n => Some(
                        n.split(':')
                            .next_back()
                            .unwrap_or(n)
                            .parse()
                            .map_err(|_| "not a number")?,
                    ),
                }
            }
            ("Service", "SyslogIdentifier") => self.syslog_identifier = Some(v.to_string()),
            ("Install", "WantedBy") => self
                .wanted_by
                .extend(v.split_whitespace().map(String::from)),
            ("Install", "RequiredBy") => self
                .required_by
                .extend(v.split_whitespace().map(String::from)),
            ("Install", "Alias") => self.alias.extend(v.split_whitespace().map(String::from)),
            (section, key) => self.ignored.push(format!("[{section}] {key}=")),
        }
        Ok(())
    }
}

fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "1" | "yes" | "y" | "true" | "t" | "on" => Ok(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Ok(false),
        other => Err(format!("invalid boolean {other:?}")),
    }
}

/// `SIGTERM`, `TERM` or `15` as a number.
pub fn signal_number(v: &str) -> Option<i32> {
    if let Ok(n) = v.parse() {
        return Some(n);
    }
    let name = v.strip_prefix("SIG").unwrap_or(v);
    SIGNALS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(num, _)| *num)
}

/// Signal names by number, as `status=9/KILL` shows them.
pub const SIGNALS: &[(i32, &str)] = &[
    (1, "HUP"),
    (2, "INT"),
    (3, "QUIT"),
    (4, "ILL"),
    (5, "TRAP"),
    (6, "ABRT"),
    (7, "BUS"),
    (8, "FPE"),
    (9, "KILL"),
    (10, "USR1"),
    (11, "SEGV"),
    (12, "USR2"),
    (13, "PIPE"),
    (14, "ALRM"),
    (15, "TERM"),
    (17, "CHLD"),
    (18, "CONT"),
    (19, "STOP"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::unit::Load;
    use crate::guest::unitfile;

    fn unit_of(text: &str) -> Unit {
        let mut u = Unit::empty("k3s.service", Load::Loaded);
        let spec = Specifiers {
            name: "k3s.service".into(),
            hostname: "h".into(),
        };
        for e in unitfile::parse(text).unwrap() {
            if let Err(why) = u.apply(&e, &spec) {
                u.load = Load::BadSetting(why);
            }
        }
        u.finish();
        u
    }

    #[test]
    fn k3s_ansibles_unit_reads_as_systemd_reads_it() {
        let u = unit_of(
            "[Unit]\nDescription=Lightweight Kubernetes\nAfter=network-online.target\n[Install]\nWantedBy=multi-user.target\n[Service]\nType=notify\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nKillMode=process\nDelegate=yes\nLimitNOFILE=1048576\nTimeoutStartSec=0\nRestart=always\nRestartSec=5s\nExecStartPre=-/sbin/modprobe br_netfilter\nExecStart=/usr/local/bin/k3s server --token 'x y' \\\n    --disable=traefik\n",
        );
        assert_eq!(u.load, Load::Loaded);
        assert_eq!(
            (u.kind, u.notify_access),
            (Kind::Notify, NotifyAccess::Main)
        );
        assert_eq!(u.environment_files[0], ("/etc/default/k3s".into(), true));
        assert_eq!(
            (u.kill_mode, u.restart),
            (KillMode::Process, Restart::Always)
        );
        assert_eq!(u.restart_sec, Duration::from_secs(5));
        assert_eq!(u.timeout_start, None);
        assert_eq!(u.limit_nofile, Some(1_048_576));
        assert!(u.exec_start_pre[0].ignore_errors);
        assert_eq!(u.exec_start[0].argv[3], "x y");
        assert_eq!(u.wanted_by, ["multi-user.target"]);
        assert_eq!(u.ignored, ["[Unit] After=", "[Service] Delegate="]);
        assert_eq!(u.title(), "k3s.service - Lightweight Kubernetes");
    }

    #[test]
    fn units_systemd_refuses_are_bad() {
        assert!(matches!(
            unit_of("[Service]\nType=simple\n").load,
            Load::BadSetting(_)
        ));
        assert!(matches!(
            unit_of("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n").load,
            Load::BadSetting(_)
        ));
        assert!(matches!(
            unit_of("[Service]\nType=forking\nExecStart=/bin/a\n").load,
            Load::BadSetting(m) if m.contains("forking")
        ));
        let reset = unit_of("[Service]\nExecStart=/bin/a\nExecStart=\nExecStart=/bin/b\n");
        assert_eq!(reset.load, Load::Loaded);
        assert_eq!(reset.exec_start[0].path, "/bin/b");
        assert_eq!(signal_number("SIGKILL"), Some(9));
    }
}

//! A service unit as the service manager uses it: the settings of its file and drop-ins,
//! typed, with systemd's defaults. Settings it does not implement are listed in `ignored`
//! (logged to the unit's journal, never silently dropped); the few whose absence would
//! change what the unit means (`Type=forking`, ...) make it a bad unit instead.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::cmdline::ExecCmd;
pub use super::settings::SIGNALS;
use super::unitfile::{self, Source, Specifiers};

/// `Type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Simple,
    Exec,
    Notify,
    Oneshot,
}

/// `Restart=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
}

/// `KillMode=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillMode {
    ControlGroup,
    Mixed,
    Process,
    None,
}

/// `NotifyAccess=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAccess {
    None,
    Main,
    Exec,
    All,
}

/// `LoadState` and, when not loaded, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    Loaded,
    NotFound,
    Masked,
    BadSetting(String),
}

/// One unit: where it came from and what it says.
#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub load: Load,
    pub fragment: Option<PathBuf>,
    pub dropins: Vec<PathBuf>,
    /// Modification times of the files read, to tell when they changed on disk.
    pub mtimes: Vec<(PathBuf, Option<SystemTime>)>,
    pub description: String,
    pub documentation: Vec<String>,
    pub kind: Kind,
    pub exec_start_pre: Vec<ExecCmd>,
    pub exec_start: Vec<ExecCmd>,
    pub exec_start_post: Vec<ExecCmd>,
    pub exec_reload: Vec<ExecCmd>,
    pub exec_stop: Vec<ExecCmd>,
    pub exec_stop_post: Vec<ExecCmd>,
    pub environment: Vec<(String, String)>,
    /// Paths, with whether a missing file is fine (`-` prefix).
    pub environment_files: Vec<(String, bool)>,
    pub restart: Restart,
    pub restart_sec: Duration,
    pub restart_prevent: Vec<i32>,
    /// `None`: no timeout (`0` or `infinity`).
    pub timeout_start: Option<Duration>,
    pub timeout_stop: Option<Duration>,
    pub kill_mode: KillMode,
    pub kill_signal: i32,
    pub remain_after_exit: bool,
    pub notify_access: NotifyAccess,
    pub user: Option<String>,
    pub group: Option<String>,
    pub working_directory: Option<String>,
    pub runtime_directory: Vec<String>,
    pub limit_nofile: Option<u64>,
    pub syslog_identifier: Option<String>,
    pub start_limit_interval: Duration,
    pub start_limit_burst: u32,
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub alias: Vec<String>,
    /// Whether the unit has an `[Install]` section that enables it.
    pub installable: bool,
    /// Settings read but not implemented here: `file: Key=`.
    pub ignored: Vec<String>,
}

/// systemd's `DefaultTimeoutStartSec`/`DefaultTimeoutStopSec`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

impl Unit {
    pub(super) fn empty(name: &str, load: Load) -> Unit {
        Unit {
            name: name.to_string(),
            load,
            fragment: None,
            dropins: Vec::new(),
            mtimes: Vec::new(),
            description: String::new(),
            documentation: Vec::new(),
            kind: Kind::Simple,
            exec_start_pre: Vec::new(),
            exec_start: Vec::new(),
            exec_start_post: Vec::new(),
            exec_reload: Vec::new(),
            exec_stop: Vec::new(),
            exec_stop_post: Vec::new(),
            environment: Vec::new(),
            environment_files: Vec::new(),
            restart: Restart::No,
            restart_sec: Duration::from_millis(100),
            restart_prevent: Vec::new(),
            timeout_start: Some(DEFAULT_TIMEOUT),
            timeout_stop: Some(DEFAULT_TIMEOUT),
            kill_mode: KillMode::ControlGroup,
            kill_signal: 15,
            remain_after_exit: false,
            notify_access: NotifyAccess::None,
            user: None,
            group: None,
            working_directory: None,
            runtime_directory: Vec::new(),
            limit_nofile: None,
            syslog_identifier: None,
            start_limit_interval: Duration::from_secs(10),
            start_limit_burst: 5,
            wanted_by: Vec::new(),
            required_by: Vec::new(),
            alias: Vec::new(),
            installable: false,
            ignored: Vec::new(),
        }
    }

    /// Finds and reads unit `name` (canonical); never fails: a unit that cannot be used
    /// says why in its `load`.
    pub fn load(name: &str, hostname: &str) -> Unit {
        if !unitfile::valid_name(name) {
            return Unit::empty(
                name,
                Load::BadSetting(format!("invalid unit name {name:?}")),
            );
        }
        let (id, source) = unitfile::find(name);
        let (fragment, dropins) = match source {
            Source::NotFound => return Unit::empty(&id, Load::NotFound),
            Source::Masked(p) => {
                let mut u = Unit::empty(&id, Load::Masked);
                u.fragment = Some(p);
                return u;
            }
            Source::Files { fragment, dropins } => (fragment, dropins),
        };
        let mut unit = Unit::empty(&id, Load::Loaded);
        if !id.ends_with(".service") {
            unit.load = Load::NotFound;
            return unit;
        }
        let spec = Specifiers {
            name: id.clone(),
            hostname: hostname.to_string(),
        };
        let files: Vec<PathBuf> = std::iter::once(fragment.clone())
            .chain(dropins.iter().cloned())
            .collect();
        unit.fragment = Some(fragment);
        unit.dropins = dropins;
        for file in files {
            let mtime = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
            unit.mtimes.push((file.clone(), mtime));
            let parsed = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| unitfile::parse(&t));
            match parsed {
                Ok(entries) => {
                    for e in entries {
                        if let Err(why) = unit.apply(&e, &spec) {
                            unit.load = Load::BadSetting(format!(
                                "{}: {}={}: {why}",
                                file.display(),
                                e.key,
                                e.value
                            ));
                        }
                    }
                }
                Err(e) => unit.load = Load::BadSetting(format!("{}: {e}", file.display())),
            }
        }
        unit.finish();
        unit
    }

    /// Whether its files changed since it was read: one edited, added (a new drop-in) or
    /// removed (systemd's NeedDaemonReload).
    pub fn changed_on_disk(&self) -> bool {
        let now: Vec<PathBuf> = match unitfile::find(&self.name).1 {
            Source::Files { fragment, dropins } => {
                std::iter::once(fragment).chain(dropins).collect()
            }
            Source::Masked(_) | Source::NotFound => Vec::new(),
        };
        let then: Vec<&PathBuf> = self.mtimes.iter().map(|(p, _)| p).collect();
        now.iter().collect::<Vec<_>>() != then
            || self
                .mtimes
                .iter()
                .any(|(p, t)| std::fs::metadata(p).and_then(|m| m.modified()).ok() != *t)
    }

    /// Defaults that depend on other settings, and the checks systemd makes at load time.
    pub(super) fn finish(&mut self) {
        if self.notify_access == NotifyAccess::None && self.kind == Kind::Notify {
            self.notify_access = NotifyAccess::Main;
        }
        self.installable =
            !(self.wanted_by.is_empty() && self.required_by.is_empty() && self.alias.is_empty());
        if self.load != Load::Loaded {
            return;
        }
        if self.exec_start.is_empty() && self.kind != Kind::Oneshot {
            self.load = Load::BadSetting(
                "Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.".into(),
            );
        } else if self.exec_start.len() > 1 && self.kind != Kind::Oneshot {
            self.load = Load::BadSetting(
                "Service has more than one ExecStart= setting, which is only allowed for \
                 Type=oneshot services. Refusing."
                    .into(),
            );
        }
    }

    /// The description, or the name when there is none.
    pub fn title(&self) -> String {
        if self.description.is_empty() || self.description == self.name {
            self.name.clone()
        } else {
            format!("{} - {}", self.name, self.description)
        }
    }

    /// Whether `systemctl start` can run it at all.
    pub fn startable(&self) -> bool {
        self.load == Load::Loaded
    }
}

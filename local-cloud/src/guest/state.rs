//! The state of a service unit as the rest of the init sees it: systemd's states
//! (`ActiveState`/`SubState`) and results, jobs and their outcomes, the published
//! [`Snapshot`], and how systemd judges and words a process's exit.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::reaper::Exit;
use super::unit::{SIGNALS, Unit};

/// systemd's service states, as (`ActiveState`, `SubState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Dead,
    Failed,
    StartPre,
    Start,
    StartPost,
    Running,
    Exited,
    Reload,
    Stop,
    StopSigterm,
    StopSigkill,
    FinalSigterm,
    FinalSigkill,
    StopPost,
    AutoRestart,
}

impl Phase {
    /// `ActiveState`.
    pub fn active(self) -> &'static str {
        use Phase::*;
        match self {
            Dead => "inactive",
            Failed => "failed",
            StartPre | Start | StartPost | AutoRestart => "activating",
            Running | Exited => "active",
            Reload => "reloading",
            Stop | StopSigterm | StopSigkill | FinalSigterm | FinalSigkill | StopPost => {
                "deactivating"
            }
        }
    }

    /// `SubState`.
    pub fn sub(self) -> &'static str {
        use Phase::*;
        match self {
            Dead => "dead",
            Failed => "failed",
            StartPre => "start-pre",
            Start => "start",
            StartPost => "start-post",
            Running => "running",
            Exited => "exited",
            Reload => "reload",
            Stop => "stop",
            StopSigterm => "stop-sigterm",
            StopSigkill => "stop-sigkill",
            FinalSigterm => "final-sigterm",
            FinalSigkill => "final-sigkill",
            StopPost => "stop-post",
            AutoRestart => "auto-restart",
        }
    }

    pub(super) fn starting(self) -> bool {
        matches!(self, Phase::StartPre | Phase::Start | Phase::StartPost)
    }

    pub(super) fn stopping(self) -> bool {
        self.active() == "deactivating"
    }
}

/// A service's `Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    Success,
    Protocol,
    Resources,
    Timeout,
    ExitCode,
    Signal,
    CoreDump,
    StartLimitHit,
}

impl Res {
    /// As systemd names it (`exit-code`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Res::Success => "success",
            Res::Protocol => "protocol",
            Res::Resources => "resources",
            Res::Timeout => "timeout",
            Res::ExitCode => "exit-code",
            Res::Signal => "signal",
            Res::CoreDump => "core-dump",
            Res::StartLimitHit => "start-limit-hit",
        }
    }
}

/// How a job ended, for `systemctl` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    Done,
    Failed(Res),
    Canceled,
    /// The job does not apply (`Job type reload is not applicable ...`).
    Invalid(String),
}

/// A job reply channel.
pub type Reply = oneshot::Sender<JobResult>;

/// What can be asked of a unit's actor.
#[derive(Debug)]
pub enum Cmd {
    Start(Option<Reply>),
    Stop(Option<Reply>),
    Restart(Option<Reply>),
    Reload(Reply),
    ResetFailed,
    /// `daemon-reload`: the unit's new definition (running processes keep running).
    Replace(Arc<Unit>),
}

/// The last main process.
#[derive(Debug, Clone)]
pub struct ExecMain {
    pub pid: u32,
    pub start_us: i64,
    pub exit: Option<Exit>,
    pub exit_us: i64,
}

/// A control process (`ExecStartPre=`, ...) that ran, for `systemctl status`.
#[derive(Debug, Clone)]
pub struct ControlRun {
    pub pid: u32,
    pub setting: &'static str,
    pub command: String,
    pub exit: Exit,
}

/// A unit's state as queries see it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub unit: Arc<Unit>,
    pub phase: Phase,
    pub result: Res,
    pub main_pid: Option<u32>,
    pub control_pid: Option<u32>,
    pub exec_main: Option<ExecMain>,
    pub controls: Vec<ControlRun>,
    pub n_restarts: u32,
    pub status_text: String,
    pub invocation: String,
    /// Process groups the unit started (its processes are their members).
    pub groups: HashSet<u32>,
    /// Microsecond timestamps, 0 for never.
    pub state_change_us: i64,
    pub active_enter_us: i64,
    pub active_exit_us: i64,
    pub inactive_enter_us: i64,
    pub inactive_exit_us: i64,
}

impl Snapshot {
    /// A unit that never ran.
    pub fn new(unit: Arc<Unit>) -> Snapshot {
        Snapshot {
            unit,
            phase: Phase::Dead,
            result: Res::Success,
            main_pid: None,
            control_pid: None,
            exec_main: None,
            controls: Vec::new(),
            n_restarts: 0,
            status_text: String::new(),
            invocation: String::new(),
            groups: HashSet::new(),
            state_change_us: 0,
            active_enter_us: 0,
            active_exit_us: 0,
            inactive_enter_us: 0,
            inactive_exit_us: 0,
        }
    }
}

/// `code=exited, status=1/FAILURE` as systemd words an exit.
pub fn describe(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => {
            let name = match c {
                0 => "/SUCCESS",
                1 => "/FAILURE",
                2 => "/INVALIDARGUMENT",
                3 => "/NOTIMPLEMENTED",
                4 => "/NOPERMISSION",
                5 => "/NOTINSTALLED",
                6 => "/NOTCONFIGURED",
                7 => "/NOTRUNNING",
                203 => "/EXEC",
                _ => "",
            };
            format!("code=exited, status={c}{name}")
        }
        Exit::Signal { sig, core } => {
            let name = SIGNALS
                .iter()
                .find(|(n, _)| *n == sig)
                .map_or("", |(_, s)| s);
            let how = if core { "dumped" } else { "killed" };
            format!("code={how}, status={sig}/{name}")
        }
    }
}

/// A clean exit for systemd: 0, or one of the signals a service is expected to die of.
pub(super) fn clean(exit: Exit) -> bool {
    matches!(
        exit,
        Exit::Code(0)
            | Exit::Signal {
                sig: 1 | 2 | 13 | 15,
                core: false
            }
    )
}

pub(super) fn result_of(exit: Exit) -> Res {
    match exit {
        e if clean(e) => Res::Success,
        Exit::Code(_) => Res::ExitCode,
        Exit::Signal { core: true, .. } => Res::CoreDump,
        Exit::Signal { .. } => Res::Signal,
    }
}

impl Res {
    /// A control process's result: a clean exit of a failed command is still exit-code.
    pub(super) fn max_failure(self) -> Res {
        if self == Res::Success {
            Res::ExitCode
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_like_systemd() {
        assert_eq!(describe(Exit::Code(1)), "code=exited, status=1/FAILURE");
        assert_eq!(describe(Exit::Code(42)), "code=exited, status=42");
        assert_eq!(
            describe(Exit::Signal {
                sig: 9,
                core: false
            }),
            "code=killed, status=9/KILL"
        );
        assert_eq!(
            describe(Exit::Signal {
                sig: 11,
                core: true
            }),
            "code=dumped, status=11/SEGV"
        );
        assert_eq!(
            result_of(Exit::Signal {
                sig: 15,
                core: false
            }),
            Res::Success
        );
        assert_eq!(
            result_of(Exit::Signal {
                sig: 9,
                core: false
            }),
            Res::Signal
        );
        assert_eq!(result_of(Exit::Code(3)), Res::ExitCode);
    }
}

//! The end of a service's run (`Svc`): stop (`ExecStop`, signals by `KillMode`, the
//! SIGKILL escalation, `ExecStopPost`), death with its result, the restart policy, the
//! timers, and reload, as systemd's `service.c` does them.

use std::time::{Duration, Instant};

use super::procs;
use super::reaper::Exit;
use super::service::{JobResult, List, Phase, Res, Svc, Timer, answer};
use super::unit::{KillMode, Restart};

/// How often a stopping unit looks whether its processes are gone.
const POLL: Duration = Duration::from_millis(20);

impl Svc {
    /// The unit failed while active or starting: stop what is left, then die with `res`.
    pub(super) fn fail(&mut self, res: Res) {
        if self.s.result == Res::Success {
            self.s.result = res;
        }
        self.enter_signal(true);
    }

    pub(super) fn begin_stop(&mut self) {
        for r in self.starts.drain(..) {
            let _ = r.send(JobResult::Canceled);
        }
        for r in self.reloads.drain(..) {
            let _ = r.send(JobResult::Canceled);
        }
        if let Some(c) = self.control.take() {
            procs::signal(&[c.pid], 9);
        }
        self.stop_requested = true;
        self.timer = None;
        let unit = self.s.unit.clone();
        self.say(&format!("Stopping {}...", unit.title()));
        if !unit.exec_stop.is_empty() && (self.main.is_some() || self.s.phase == Phase::Exited) {
            self.set_phase(Phase::Stop);
            self.run_list(List::Stop, 0);
        } else {
            self.enter_signal(false);
        }
    }

    /// Sends the unit's processes `KillSignal=` as its `KillMode=` says.
    pub(super) fn enter_signal(&mut self, final_: bool) {
        let unit = self.s.unit.clone();
        self.set_phase(if final_ {
            Phase::FinalSigterm
        } else {
            Phase::StopSigterm
        });
        let targets = self.kill_targets(unit.kill_mode == KillMode::ControlGroup);
        procs::signal(&targets, unit.kill_signal);
        self.timer = unit
            .timeout_stop
            .map(|d| (Instant::now() + d, Timer::StopTimeout));
        self.check_stopped();
    }

    pub(super) fn kill_targets(&self, group: bool) -> Vec<u32> {
        let mode = self.s.unit.kill_mode;
        let mut pids: Vec<u32> = self.s.main_pid.into_iter().collect();
        pids.extend(self.control.as_ref().map(|c| c.pid));
        if mode == KillMode::None {
            return Vec::new();
        }
        if group {
            pids.extend(procs::members(&self.s.groups));
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Whether what the stop waits for is gone; if so, on to `ExecStopPost`.
    pub(super) fn check_stopped(&mut self) {
        if self.main.is_some() || self.control.is_some() {
            return;
        }
        let mode = self.s.unit.kill_mode;
        if mode == KillMode::Mixed
            && matches!(self.s.phase, Phase::StopSigterm | Phase::FinalSigterm)
        {
            procs::signal(&procs::members(&self.s.groups), 9);
        }
        let waits_for_group = matches!(mode, KillMode::ControlGroup | KillMode::Mixed);
        if waits_for_group && !procs::members(&self.s.groups).is_empty() {
            self.poll = Some(Instant::now() + POLL);
            return;
        }
        self.poll = None;
        for pid in procs::members(&self.s.groups) {
            self.log(&format!(
                "Unit process {pid} ({}) remains running after unit stopped.",
                procs::comm(pid)
            ));
        }
        self.timer = None;
        self.set_phase(Phase::StopPost);
        self.run_list(List::StopPost, 0);
    }

    /// Timers: start timeout, stop timeout (escalate to SIGKILL), restart delay, polls.
    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        if self.poll.is_some_and(|p| p <= now) {
            self.poll = None;
            self.check_stopped();
        }
        let Some((at, why)) = self.timer else { return };
        if at > now {
            return;
        }
        self.timer = None;
        match why {
            Timer::Restart => {
                self.s.n_restarts += 1;
                self.log(&format!(
                    "Scheduled restart job, restart counter is at {}.",
                    self.s.n_restarts
                ));
                self.begin_start();
            }
            Timer::StartTimeout => {
                self.log(&format!(
                    "{} operation timed out. Terminating.",
                    self.s.phase.sub()
                ));
                if let Some(c) = self.control.take() {
                    procs::signal(&[c.pid], 9);
                }
                self.fail(Res::Timeout);
            }
            Timer::StopTimeout => {
                let phase = self.s.phase;
                if matches!(phase, Phase::StopSigkill | Phase::FinalSigkill) {
                    self.log("Processes still around after SIGKILL. Ignoring.");
                    self.main = None;
                    self.s.main_pid = None;
                    self.poll = None;
                    self.set_phase(Phase::StopPost);
                    return self.run_list(List::StopPost, 0);
                }
                self.log(&format!("State '{}' timed out. Killing.", phase.sub()));
                if self.s.result == Res::Success {
                    self.s.result = Res::Timeout;
                }
                let kill = phase == Phase::FinalSigterm;
                self.set_phase(if kill {
                    Phase::FinalSigkill
                } else {
                    Phase::StopSigkill
                });
                procs::signal(
                    &self.kill_targets(self.s.unit.kill_mode != KillMode::Process),
                    9,
                );
                self.timer = self
                    .s
                    .unit
                    .timeout_stop
                    .map(|d| (now + d, Timer::StopTimeout));
                self.check_stopped();
            }
        }
    }

    pub(super) fn enter_dead(&mut self, res: Res, allow_restart: bool) {
        let unit = self.s.unit.clone();
        self.timer = None;
        self.poll = None;
        self.s.result = if self.s.result == Res::Success {
            res
        } else {
            self.s.result
        };
        let res = self.s.result;
        for d in &unit.runtime_directory {
            let _ = std::fs::remove_dir_all(format!("/run/{d}"));
        }
        let alive = procs::members(&self.s.groups);
        self.s.groups.retain(|g| alive.contains(g));
        if res == Res::Success {
            self.set_phase(Phase::Dead);
            if self.stop_requested {
                self.log("Deactivated successfully.");
                self.say(&format!("Stopped {}.", unit.title()));
            }
        } else {
            self.set_phase(Phase::Failed);
            self.log(&format!("Failed with result '{}'.", res.name()));
            if self.activating {
                self.say(&format!("Failed to start {}.", unit.title()));
            }
        }
        self.activating = false;
        for r in self.starts.drain(..) {
            let _ = r.send(if res == Res::Success {
                JobResult::Done
            } else {
                JobResult::Failed(res)
            });
        }
        for r in self.stops.drain(..) {
            let _ = r.send(JobResult::Done);
        }
        if !self.start_after_stop.is_empty() {
            let waiting: Vec<_> = self.start_after_stop.drain(..).collect();
            self.starts.extend(waiting.into_iter().flatten());
            return self.begin_start();
        }
        if allow_restart && self.restarts_after(res) {
            self.set_phase(Phase::AutoRestart);
            self.timer = Some((Instant::now() + unit.restart_sec, Timer::Restart));
        }
    }

    /// `Restart=` and `RestartPreventExitStatus=` applied to how the unit ended.
    fn restarts_after(&self, res: Res) -> bool {
        let unit = &self.s.unit;
        if res == Res::StartLimitHit {
            return false;
        }
        let exit = self.s.exec_main.as_ref().and_then(|m| m.exit);
        if let Some(Exit::Code(c)) = exit
            && unit.restart_prevent.contains(&c)
        {
            return false;
        }
        match unit.restart {
            Restart::No | Restart::OnWatchdog => false,
            Restart::Always => true,
            Restart::OnSuccess => res == Res::Success,
            Restart::OnFailure => res != Res::Success,
            Restart::OnAbnormal => matches!(res, Res::Signal | Res::CoreDump | Res::Timeout),
            Restart::OnAbort => matches!(res, Res::Signal | Res::CoreDump),
        }
    }

    pub(super) fn begin_reload(&mut self, reply: super::service::Reply) {
        if self.s.phase != Phase::Running && self.s.phase != Phase::Exited {
            return answer(
                Some(reply),
                JobResult::Invalid(format!("Job for {} invalid.", self.s.unit.name)),
            );
        }
        if self.s.unit.exec_reload.is_empty() {
            let name = &self.s.unit.name;
            return answer(
                Some(reply),
                JobResult::Invalid(format!(
                    "Job type reload is not applicable for unit {name}."
                )),
            );
        }
        self.reloads.push(reply);
        self.set_phase(Phase::Reload);
        self.run_list(List::Reload, 0);
    }
}

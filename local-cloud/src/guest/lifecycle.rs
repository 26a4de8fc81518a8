//! The start of a service's run (`Svc`): the start rate limit, its environment,
//! `ExecStartPre`, the main process, readiness, `ExecStartPost`, and how an exit of the main
//! process is judged, as systemd's `service.c` does them (the stop side is `stopping`).

use std::time::Instant;

use super::cmdline::ExecCmd;
use super::journal::now_us;
use super::notify::NotifySocket;
use super::procs::{self, Launch};
use super::reaper::{Exit, Spawned};
use super::service::{Control, JobResult, List, Phase, Res, Svc, Timer};
use super::state::{ControlRun, ExecMain, describe, result_of};
use super::unit::{Kind, NotifyAccess};

impl Svc {
    pub(super) fn set_phase(&mut self, p: Phase) {
        let (was, now) = (self.s.phase.active(), p.active());
        let t = now_us();
        if was != now {
            match now {
                "active" | "reloading" if was != "active" && was != "reloading" => {
                    self.s.active_enter_us = t
                }
                "inactive" | "failed" => self.s.inactive_enter_us = t,
                _ => {}
            }
            if was == "active" || was == "reloading" {
                self.s.active_exit_us = t;
            }
            if was == "inactive" || was == "failed" {
                self.s.inactive_exit_us = t;
            }
        }
        self.s.state_change_us = t;
        self.s.phase = p;
    }

    pub(super) fn begin_start(&mut self) {
        let unit = self.s.unit.clone();
        self.timer = None;
        self.activating = true;
        let now = Instant::now();
        let window = unit.start_limit_interval;
        while self
            .start_times
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.start_times.pop_front();
        }
        if !window.is_zero()
            && unit.start_limit_burst > 0
            && self.start_times.len() >= unit.start_limit_burst as usize
        {
            self.log("Start request repeated too quickly.");
            self.enter_dead(Res::StartLimitHit, false);
            return;
        }
        self.start_times.push_back(now);
        self.stop_requested = false;
        self.s.result = Res::Success;
        self.s.invocation = uuid::Uuid::new_v4().simple().to_string();
        self.s.controls.clear();
        self.s.status_text.clear();
        if !self.warned {
            self.warned = true;
            for key in &unit.ignored {
                self.log(&format!(
                    "{key} is not implemented by the local cloud's service manager, ignoring."
                ));
            }
        }
        self.say(&format!("Starting {}...", unit.title()));
        if unit.notify_access != NotifyAccess::None && self.notify.is_none() {
            match NotifySocket::bind(&unit.name) {
                Ok(n) => self.notify = Some(n),
                Err(e) => self.log(&format!("Failed to set up the notification socket: {e}")),
            }
        }
        if let Err(e) = self.load_environment() {
            self.log(&format!("Failed to load environment files: {e}"));
            self.enter_dead(Res::Resources, true);
            return;
        }
        for d in &unit.runtime_directory {
            let _ = std::fs::create_dir_all(format!("/run/{d}"));
        }
        self.timer = unit.timeout_start.map(|d| (now + d, Timer::StartTimeout));
        self.set_phase(Phase::StartPre);
        self.run_list(List::StartPre, 0);
    }

    /// The environment of the unit's processes: systemd's base, `Environment=`, then the
    /// environment files (which win), `NOTIFY_SOCKET` and `INVOCATION_ID`.
    fn load_environment(&mut self) -> Result<(), String> {
        let unit = self.s.unit.clone();
        let mut env: std::collections::HashMap<String, String> =
            [("PATH", super::cmdline::EXEC_PATH), ("LANG", "C.UTF-8")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
        env.extend(unit.environment.iter().cloned());
        for (path, optional) in &unit.environment_files {
            match std::fs::read_to_string(path) {
                Ok(text) => env.extend(super::cmdline::env_file(&text)),
                Err(_) if *optional => {}
                Err(e) => return Err(format!("{path}: {e}")),
            }
        }
        if let Some(n) = &self.notify {
            env.insert("NOTIFY_SOCKET".into(), n.path().display().to_string());
        }
        env.insert("INVOCATION_ID".into(), self.s.invocation.clone());
        self.env = env;
        Ok(())
    }

    fn commands(&self, list: List) -> &[super::cmdline::ExecCmd] {
        let u = &self.s.unit;
        match list {
            List::StartPre => &u.exec_start_pre,
            List::StartPost => &u.exec_start_post,
            List::Reload => &u.exec_reload,
            List::Stop => &u.exec_stop,
            List::StopPost => &u.exec_stop_post,
        }
    }

    /// Runs command `idx` of `list`, or goes on to what follows the list.
    pub(super) fn run_list(&mut self, list: List, idx: usize) {
        let Some(cmd) = self.commands(list).get(idx).cloned() else {
            return self.list_done(list);
        };
        if let Some(pid) = self.s.main_pid {
            self.env.insert("MAINPID".into(), pid.to_string());
        }
        match self.launch(&cmd) {
            Ok(sp) => {
                self.s.control_pid = Some(sp.pid);
                self.control = Some(Control {
                    pid: sp.pid,
                    exit: sp.exit,
                    list,
                    idx,
                });
            }
            Err(e) => {
                self.log(&e);
                self.control_done(list, idx, 0, Exit::Code(203));
            }
        }
    }

    /// Starts one of the unit's commands; its process group becomes one of the unit's.
    fn launch(&mut self, cmd: &ExecCmd) -> Result<Spawned, String> {
        let unit = self.s.unit.clone();
        let launch = Launch {
            unit: &unit,
            cmd,
            env: &self.env,
        };
        let sp = procs::launch(&launch, &self.ctx.reaper, &self.ctx.journal)?;
        self.s.groups.insert(sp.pid);
        Ok(sp)
    }

    pub(super) fn control_exited(&mut self, exit: Exit) {
        if let Some(c) = self.control.take() {
            self.control_done(c.list, c.idx, c.pid, exit);
        }
    }

    fn control_done(&mut self, list: List, idx: usize, pid: u32, exit: Exit) {
        self.s.control_pid = None;
        let Some(cmd) = self.commands(list).get(idx).cloned() else {
            return;
        };
        let setting = match list {
            List::StartPre => "ExecStartPre",
            List::StartPost => "ExecStartPost",
            List::Reload => "ExecReload",
            List::Stop => "ExecStop",
            List::StopPost => "ExecStopPost",
        };
        self.s.controls.push(ControlRun {
            pid,
            setting,
            command: cmd.display(),
            exit,
        });
        if self.s.phase.stopping() && !matches!(list, List::Stop | List::StopPost) {
            // The unit failed or is being stopped meanwhile: the list does not go on.
            return self.check_stopped();
        }
        if exit == Exit::Code(0) || cmd.ignore_errors {
            return self.run_list(list, idx + 1);
        }
        self.log(&format!("Control process exited, {}", describe(exit)));
        match list {
            List::StartPre | List::StartPost => self.fail(result_of(exit).max_failure()),
            List::Reload => {
                for r in self.reloads.drain(..) {
                    let _ = r.send(JobResult::Failed(Res::ExitCode));
                }
                self.set_phase(Phase::Running);
            }
            List::Stop => self.enter_signal(false),
            List::StopPost => self.list_done(List::StopPost),
        }
    }

    fn list_done(&mut self, list: List) {
        match list {
            List::StartPre => self.enter_start(),
            List::StartPost => self.enter_running(),
            List::Reload => {
                self.set_phase(Phase::Running);
                for r in self.reloads.drain(..) {
                    let _ = r.send(JobResult::Done);
                }
            }
            List::Stop => self.enter_signal(false),
            List::StopPost => {
                let res = self.s.result;
                self.enter_dead(res, !self.stop_requested);
            }
        }
    }

    fn enter_start(&mut self) {
        self.set_phase(Phase::Start);
        self.main_idx = 0;
        if self.s.unit.exec_start.is_empty() {
            return self.enter_start_post();
        }
        self.spawn_main();
    }

    fn spawn_main(&mut self) {
        let unit = self.s.unit.clone();
        let cmd = unit.exec_start[self.main_idx].clone();
        match self.launch(&cmd) {
            Ok(sp) => {
                self.s.main_pid = Some(sp.pid);
                self.s.exec_main = Some(ExecMain {
                    pid: sp.pid,
                    start_us: now_us(),
                    exit: None,
                    exit_us: 0,
                });
                self.main = Some(sp.exit);
                if matches!(unit.kind, Kind::Simple | Kind::Exec) {
                    self.enter_start_post();
                }
            }
            Err(e) => {
                self.log(&e);
                self.s.exec_main = Some(ExecMain {
                    pid: 0,
                    start_us: now_us(),
                    exit: None,
                    exit_us: 0,
                });
                if unit.kind == Kind::Simple {
                    // systemd has already reported a simple service started when exec fails.
                    self.enter_start_post();
                }
                self.main_exited(Exit::Code(203));
            }
        }
    }

    pub(super) fn enter_start_post(&mut self) {
        self.set_phase(Phase::StartPost);
        self.run_list(List::StartPost, 0);
    }

    fn enter_running(&mut self) {
        let unit = self.s.unit.clone();
        self.timer = None;
        self.activating = false;
        if unit.kind == Kind::Oneshot {
            self.say(&format!("Finished {}.", unit.title()));
            if unit.remain_after_exit {
                self.set_phase(Phase::Exited);
            } else {
                self.log("Deactivated successfully.");
                self.set_phase(Phase::Dead);
            }
        } else {
            self.say(&format!("Started {}.", unit.title()));
            self.set_phase(Phase::Running);
        }
        for r in self.starts.drain(..) {
            let _ = r.send(JobResult::Done);
        }
    }

    pub(super) fn main_exited(&mut self, exit: Exit) {
        self.main = None;
        self.s.main_pid = None;
        if let Some(m) = &mut self.s.exec_main {
            m.exit = Some(exit);
            m.exit_us = now_us();
        }
        let res = result_of(exit);
        if res != Res::Success {
            self.log(&format!("Main process exited, {}", describe(exit)));
        }
        let oneshot = self.s.unit.kind == Kind::Oneshot;
        match self.s.phase {
            Phase::Start if oneshot && res == Res::Success => {
                self.main_idx += 1;
                if self.main_idx < self.s.unit.exec_start.len() {
                    self.spawn_main();
                } else {
                    self.enter_start_post();
                }
            }
            // A notify service that ends before READY=1, even cleanly, failed to start.
            Phase::Start => self.fail(if res == Res::Success {
                Res::Protocol
            } else {
                res
            }),
            Phase::StartPost | Phase::Running | Phase::Reload if res == Res::Success => {
                self.log("Deactivated successfully.");
                self.enter_signal(true);
            }
            Phase::StartPost | Phase::Running | Phase::Reload => self.fail(res),
            Phase::StopSigterm | Phase::StopSigkill | Phase::FinalSigterm | Phase::FinalSigkill => {
                if res != Res::Success && self.s.result == Res::Success {
                    self.s.result = res;
                }
                self.check_stopped();
            }
            _ => {}
        }
    }
}

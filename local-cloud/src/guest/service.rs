//! One service unit at run time: an actor task that owns the unit's state and processes
//! and applies, one at a time, the jobs sent to it (start, stop, restart, reload), the exits
//! of its processes, its `sd_notify` messages and its timers, publishing a `Snapshot`
//! (`state`) after each. The transitions themselves are in `lifecycle` and `stopping`,
//! shaped after systemd's service state machine (`src/core/service.c`): the same states,
//! results and messages.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use super::journal::Journal;
use super::notify::{Message, NotifySocket};
use super::reaper::{Exit, Reaper};
pub use super::state::{Cmd, JobResult, Phase, Reply, Res, Snapshot};
use super::unit::{NotifyAccess, Unit};

/// What the actor shares with the rest of the init.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub reaper: Reaper,
    pub journal: Journal,
}

/// Which `Exec*=` list a control process belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    StartPre,
    StartPost,
    Reload,
    Stop,
    StopPost,
}

/// A running control process.
#[derive(Debug)]
pub(super) struct Control {
    pub pid: u32,
    pub exit: oneshot::Receiver<Exit>,
    pub list: List,
    pub idx: usize,
}

/// Why the actor's timer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    StartTimeout,
    StopTimeout,
    Restart,
}

/// The actor of one unit.
#[derive(Debug)]
pub struct Svc {
    pub(super) ctx: Ctx,
    pub(super) rx: mpsc::UnboundedReceiver<Cmd>,
    pub(super) tx: watch::Sender<Snapshot>,
    pub(super) s: Snapshot,
    pub(super) main: Option<oneshot::Receiver<Exit>>,
    pub(super) main_idx: usize,
    pub(super) control: Option<Control>,
    pub(super) env: HashMap<String, String>,
    pub(super) notify: Option<NotifySocket>,
    pub(super) timer: Option<(Instant, Timer)>,
    /// While stopping: look again soon whether the unit's processes are gone.
    pub(super) poll: Option<Instant>,
    pub(super) starts: Vec<Reply>,
    pub(super) stops: Vec<Reply>,
    pub(super) reloads: Vec<Reply>,
    /// Start jobs to run once the stop in progress ends (restart, or start while stopping).
    pub(super) start_after_stop: Vec<Option<Reply>>,
    pub(super) stop_requested: bool,
    /// A start is under way (for "Failed to start ..." when it ends in failure).
    pub(super) activating: bool,
    /// The settings this definition ignores were logged.
    pub(super) warned: bool,
    pub(super) start_times: VecDeque<Instant>,
}

async fn exit_of(rx: &mut Option<oneshot::Receiver<Exit>>) -> Exit {
    match rx {
        Some(r) => r.await.unwrap_or(Exit::Code(255)),
        None => std::future::pending().await,
    }
}

async fn control_exit(c: &mut Option<Control>) -> Exit {
    match c {
        Some(c) => (&mut c.exit).await.unwrap_or(Exit::Code(255)),
        None => std::future::pending().await,
    }
}

async fn message(n: &Option<NotifySocket>) -> Option<Message> {
    match n {
        Some(n) => match n.recv().await {
            Ok(m) => Some(m),
            Err(_) => {
                // Not expected of a bound datagram socket; never spin on it.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                None
            }
        },
        None => std::future::pending().await,
    }
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Svc {
    /// An actor for `unit` and the channels to reach it.
    pub fn new(
        ctx: Ctx,
        unit: Arc<Unit>,
    ) -> (Svc, mpsc::UnboundedSender<Cmd>, watch::Receiver<Snapshot>) {
        let (cmd_tx, rx) = mpsc::unbounded_channel();
        let (tx, snap) = watch::channel(Snapshot::new(unit));
        let s = tx.borrow().clone();
        let svc = Svc {
            ctx,
            rx,
            tx,
            s,
            main: None,
            main_idx: 0,
            control: None,
            env: HashMap::new(),
            notify: None,
            timer: None,
            poll: None,
            starts: Vec::new(),
            stops: Vec::new(),
            reloads: Vec::new(),
            start_after_stop: Vec::new(),
            stop_requested: false,
            activating: false,
            warned: false,
            start_times: VecDeque::new(),
        };
        (svc, cmd_tx, snap)
    }

    /// Runs until every sender of jobs is gone.
    pub async fn run(mut self) {
        loop {
            self.tx.send_replace(self.s.clone());
            let next = match (self.timer.map(|t| t.0), self.poll) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                exit = exit_of(&mut self.main) => self.main_exited(exit),
                exit = control_exit(&mut self.control) => self.control_exited(exit),
                Some(msg) = message(&self.notify) => self.notified(msg),
                () = until(next) => self.tick(),
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        use Phase::*;
        match cmd {
            Cmd::Start(reply) => match self.s.phase {
                Dead | Failed | AutoRestart => {
                    self.starts.extend(reply);
                    self.begin_start();
                }
                p if p.starting() => self.starts.extend(reply),
                p if p.stopping() => self.start_after_stop.push(reply),
                _ => answer(reply, JobResult::Done),
            },
            Cmd::Restart(reply) => match self.s.phase {
                Dead | Failed | AutoRestart => {
                    self.starts.extend(reply);
                    self.begin_start();
                }
                p if p.stopping() => self.start_after_stop.push(reply),
                _ => {
                    self.start_after_stop.push(reply);
                    self.begin_stop();
                }
            },
            Cmd::Stop(reply) => match self.s.phase {
                Dead | Failed => answer(reply, JobResult::Done),
                AutoRestart => {
                    self.timer = None;
                    self.set_phase(Dead);
                    answer(reply, JobResult::Done);
                }
                p => {
                    for r in self.start_after_stop.drain(..) {
                        answer(r, JobResult::Canceled);
                    }
                    self.stops.extend(reply);
                    if !p.stopping() {
                        self.begin_stop();
                    }
                }
            },
            Cmd::Reload(reply) => self.begin_reload(reply),
            Cmd::ResetFailed => {
                if self.s.phase == Failed {
                    self.s.result = Res::Success;
                    self.set_phase(Dead);
                }
                self.start_times.clear();
                self.s.n_restarts = 0;
            }
            Cmd::Replace(unit) => {
                self.s.unit = unit;
                self.warned = false;
            }
        }
    }

    fn notified(&mut self, msg: Message) {
        let unit = self.s.unit.clone();
        let from_main = msg.pid.is_some() && msg.pid == self.s.main_pid;
        let allowed = match unit.notify_access {
            NotifyAccess::None => false,
            NotifyAccess::Main => from_main,
            NotifyAccess::Exec => from_main || (msg.pid.is_some() && msg.pid == self.s.control_pid),
            NotifyAccess::All => true,
        };
        if !allowed {
            let pid = msg.pid.map_or("?".into(), |p| p.to_string());
            let why = match (unit.notify_access, self.s.main_pid) {
                (NotifyAccess::None, _) => "but reception is disabled".to_string(),
                (_, Some(main)) => format!("but reception only permitted for main PID {main}"),
                (_, None) => {
                    "but reception only permitted for main PID which is currently not known".into()
                }
            };
            self.log(&format!("Got notification message from PID {pid}, {why}"));
            return;
        }
        for (k, v) in msg.fields {
            match k.as_str() {
                "READY" if v == "1" && self.s.phase == Phase::Start => self.enter_start_post(),
                "STATUS" => self.s.status_text = v,
                _ => {}
            }
        }
    }

    /// A manager message about this unit (`systemd[1]: <unit>: msg`).
    pub(super) fn log(&self, msg: &str) {
        let name = &self.s.unit.name;
        self.ctx.journal.manager(name, &format!("{name}: {msg}"));
    }

    /// A manager message in systemd's own words, without the unit prefix.
    pub(super) fn say(&self, msg: &str) {
        self.ctx.journal.manager(&self.s.unit.name, msg);
    }
}

/// Sends `r` on `reply`, if anyone waits.
pub(super) fn answer(reply: Option<Reply>, r: JobResult) {
    if let Some(reply) = reply {
        let _ = reply.send(r);
    }
}

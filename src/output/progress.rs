//! One progress path: long-running work (the infra engine, fan-out, playbook runs, phases)
//! never prints. It sends [`Event`]s through a cloneable [`Progress`] handle to one monitor
//! thread that owns the [`Printer`] and turns them into spinners on a terminal or plain
//! timestamped lines elsewhere, in the order they were sent (colmena's shape).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::{Printer, Step, Style};

/// What the monitor is told.
#[derive(Debug)]
enum Event {
    StepStart {
        id: u64,
        name: String,
        message: String,
    },
    StepMessage {
        id: u64,
        message: String,
    },
    StepEnd {
        id: u64,
        ok: bool,
        message: String,
    },
    Info(String),
    Warn(String),
    /// A line of results for stdout (like ansible-playbook's task lines).
    Data(String),
    Shutdown,
}

/// A handle to report progress; clone it freely, send it across tasks and threads.
#[derive(Clone, Debug)]
pub struct Progress {
    tx: mpsc::Sender<Event>,
    next: Arc<AtomicU64>,
    style: Style,
}

impl Progress {
    /// A handle whose events go nowhere (unit tests of code that reports progress).
    pub fn discard() -> Progress {
        let (tx, _) = mpsc::channel();
        Progress {
            tx,
            next: Arc::new(AtomicU64::new(0)),
            style: Style { color: false },
        }
    }

    fn send(&self, e: Event) {
        // The monitor is gone only after `finish`; late events have nowhere to go.
        let _ = self.tx.send(e);
    }

    /// The terminal's styling, for work that formats result lines itself.
    pub fn style(&self) -> Style {
        self.style
    }

    /// A progress message (hidden with `-q`).
    pub fn info(&self, text: impl Into<String>) {
        self.send(Event::Info(text.into()));
    }

    /// A warning (always shown).
    pub fn warn(&self, text: impl Into<String>) {
        self.send(Event::Warn(text.into()));
    }

    /// A line of results for stdout.
    pub fn data(&self, text: impl Into<String>) {
        self.send(Event::Data(text.into()));
    }

    /// Starts a step: a spinner on a terminal, a "name: message" line elsewhere. A step
    /// dropped without `done`/`failed` ends as interrupted.
    pub fn step(&self, name: &str, message: &str) -> StepHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.send(Event::StepStart {
            id,
            name: name.to_owned(),
            message: message.to_owned(),
        });
        StepHandle {
            progress: self.clone(),
            id,
            ended: false,
        }
    }
}

/// A running step; ends with [`StepHandle::done`] or [`StepHandle::failed`].
#[derive(Debug)]
pub struct StepHandle {
    progress: Progress,
    id: u64,
    ended: bool,
}

impl StepHandle {
    /// Updates the step's message.
    pub fn message(&self, text: &str) {
        self.progress.send(Event::StepMessage {
            id: self.id,
            message: text.to_owned(),
        });
    }

    /// Ends the step with a success line.
    pub fn done(mut self, text: &str) {
        self.end(true, text);
    }

    /// Ends the step with a failure line.
    pub fn failed(mut self, text: &str) {
        self.end(false, text);
    }

    fn end(&mut self, ok: bool, text: &str) {
        self.ended = true;
        self.progress.send(Event::StepEnd {
            id: self.id,
            ok,
            message: text.to_owned(),
        });
    }
}

impl Drop for StepHandle {
    fn drop(&mut self) {
        if !self.ended {
            self.end(false, "interrupted");
        }
    }
}

/// The monitor thread; [`Monitor::finish`] (or drop) shows everything sent so far and stops.
#[derive(Debug)]
pub struct Monitor {
    tx: mpsc::Sender<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the monitor that owns `printer` and returns the handle workers report through.
pub fn start(printer: &Printer) -> (Progress, Monitor) {
    let (tx, rx) = mpsc::channel();
    let printer = printer.clone();
    let style = printer.style();
    let thread = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || render(&printer, &rx))
        .ok();
    let progress = Progress {
        tx: tx.clone(),
        next: Arc::new(AtomicU64::new(0)),
        style,
    };
    (progress, Monitor { tx, thread })
}

impl Monitor {
    /// Shows every event sent before this call, then stops the monitor.
    pub fn finish(self) {}
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.tx.send(Event::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn render(printer: &Printer, rx: &mpsc::Receiver<Event>) {
    let mut steps: HashMap<u64, Step> = HashMap::new();
    while let Ok(ev) = rx.recv() {
        match ev {
            Event::StepStart { id, name, message } => {
                steps.insert(id, printer.step(&name, &message));
            }
            Event::StepMessage { id, message } => {
                if let Some(s) = steps.get(&id) {
                    s.message(&message);
                }
            }
            Event::StepEnd { id, ok, message } => {
                if let Some(s) = steps.remove(&id) {
                    if ok {
                        s.done(&message);
                    } else {
                        s.failed(&message);
                    }
                }
            }
            Event::Info(t) => printer.info(&t),
            Event::Warn(t) => printer.warn(&t),
            Event::Data(t) => printer.data(&t),
            Event::Shutdown => break,
        }
    }
    for (_, s) in steps.drain() {
        s.failed("interrupted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_from_many_threads_reach_the_monitor_and_finish_flushes_them() {
        let printer = Printer::new(super::super::OutputFormat::Text, -1);
        let (progress, monitor) = start(&printer);
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let p = progress.clone();
                std::thread::spawn(move || {
                    let s = p.step(&format!("w{i}"), "working");
                    s.message("half");
                    s.done("ok");
                    p.data(format!("line {i}"));
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        monitor.finish();
        // Data went through the printer, so the process counts as having written data.
        assert!(printer.wrote_data());
        // After finish, sending is harmless.
        progress.info("late");
    }
}

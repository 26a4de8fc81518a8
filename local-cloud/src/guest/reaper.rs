//! Child processes of a host's init: spawning them and collecting their exit.
//!
//! As PID 1 of its namespace the init also inherits every orphan of the host, so it reaps
//! with `waitpid(-1)` on each SIGCHLD. That would steal the exit of a child some other code
//! waits for, so every child is spawned here and its exit handed over through a channel;
//! nothing else in the init may wait for a process. The init runs a single-threaded
//! runtime, so a spawn and its registration are never interleaved with a reaping pass.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal (`core`: it dumped core).
    Signal { sig: i32, core: bool },
}

impl Exit {
    fn from_raw(raw: i32) -> Exit {
        if raw & 0x7f == 0 {
            Exit::Code((raw >> 8) & 0xff)
        } else {
            Exit::Signal {
                sig: raw & 0x7f,
                core: raw & 0x80 != 0,
            }
        }
    }
}

/// A spawned child: its pid and its exit, when it comes.
#[derive(Debug)]
pub struct Spawned {
    pub pid: u32,
    pub exit: oneshot::Receiver<Exit>,
}

type Waiters = Arc<Mutex<HashMap<u32, oneshot::Sender<Exit>>>>;

/// Spawns children and reaps every process that ends in the host.
#[derive(Debug, Clone)]
pub struct Reaper {
    waiters: Waiters,
}

fn lock(w: &Waiters) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<Exit>>> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

impl Reaper {
    /// Installs the SIGCHLD handler and starts reaping (on the current runtime).
    pub fn start() -> std::io::Result<Reaper> {
        let mut sigchld = signal(SignalKind::child())?;
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        tokio::spawn(async move {
            reap(&w);
            while sigchld.recv().await.is_some() {
                reap(&w);
            }
        });
        Ok(Reaper { waiters })
    }

    /// Spawns `cmd` (its stdio set by the caller) and registers it before any reaping pass
    /// can see it end.
    pub fn spawn(&self, cmd: &mut Command) -> std::io::Result<Spawned> {
        let mut waiters = lock(&self.waiters);
        // std never waits for a dropped `Child`: the reaper collects it.
        let pid = cmd.spawn()?.id();
        let (tx, exit) = oneshot::channel();
        waiters.insert(pid, tx);
        Ok(Spawned { pid, exit })
    }
}

/// Collects every ended child: registered ones report their exit, orphans just go.
fn reap(waiters: &Waiters) {
    use rustix::process::{WaitOptions, wait};
    while let Ok(Some((pid, status))) = wait(WaitOptions::NOHANG) {
        let pid = pid.as_raw_nonzero().get().unsigned_abs();
        if let Some(tx) = lock(waiters).remove(&pid) {
            let _ = tx.send(Exit::from_raw(status.as_raw()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_are_decoded() {
        assert_eq!(Exit::from_raw(0), Exit::Code(0));
        assert_eq!(Exit::from_raw(3 << 8), Exit::Code(3));
        assert_eq!(
            Exit::from_raw(9),
            Exit::Signal {
                sig: 9,
                core: false
            }
        );
        assert_eq!(
            Exit::from_raw(11 | 0x80),
            Exit::Signal {
                sig: 11,
                core: true
            }
        );
    }
}

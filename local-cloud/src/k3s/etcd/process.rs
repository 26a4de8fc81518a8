//! The etcd member as a child process that never outlives its server: the child asks the
//! kernel for SIGKILL when its parent goes (`PR_SET_PDEATHSIG`, set between fork and exec,
//! then a check that the parent is still the one that forked it), and one thread owns the
//! child for its whole life, since the kernel's "parent" is the forking thread. A clean
//! shutdown sends SIGTERM, then SIGKILL after a grace period.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::watch;

/// The etcd executable: `etcd` on `PATH`, else Debian's `/usr/bin/etcd`.
pub fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("etcd"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/etcd")).filter(|p| p.is_file()))
}

/// What the owning thread is asked to do.
#[derive(Debug)]
enum Ask {
    Terminate,
    Kill,
}

/// A running member process.
#[derive(Debug)]
pub struct MemberProcess {
    pid: u32,
    asks: mpsc::Sender<Ask>,
    /// `Some(status)` once the process has exited.
    exit: watch::Receiver<Option<String>>,
}

/// Makes the child die with this process (see the module documentation).
#[allow(
    unsafe_code,
    reason = "pre_exec is the only way to run prctl in the child before etcd starts; the \
              closure makes two async-signal-safe system calls and allocates nothing"
)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec and only calls prctl and
    // getppid, which are async-signal-safe and touch no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent may have died between fork and prctl: then nobody would kill us.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other(
                    "the k3s server exited before etcd started",
                ));
            }
            Ok(())
        });
    }
}

fn owner(mut child: Child, asks: mpsc::Receiver<Ask>, exit: watch::Sender<Option<String>>) {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let _ = exit.send(Some(status.to_string()));
                return;
            }
            Ok(None) => {}
            Err(e) => {
                let _ = exit.send(Some(e.to_string()));
                return;
            }
        }
        match asks.recv_timeout(Duration::from_millis(100)) {
            Ok(Ask::Terminate) => {
                if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                }
            }
            Ok(Ask::Kill) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string());
                let _ = exit.send(Some(status.unwrap_or_else(|e| e.to_string())));
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

impl MemberProcess {
    /// Starts `bin args...` with this process's stdout and stderr (k3s's embedded etcd
    /// logs into k3s's own log, as zap JSON lines).
    pub fn spawn(bin: &Path, args: &[String]) -> std::io::Result<Self> {
        let mut cmd = Command::new(bin);
        // etcd notifies systemd itself when NOTIFY_SOCKET is set: only the server may say
        // READY=1, once its own checks pass.
        cmd.args(args)
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        die_with_parent(&mut cmd);
        let (started_tx, started_rx) = mpsc::channel();
        let (asks_tx, asks_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        std::thread::Builder::new()
            .name("etcd-member".into())
            .spawn(move || match cmd.spawn() {
                Ok(child) => {
                    let _ = started_tx.send(Ok(child.id()));
                    owner(child, asks_rx, exit_tx);
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                }
            })?;
        let pid = started_rx
            .recv()
            .map_err(|_| std::io::Error::other("the etcd thread ended"))??;
        Ok(Self {
            pid,
            asks: asks_tx,
            exit: exit_rx,
        })
    }

    /// The member's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resolves with the exit status once the process has exited.
    pub async fn exited(&self) -> String {
        let mut rx = self.exit.clone();
        loop {
            if let Some(s) = rx.borrow_and_update().clone() {
                return s;
            }
            if rx.changed().await.is_err() {
                return "unknown".into();
            }
        }
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace`; returns once it exited.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.asks.send(Ask::Terminate);
        if tokio::time::timeout(grace, self.exited()).await.is_err() {
            let _ = self.asks.send(Ask::Kill);
            let _ = self.exited().await;
        }
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        // The owning thread kills the child when its channel closes.
        let _ = self.asks.send(Ask::Kill);
    }
}

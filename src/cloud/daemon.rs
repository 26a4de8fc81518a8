//! The local cloud as a background process, so it outlives the command that started it the
//! way a real cloud does: `platform up` and `platform status` meet the same resources (and,
//! with real hosts, the same running VMs), and a `kill -9` of `platform` leaves operations
//! in flight running, as on Azure.
//!
//! `platform local-cloud serve` holds an exclusive `flock` on `<data_dir>/serve.lock` for its
//! life and describes itself in `<data_dir>/serve.json`. A command that needs the local cloud
//! takes `<data_dir>/spawn.lock`, and starts `serve` detached (its own process group) unless
//! one already holds `serve.lock`.

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;

/// `serve.json`: how to reach a running local cloud.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServeRecord {
    pub pid: u32,
    pub endpoint: String,
    pub ca_path: PathBuf,
    pub time_factor: f64,
    /// Whether scale-set VMs are realized as real SSH hosts (`serve --hosts`).
    #[serde(default)]
    pub hosts: bool,
}

const RECORD: &str = "serve.json";
const SERVE_LOCK: &str = "serve.lock";
const SPAWN_LOCK: &str = "spawn.lock";
/// How long a fresh `serve` may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn open_lock(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("cannot open", path, e))
}

/// Held by a running `serve` for its whole life.
#[derive(Debug)]
pub struct ServeGuard {
    _lock: File,
    dir: PathBuf,
}

impl ServeGuard {
    /// Takes `serve.lock`; fails when another `serve` runs on the same data directory.
    pub fn acquire(dir: &Path) -> Result<ServeGuard, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        let lock = open_lock(&dir.join(SERVE_LOCK))?;
        if !lock.try_lock_exclusive().unwrap_or(false) {
            let who = read_record(dir).map(|r| format!(" (pid {}, {})", r.pid, r.endpoint));
            return Err(Error::Usage(format!(
                "a local cloud already serves {}{}",
                dir.display(),
                who.unwrap_or_default()
            )));
        }
        Ok(ServeGuard {
            _lock: lock,
            dir: dir.to_owned(),
        })
    }

    /// Publishes how to reach this server (atomically).
    pub fn publish(&self, rec: &ServeRecord) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(rec).unwrap_or_default();
        crate::fsutil::write_atomic(&self.dir.join(RECORD), &bytes)?;
        Ok(())
    }
}

impl Drop for ServeGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(RECORD));
    }
}

fn read_record(dir: &Path) -> Option<ServeRecord> {
    serde_json::from_slice(&std::fs::read(dir.join(RECORD)).ok()?).ok()
}

/// Whether a `serve` holds the data directory (checked with the lock, not the pid).
fn is_served(dir: &Path) -> Result<bool, Error> {
    let lock = open_lock(&dir.join(SERVE_LOCK))?;
    let free = lock.try_lock_exclusive().unwrap_or(false);
    if free {
        let _ = FileExt::unlock(&lock);
    }
    Ok(!free)
}

/// Waits for a running server's record (it is written just after the lock is taken).
fn wait_record(dir: &Path, pid: Option<u32>) -> Result<ServeRecord, Error> {
    let t0 = Instant::now();
    loop {
        if let Some(r) = read_record(dir)
            && pid.is_none_or(|p| p == r.pid)
        {
            return Ok(r);
        }
        if t0.elapsed() > START_TIMEOUT {
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            return Err(Error::Failed(format!(
                "the local cloud did not start within {START_TIMEOUT:?}; last lines of {}:\n{}",
                dir.join("serve.log").display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Returns a running local cloud for `dir`, starting one in the background when none runs
/// (or when the running one has another time factor or hosts setting).
pub fn ensure_running(dir: &Path, time_factor: f64, hosts: bool) -> Result<ServeRecord, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let spawn_lock = open_lock(&dir.join(SPAWN_LOCK))?;
    spawn_lock
        .lock_exclusive()
        .map_err(|e| Error::io("cannot lock", &dir.join(SPAWN_LOCK), e))?;
    if is_served(dir)? {
        let rec = wait_record(dir, None)?;
        if (rec.time_factor - time_factor).abs() < f64::EPSILON && rec.hosts == hosts {
            return Ok(rec);
        }
        tracing::info!(
            old = rec.time_factor,
            new = time_factor,
            "restarting the local cloud with a new time factor"
        );
        stop(dir)?;
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the platform binary: {e}")))?;
    let log_path = dir.join("serve.log");
    let log = File::create(&log_path).map_err(|e| Error::io("cannot create", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io("cannot open", &log_path, e))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["local-cloud", "serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .arg("--time-factor")
        .arg(time_factor.to_string());
    if hosts {
        cmd.arg("--hosts");
    }
    if time_factor < 0.1 {
        // Scaled operations finish in well under a second; a whole-second Retry-After
        // would dominate every run.
        cmd.args(["--retry-after", "0"]);
    }
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| Error::Failed(format!("cannot start the local cloud: {e}")))?;
    tracing::info!(pid = child.id(), dir = %dir.display(), "started the local cloud in the background");
    wait_record(dir, Some(child.id()))
}

/// Stops the local cloud serving `dir`, if any, and waits until it has released its lock.
/// Returns whether one was running.
pub fn stop(dir: &Path) -> Result<bool, Error> {
    if !dir.is_dir() || !is_served(dir)? {
        return Ok(false);
    }
    let rec = wait_record(dir, None)?;
    let pid = i32::try_from(rec.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| Error::Failed(format!("bad pid {} in serve.json", rec.pid)))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(|e| {
        Error::Failed(format!(
            "cannot stop the local cloud (pid {}): {e}",
            rec.pid
        ))
    })?;
    let t0 = Instant::now();
    while is_served(dir)? {
        if t0.elapsed() > START_TIMEOUT {
            return Err(Error::Failed(format!(
                "the local cloud (pid {}) did not stop within {START_TIMEOUT:?}",
                rec.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(true)
}

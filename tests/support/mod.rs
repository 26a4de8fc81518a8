//! Shared helpers for integration tests: run the real `platform` binary in a directory.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::{Command, Output};

/// The `platform` binary built for this test run, in `dir`, with a clean environment for the
/// variables it reads.
pub fn platform(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_platform"));
    c.current_dir(dir)
        .env_remove("PLATFORM_CONFIG")
        .env_remove("PLATFORM_STATE_DIR")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

/// What a finished command printed, with stderr's timestamps removed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `platform ARGS` in `dir` and waits for it.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    let out = platform(dir).args(args).output().expect("run platform");
    finish(out)
}

/// Turns a process output into a [`Run`].
pub fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: strip_timestamps(&String::from_utf8_lossy(&out.stderr)),
    }
}

/// Removes the RFC 3339 timestamp that non-TTY stderr lines start with.
pub fn strip_timestamps(s: &str) -> String {
    s.lines()
        .map(|l| match l.split_once(' ') {
            Some((ts, rest))
                if ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T' =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Stops the background local cloud of a test's state directory when dropped (tests clean
/// up every process they start, even when they fail).
#[must_use = "the local cloud is stopped when the guard drops"]
pub struct LocalCloudGuard(std::path::PathBuf);

impl LocalCloudGuard {
    /// Guards the local cloud of the state directory `<dir>/.platform`.
    pub fn new(dir: &Path) -> Self {
        LocalCloudGuard(dir.to_owned())
    }
}

impl Drop for LocalCloudGuard {
    fn drop(&mut self) {
        let _ = platform::cloud::daemon::stop(&self.0.join(".platform/local-cloud"));
    }
}

/// A local-cloud config for cluster `name` in `dir`, with extra YAML appended; the guard
/// stops the cluster's local cloud at the end of the test.
pub fn write_local_config(dir: &Path, name: &str, extra: &str) -> LocalCloudGuard {
    let text = format!(
        "cluster: {name}\ncloud:\n  kind: local\n  local_time_factor: 0.001\n  local_hosts: false\nnetwork:\n  admin_cidrs: [192.0.2.0/24]\ngitops:\n  controller: none\n{extra}"
    );
    std::fs::write(dir.join("platform.yaml"), text).unwrap();
    LocalCloudGuard(dir.to_owned())
}
pub mod ansible;
pub mod cloud;
pub mod nodes;
pub mod procs;
pub mod sshd;

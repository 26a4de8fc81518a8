//! The one support library of the integration tests (`tests/<group>/main.rs`) and the
//! benchmarks (`benches/`): the real `platform` binary run in a directory, one gate for what
//! a machine may lack, and the real processes the tests meet.
//!
//! - [`require`]: root and tools (Ansible through `PLATFORM_ANSIBLE_BIN`); a test that cannot
//!   run says `SKIPPED` on the terminal, and fails when `CI` is set.
//! - [`cluster`]: the one test cluster: `platform.yaml` written from a spec, the binary run in
//!   its directory, its state read back, its own local cloud stopped on drop.
//! - [`cloud`]: a `platform local-cloud serve` process (shared by a test binary or a test's
//!   own) and the HTTPS client of a local cloud's ARM and control endpoints.
//! - [`nodes`]: clusters whose VMs are real SSH hosts: inventory hosts, `ssh` pinned to the
//!   cluster's `known_hosts`, PLAY RECAP counters, the leftovers check of a teardown.
//! - [`local_cloud`]: a local cloud served in the test process, driven over raw ARM HTTP.
//! - [`sshd`]: real OpenSSH servers on loopback or in a network namespace.
//! - [`arm_server`]: a scripted ARM server for the ARM client's protocol tests.
//! - [`http_files`]: files over plain HTTP on loopback, for `get_url`.
//! - [`inventory`]: reading an Ansible `--list` document. [`procs`]: what a host left behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a helper fails its test by panicking"
)]

pub mod arm_server;
pub mod cloud;
pub mod cluster;
pub mod http_files;
pub mod inventory;
pub mod local_cloud;
pub mod nodes;
pub mod procs;
pub mod require;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use cluster::Cluster;
pub use require::{Need, ansible, require};

/// The `platform` binary of this build: Cargo names it in `CARGO_BIN_EXE_platform` for the
/// tests and benchmarks it runs; otherwise (a test binary started by hand) it sits in the
/// directory above the test binary's `deps/`.
pub fn platform_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_BIN_EXE_platform") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("platform"))
        .filter(|p| p.is_file());
    bin.unwrap_or_else(|| {
        panic!(
            "no platform binary beside {} (run the tests through cargo)",
            exe.display()
        )
    })
}

/// The `platform` binary in `dir`, with a clean environment for the variables it reads.
pub fn platform(dir: &Path) -> Command {
    let mut c = Command::new(platform_bin());
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

/// Whether `cargo bench` runs this benchmark (a `harness = false` target): it passes
/// `--bench`, while `cargo test --all-targets` runs the target without it, and a benchmark
/// must not run there. Otherwise says on stdout that it skipped and how to run it (`how`).
pub fn bench_requested(how: &str) -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    let name = require::exe_name();
    let line = format!("{name}: a benchmark, not a test; run it with {how}; skipped\n");
    let _ = std::io::Write::write_all(&mut std::io::stdout(), line.as_bytes());
    false
}

/// The test binary itself, set to run only the ignored test `name` of the module at
/// `module_path` (`module_path!()` there): a child process for what a test must not do in its
/// own process (be killed, run with another `PATH`). The caller adds its environment.
pub fn rerun_ignored(module_path: &str, name: &str) -> Command {
    let test = match module_path.split_once("::") {
        Some((_crate, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    };
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.arg(test)
        .args(["--exact", "--ignored", "--test-threads=1"]);
    c
}

/// Runs `fut` to completion from synchronous test code, on one runtime shared by every
/// helper (an HTTP client's connections belong to the runtime that opened them). Not for
/// async tests, which already run on a runtime of their own.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
    .block_on(fut)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_stripped_from_log_lines_only() {
        let err = "2026-11-29T04:00:00Z ok infra\nerror: x 2026-11-29T04:00:00Z\nplain";
        assert_eq!(
            super::strip_timestamps(err),
            "ok infra\nerror: x 2026-11-29T04:00:00Z\nplain"
        );
    }
}

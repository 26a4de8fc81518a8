//! Running the k3s stand-in as real processes on loopback: a `k3s server` or `k3s agent`
//! per `K3s` guard (killed on drop), readiness observed on a real `NOTIFY_SOCKET`, logs in a
//! file, and the machine's newest `kubectl` found the way a user's would be.

#![allow(dead_code, reason = "each test binary uses a part of the support")]

pub mod cluster;
/// A real PostgreSQL on loopback: kube-standin's test helper, the one both crates use.
#[path = "../../../kube-standin/tests/support/postgres.rs"]
pub mod postgres;

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The version every test cluster runs.
pub const VERSION: &str = "v1.31.4+k3s1";

/// Generous bound for anything observable to happen (never a timing assumption: the
/// condition is polled and this only stops a hung test).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A port no one listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether the tests run under CI (a skip is then a failure).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Says a test cannot run here, on the real stderr (not captured by libtest), and fails it
/// when `CI` is set.
pub fn skip(test: &str, why: &str) {
    assert!(std::env::var_os("CI").is_none(), "{test}: {why}");
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
}

/// The newest versioned kubectl of the Debian package, else `kubectl` on the PATH.
pub fn kubectl() -> Option<PathBuf> {
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, e.path()))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, p)| p).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    })
}

/// A running stand-in process.
pub struct K3s {
    child: Child,
    pub log: PathBuf,
    notify: UnixDatagram,
    pub data_dir: PathBuf,
}

impl K3s {
    /// Starts `k3s <args...>` with a notify socket and its log in `dir`.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> K3s {
        K3s::start_with_env(dir, name, args, &[])
    }

    /// [`K3s::start`] with extra environment variables.
    pub fn start_with_env(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> K3s {
        let sock = dir.join(format!("{name}.notify"));
        let _ = std::fs::remove_file(&sock);
        let notify = UnixDatagram::bind(&sock).expect("notify socket");
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_local-cloud-k3s"))
            .arg(local_cloud::k3s::MARKER)
            .arg(VERSION)
            .args(args)
            .env("NOTIFY_SOCKET", &sock)
            .env("LOCAL_CLOUD_TIME_FACTOR", "0.01")
            .env_remove("K3S_TOKEN")
            .env_remove("K3S_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the k3s stand-in");
        let data_dir = args
            .iter()
            .position(|a| *a == "--data-dir")
            .map(|i| PathBuf::from(args[i + 1]))
            .unwrap_or_default();
        K3s {
            child,
            log,
            notify,
            data_dir,
        }
    }

    /// Waits for `READY=1` on the notify socket; panics (with the log) if the process ends
    /// first or nothing comes within [`PATIENCE`].
    pub fn wait_ready(&mut self) {
        self.notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let t0 = Instant::now();
        let mut buf = [0u8; 64];
        while t0.elapsed() < PATIENCE {
            if let Ok(n) = self.notify.recv(&mut buf) {
                assert_eq!(&buf[..n], b"READY=1");
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("k3s exited with {st} before READY=1:\n{}", self.logs());
            }
        }
        panic!("no READY=1 within {PATIENCE:?}:\n{}", self.logs());
    }

    /// Whether a `READY=1` arrived (without waiting).
    pub fn notified(&self) -> bool {
        self.notify.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        let got = self.notify.recv(&mut buf).is_ok();
        self.notify.set_nonblocking(false).unwrap();
        got
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (returns the log).
    pub fn wait_log(&mut self, needle: &str) -> String {
        let t0 = Instant::now();
        while t0.elapsed() < PATIENCE {
            let l = self.logs();
            if l.contains(needle) {
                return l;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("k3s exited with {st} before logging {needle:?}:\n{l}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {needle:?} within {PATIENCE:?}:\n{}", self.logs());
    }

    /// Waits for the process to exit by itself; its code.
    pub fn wait_exit(&mut self) -> i32 {
        let t0 = Instant::now();
        while t0.elapsed() < PATIENCE {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("still running after {PATIENCE:?}:\n{}", self.logs());
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as `systemctl stop` sends it; waits for the exit and returns its code.
    pub fn terminate(&mut self) -> i32 {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {}", self.child.id());
        self.wait_exit()
    }

    /// SIGKILL, as a crash or a pulled plug.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for K3s {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the machine's kubectl against `kubeconfig`; `(code, stdout, stderr)`.
pub fn kubectl_run(bin: &Path, kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", kubeconfig.parent().unwrap())
        .output()
        .expect("run kubectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `f` until it returns `Some`, for at most [`PATIENCE`].
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    while t0.elapsed() < PATIENCE {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {PATIENCE:?}");
}

/// The etcd binary the stand-in will run (`etcd` on PATH, else `/usr/bin/etcd`), or `None`
/// after saying why the test is skipped (a failure under `CI`).
pub fn etcd_or_skip(test: &str) -> Option<PathBuf> {
    let found = local_cloud::k3s::etcd::process::binary();
    if found.is_none() {
        skip(test, "no etcd binary (Debian package etcd-server)");
    }
    found
}

/// The etcd processes whose `--data-dir` is under `dir`, as `pid: argv` lines.
pub fn etcd_members_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_etcd = argv
            .first()
            .is_some_and(|a| Path::new(a).file_name() == Some("etcd".as_ref()));
        let data_dir = argv
            .iter()
            .position(|a| a == "--data-dir")
            .and_then(|i| argv.get(i + 1));
        if is_etcd && data_dir.is_some_and(|d| Path::new(d).starts_with(dir)) {
            found.push(format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                argv.join(" ")
            ));
        }
    }
    found
}

/// Waits until no etcd member runs on a data dir under `dir` (a killed server's member is
/// killed by the kernel, which takes a moment); fails after [`PATIENCE`].
pub fn wait_no_etcd_under(dir: &Path) {
    let t0 = Instant::now();
    loop {
        let left = etcd_members_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            t0.elapsed() < PATIENCE,
            "etcd still running after {PATIENCE:?}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

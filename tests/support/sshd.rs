//! Real OpenSSH servers for tests: `sshd -D` on a loopback port with its own host key,
//! accepting one client key for the non-root test user. Everything is removed on drop.
//!
//! Root is needed (sshd, the test user, sudoers). [`require_root`] skips a test with a printed
//! reason when not root, and fails it when `CI` is set, so CI cannot silently skip.

#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The login user of the test servers (never root: root's shell start-up files are slow).
pub const TEST_USER: &str = "platformtest";

/// Whether the test can run; panics under CI when not root.
pub fn require_root(test: &str) -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (sshd, a test user, sudoers); CI must run it as root");
    }
    eprintln!("skipping {test}: needs root (sshd, a test user, sudoers)");
    false
}

fn sh(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Creates the test user once (kept between runs), unlocked so sshd without PAM admits it.
pub fn ensure_user() {
    let exists = Command::new("id")
        .arg(TEST_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        // Another test binary may race us; a failure is fine if the user now exists.
        let _ = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", TEST_USER])
            .output();
    }
    // `*`: no password, but not locked (a locked account is refused by sshd).
    sh(Command::new("usermod").args(["-p", "*", TEST_USER]));
    std::fs::create_dir_all("/run/sshd").unwrap();
}

/// A client key pair in its own temporary directory.
pub struct ClientKey {
    _dir: tempfile::TempDir,
    pub private: PathBuf,
    pub public: String,
}

impl ClientKey {
    pub fn new() -> ClientKey {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("id_ed25519");
        keygen(&private);
        let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
        ClientKey {
            _dir: dir,
            private,
            public,
        }
    }
}

fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    sh(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "platform-test", "-f"])
        .arg(path));
}

/// A free loopback port (bound then released: a small race, acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `sshd -D` on `127.0.0.1:port`.
pub struct Sshd {
    dir: tempfile::TempDir,
    pub address: String,
    pub port: u16,
    child: Option<Child>,
}

impl Sshd {
    /// Starts a server on a free port that admits `authorized_key` for [`TEST_USER`].
    pub fn start(authorized_key: &str) -> Sshd {
        Sshd::start_on(free_port(), authorized_key)
    }

    /// Starts a server on `port`.
    pub fn start_on(port: u16, authorized_key: &str) -> Sshd {
        ensure_user();
        let dir = tempfile::tempdir().unwrap();
        // The unprivileged sshd child reads authorized_keys as the test user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let keys = dir.path().join("authorized_keys");
        std::fs::write(&keys, authorized_key).unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
        keygen(&dir.path().join("host_key"));
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nAllowUsers {TEST_USER}\nMaxSessions 64\n\
             MaxStartups 200\nLogLevel ERROR\nPrintMotd no\nSubsystem sftp internal-sftp\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let mut s = Sshd {
            dir,
            address: "127.0.0.1".into(),
            port,
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start /usr/sbin/sshd (install openssh-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(Child::try_wait) {
                panic!("sshd exited with {st}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// sshd's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The server's public host key line.
    pub fn host_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap()
    }

    /// The listener's pid, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Open SSH connections: one sshd child per accepted TCP connection.
    pub fn connections(&self) -> usize {
        self.pid().map(|p| children_of(p as i32).len()).unwrap_or(0)
    }

    /// Kills the listener and every connection it serves (a host that dies).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let mut pids = descendants(c.id() as i32);
            pids.push(c.id() as i32);
            for p in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .output();
            }
            let _ = c.wait();
        }
    }

    /// Kills the server and starts it again on the same address with a NEW host key.
    pub fn restart_with_new_key(&mut self) {
        self.kill();
        keygen(&self.dir.path().join("host_key"));
        self.spawn();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parent of every process, from /proc.
fn parents() -> HashMap<i32, i32> {
    let mut map = HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: ppid follows the last `)`.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
            && let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok())
        {
            map.insert(pid, ppid);
        }
    }
    map
}

fn children_of(pid: i32) -> Vec<i32> {
    parents()
        .into_iter()
        .filter(|(_, pp)| *pp == pid)
        .map(|(p, _)| p)
        .collect()
}

fn descendants(pid: i32) -> Vec<i32> {
    let map = parents();
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (c, _) in map.iter().filter(|(_, pp)| **pp == p) {
            out.push(*c);
            frontier.push(*c);
        }
    }
    out
}

/// Passwordless sudo for the test user while alive.
pub struct Sudoers {
    path: PathBuf,
}

impl Sudoers {
    pub fn grant() -> Sudoers {
        let path = PathBuf::from(format!("/etc/sudoers.d/{TEST_USER}-{}", std::process::id()));
        std::fs::write(&path, format!("{TEST_USER} ALL=(ALL) NOPASSWD:ALL\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
        Sudoers { path }
    }
}

impl Drop for Sudoers {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A local-cloud config for `cluster` in `dir` that logs in as [`TEST_USER`] with `key`, and
/// `inventories/<cluster>/hosts.json` listing `hosts` (hostvars) plus `groups`.
pub fn write_cluster(
    dir: &Path,
    cluster: &str,
    key: &ClientKey,
    fanout: usize,
    hosts: &[(&str, &Sshd)],
    groups: serde_json::Value,
) {
    super::write_local_config(
        dir,
        cluster,
        &format!(
            "nodes:\n  ssh_user: {TEST_USER}\n  ssh_key: {}\n  ssh_fanout: {fanout}\n",
            key.private.display()
        ),
    );
    let hostvars: serde_json::Map<String, serde_json::Value> = hosts
        .iter()
        .map(|(n, s)| {
            (
                (*n).to_owned(),
                serde_json::json!({"ansible_host": s.address, "ansible_port": s.port}),
            )
        })
        .collect();
    let mut inv = groups;
    inv["_meta"] = serde_json::json!({ "hostvars": hostvars });
    let d = dir.join("inventories").join(cluster);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("hosts.json"), inv.to_string()).unwrap();
}

//! Real OpenSSH servers for tests: `sshd -D` on a loopback port with its own host key,
//! accepting one client key for the non-root test user, or on port 22 of a network
//! namespace of its own. Everything is removed on drop. Root is needed (sshd, the test user,
//! sudoers): gate the test with `support::require(&[Need::Hosts])`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::cluster::Cluster;

/// The login user of the test servers (never root: root's shell start-up files are slow).
pub const TEST_USER: &str = "platformtest";

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
/// Once per test process: parallel `usermod`s would fight over the /etc/passwd lock.
pub fn ensure_user() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let exists = || {
            Command::new("id")
                .arg(TEST_USER)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        for attempt in 0.. {
            if !exists() {
                let _ = Command::new("useradd")
                    .args(["-m", "-s", "/bin/sh", TEST_USER])
                    .output();
            }
            // `*`: no password, but not locked (a locked account is refused by sshd).
            let ok = Command::new("usermod")
                .args(["-p", "*", TEST_USER])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok && exists() {
                break;
            }
            // Another process may hold the /etc/passwd lock for a moment.
            assert!(attempt < 20, "cannot create the test user {TEST_USER}");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::create_dir_all("/run/sshd").unwrap();
    });
}

/// A client key pair in its own temporary directory.
pub struct ClientKey {
    _dir: tempfile::TempDir,
    /// The private key file.
    pub private: PathBuf,
    /// The public key line.
    pub public: String,
}

impl ClientKey {
    /// A new ed25519 key pair (`ssh-keygen`).
    pub fn generate() -> ClientKey {
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

/// A running `sshd -D` on `127.0.0.1:port`, or on port 22 of its own network namespace.
pub struct Sshd {
    dir: tempfile::TempDir,
    /// Where it listens.
    pub address: String,
    pub port: u16,
    child: Option<Child>,
    netns: Option<Netns>,
}

/// A network namespace joined to this one by a veth pair on a /30 (removed on drop).
struct Netns {
    name: String,
    host_if: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

static NETNS_SEQ: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) {
    sh(Command::new("ip").args(args));
}

impl Sshd {
    /// Starts a server on a free port that admits `authorized_key` for [`TEST_USER`].
    pub fn start(authorized_key: &str) -> Sshd {
        Sshd::start_on(free_port(), authorized_key)
    }

    /// Starts a server on `port`.
    pub fn start_on(port: u16, authorized_key: &str) -> Sshd {
        let mut s = Sshd::prepare("127.0.0.1", port, authorized_key, None);
        s.spawn();
        s
    }

    /// Starts a server on port 22 of a new network namespace, reachable from here over a veth
    /// pair (addresses in 100.73.0.0/16, out of the way of VNets and the local cloud).
    pub fn start_in_netns(authorized_key: &str) -> Sshd {
        let seq = NETNS_SEQ.fetch_add(1, Ordering::SeqCst);
        let slot = (std::process::id() % 64) * 256 + seq % 256;
        let (a, b) = (slot / 64, (slot % 64) * 4);
        let name = format!("plt-{}-{seq}", std::process::id());
        let host_if = format!("plth{}", slot);
        let peer_if = format!("pltn{}", slot);
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        let ns = Netns {
            name: name.clone(),
            host_if: host_if.clone(),
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ]);
        ip(&["link", "set", &peer_if, "netns", &name]);
        ip(&[
            "addr",
            "add",
            &format!("100.73.{a}.{}/30", b + 1),
            "dev",
            &host_if,
        ]);
        ip(&["link", "set", &host_if, "up"]);
        let inner = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &name, "ip"];
            full.extend_from_slice(args);
            ip(&full);
        };
        inner(&[
            "addr",
            "add",
            &format!("100.73.{a}.{}/30", b + 2),
            "dev",
            &peer_if,
        ]);
        inner(&["link", "set", &peer_if, "up"]);
        inner(&["link", "set", "lo", "up"]);
        let address = format!("100.73.{a}.{}", b + 2);
        let mut s = Sshd::prepare(&address, 22, authorized_key, Some(ns));
        s.spawn();
        s
    }

    /// The server's directory (authorized key, a new host key, `sshd_config`), not started.
    fn prepare(address: &str, port: u16, authorized_key: &str, netns: Option<Netns>) -> Sshd {
        ensure_user();
        let dir = tempfile::tempdir().unwrap();
        // The unprivileged sshd child reads authorized_keys as the test user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let keys = dir.path().join("authorized_keys");
        std::fs::write(&keys, authorized_key).unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
        keygen(&dir.path().join("host_key"));
        let s = Sshd {
            dir,
            address: address.into(),
            port,
            child: None,
            netns,
        };
        s.write_config();
        s
    }

    fn write_config(&self) {
        let config = format!(
            "Port {port}\nListenAddress {addr}\nHostKey {d}/host_key\nPidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nAllowUsers {TEST_USER}\nMaxSessions 64\n\
             MaxStartups 200\nLogLevel ERROR\nPrintMotd no\nSubsystem sftp internal-sftp\n",
            port = self.port,
            addr = self.address,
            d = self.dir.path().display()
        );
        std::fs::write(self.dir.path().join("sshd_config"), config).unwrap();
    }

    /// Makes the host vanish without a word (no RST, no FIN), as a crashed VM does: the link
    /// to its namespace goes down.
    pub fn pull_cable(&self) {
        let ns = self.netns.as_ref().expect("pull_cable needs a netns host");
        ip(&["link", "set", &ns.host_if, "down"]);
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("sshd.log")).unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name, "/usr/sbin/sshd"]);
                c
            }
            None => Command::new("/usr/sbin/sshd"),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start /usr/sbin/sshd (install openssh-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr: std::net::IpAddr = self.address.parse().unwrap();
        while std::net::TcpStream::connect_timeout(
            &(addr, self.port).into(),
            Duration::from_millis(500),
        )
        .is_err()
        {
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
    /// Grants it until dropped.
    pub fn grant() -> Sudoers {
        // One file per grant: tests of one binary may grant at the same time.
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let path = PathBuf::from(format!(
            "/etc/sudoers.d/{TEST_USER}-{}-{seq}",
            std::process::id()
        ));
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

/// A cluster `name` whose hosts are test sshds: it logs in as [`TEST_USER`] with `key`, and
/// `inventories/<name>/hosts.json` lists `hosts` (hostvars) plus `groups`. (`platform run`
/// and `play` read hosts.json and never start the local cloud.)
pub fn cluster(
    name: &str,
    key: &ClientKey,
    fanout: usize,
    hosts: &[(&str, &Sshd)],
    groups: serde_json::Value,
) -> Cluster {
    let c = Cluster::local(name)
        .yaml(&format!(
            "nodes:\n  ssh_user: {TEST_USER}\n  ssh_key: {}\n  ssh_fanout: {fanout}\n",
            key.private.display()
        ))
        .build();
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
    let file = c.inventory_file("hosts.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, inv.to_string()).unwrap();
    c
}

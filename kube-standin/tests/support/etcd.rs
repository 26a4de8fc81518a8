//! Real etcd members on loopback for tests: Debian's `etcd` binary (package `etcd-server`),
//! free ports, a temporary data directory each, and a guard that kills every member when
//! dropped (also on panic). Members also die with the test thread (`setpriv --pdeathsig`).

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube_standin::store::etcd::{EtcdConfig, EtcdStore, MemberStatus};

/// The etcd binary: `$KUBE_STANDIN_ETCD` when set (and nothing else then), else `etcd` on
/// PATH, else `/usr/bin/etcd`.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBE_STANDIN_ETCD") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("etcd"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/etcd")).filter(|p| p.is_file()))
}

/// The etcd binary, or `None` after telling why the test is skipped; under `CI` a missing
/// binary fails the test instead. libtest captures `eprintln!`, so the reason goes to the
/// stderr file descriptor itself.
pub fn etcd_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(p) = etcd_binary() {
        return Some(p);
    }
    let msg = format!(
        "SKIPPED {test}: no etcd binary (install Debian's etcd-server, or set KUBE_STANDIN_ETCD)\n"
    );
    if super::in_ci() {
        panic!("{msg}(CI is set, so this is a failure)");
    }
    let _ = std::io::stderr().write_all(msg.as_bytes());
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One member.
pub struct Member {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A cluster of members; dropping it kills them all.
pub struct EtcdCluster {
    bin: PathBuf,
    pub members: Vec<Member>,
    initial_cluster: String,
    root: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts `n` members on loopback and waits until they agree on a leader.
    pub async fn start(bin: PathBuf, n: usize) -> EtcdCluster {
        let root = tempfile::Builder::new()
            .prefix("kube-standin-etcd-")
            .tempdir()
            .expect("temp dir");
        let members: Vec<Member> = (0..n)
            .map(|i| {
                let name = format!("m{i}");
                Member {
                    client_url: format!("http://127.0.0.1:{}", free_port()),
                    peer_url: format!("http://127.0.0.1:{}", free_port()),
                    data_dir: root.path().join(&name),
                    log: root.path().join(format!("{name}.log")),
                    name,
                    child: None,
                }
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = EtcdCluster {
            bin,
            members,
            initial_cluster,
            root,
        };
        for i in 0..n {
            c.start_member(i);
        }
        c.wait_for_leader(&(0..n).collect::<Vec<_>>()).await;
        c
    }

    /// The directory every member's data and log is under (it names their processes too).
    pub fn root(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }

    /// The client URLs of all members.
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// A store on every member.
    pub fn store(&self) -> EtcdStore {
        EtcdStore::new(EtcdConfig::new(self.client_urls())).expect("etcd store")
    }

    /// A store that talks to member `i` only.
    pub fn pinned_store(&self, i: usize) -> EtcdStore {
        EtcdStore::new(EtcdConfig::new([self.members[i].client_url.clone()])).expect("store")
    }

    /// (Re)starts member `i` on its data directory.
    pub fn start_member(&mut self, i: usize) {
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "{} is already running", m.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("member log");
        let etcd_args = [
            "--name",
            &m.name,
            "--data-dir",
            &m.data_dir.to_string_lossy(),
            "--listen-client-urls",
            &m.client_url,
            "--advertise-client-urls",
            &m.client_url,
            "--listen-peer-urls",
            &m.peer_url,
            "--initial-advertise-peer-urls",
            &m.peer_url,
            "--initial-cluster",
            &self.initial_cluster,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            &self.root.path().to_string_lossy(),
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        .map(str::to_string);
        // The member dies with the test thread even if this process is killed outright.
        let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
            let mut c = Command::new("/usr/bin/setpriv");
            c.arg("--pdeathsig").arg("KILL").arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        let child = cmd
            .args(etcd_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        m.child = Some(child);
    }

    /// Kills member `i` (SIGKILL, as a crashed host) and reaps it.
    pub fn stop_member(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Member `i`'s status, if it answers.
    pub async fn status(&self, i: usize) -> Option<MemberStatus> {
        let mut config = EtcdConfig::new([self.members[i].client_url.clone()]);
        config.request_timeout = Duration::from_secs(2);
        let store = EtcdStore::new(config).ok()?;
        store.member_status(0).await.ok()
    }

    /// Waits until every member in `which` answers and they name the same leader among
    /// them; returns the leader's index.
    pub async fn wait_for_leader(&self, which: &[usize]) -> usize {
        let what = format!("members {which:?} agree on a leader");
        wait_until(&what, || async {
            let mut leader = None;
            let mut ids = Vec::new();
            for &i in which {
                let s = self.status(i).await?;
                if leader.is_some() && leader != s.leader {
                    return None;
                }
                leader = s.leader;
                ids.push((i, s.member_id));
            }
            let leader = leader?;
            ids.iter().find(|(_, id)| *id == leader).map(|(i, _)| *i)
        })
        .await
    }

    /// Waits until member `i` reports that it has no leader.
    pub async fn wait_leaderless(&self, i: usize) -> MemberStatus {
        wait_until(&format!("member {i} reports no leader"), || async {
            self.status(i).await.filter(|s| s.leader.is_none())
        })
        .await
    }

    /// The last lines of member `i`'s log (for failure messages).
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.members[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop_member(i);
        }
    }
}

/// Polls `check` until it gives a value; fails after a generous bound (2 minutes), which
/// only guards against a hang and is never what a test measures.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not reached within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Processes whose command line mentions `marker` (a cluster's root directory): after the
/// guard is dropped there must be none.
pub fn processes_mentioning(marker: &Path) -> Vec<String> {
    let marker = marker.to_string_lossy().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&marker) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}

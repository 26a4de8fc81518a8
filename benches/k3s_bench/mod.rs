//! What `benches/k3s_api.rs` drives: the k3s stand-in of the `platform` binary as plain
//! processes on loopback (a server, agents), an HTTPS client for its API (the admin
//! kubeconfig's client certificate) or for ARM (the cloud's token), and the statistics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

/// The version the stand-in reports.
const VERSION: &str = "v1.31.4+k3s1";

/// `name` from the environment, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/PID/smaps_rollup` field (`Rss`, `Pss`) in KiB.
pub fn mem_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `(p50, p99, mean)` of `v` (nearest rank).
pub fn percentiles(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    (at(0.50), at(0.99), s.iter().sum::<f64>() / s.len() as f64)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTPS client of one server; every request must succeed.
pub struct Http {
    base: String,
    client: reqwest::Client,
    bearer: Option<String>,
}

impl Http {
    /// ARM of a local cloud at `endpoint` (with its CA file; the token file beside it).
    pub fn bearer(endpoint: &str, ca: &Path) -> Http {
        let token = std::fs::read_to_string(ca.with_file_name(local_cloud::TOKEN_FILE)).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap()])
            .build()
            .unwrap();
        Http {
            base: endpoint.trim_end_matches('/').to_owned(),
            client,
            bearer: Some(token.trim().to_owned()),
        }
    }

    /// The API of a kubeconfig with client-certificate auth (as k3s writes `k3s.yaml`).
    fn kubeconfig(path: &Path) -> Http {
        let text = std::fs::read_to_string(path).unwrap();
        let field = |key: &str| {
            let b64 = text
                .lines()
                .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("no {key} in {}", path.display()))
                .trim();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        };
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server:"))
            .unwrap()
            .trim()
            .to_owned();
        let mut identity = field("client-certificate-data");
        identity.extend(field("client-key-data"));
        let client = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(&field("certificate-authority-data")).unwrap(),
            ])
            .identity(reqwest::Identity::from_pem(&identity).unwrap())
            .build()
            .unwrap();
        Http {
            base: server,
            client,
            bearer: None,
        }
    }

    /// `method path` with a JSON `body` (of `content_type`, default JSON); panics unless 2xx.
    pub async fn send(
        &self,
        method: &str,
        path: impl Into<String>,
        body: Option<Value>,
        content_type: Option<&str>,
    ) {
        self.request(method, &path.into(), body, content_type).await;
    }

    /// Like [`Http::send`], returning the answer's JSON.
    pub async fn json(
        &self,
        method: &str,
        path: impl Into<String>,
        body: Option<Value>,
        content_type: Option<&str>,
    ) -> Value {
        let bytes = self.request(method, &path.into(), body, content_type).await;
        serde_json::from_slice(&bytes).unwrap()
    }

    /// A GET's raw answer.
    pub async fn bytes(&self, path: impl Into<String>) -> Vec<u8> {
        self.request("GET", &path.into(), None, None).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        content_type: Option<&str>,
    ) -> Vec<u8> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", content_type.unwrap_or("application/json"))
                .body(serde_json::to_vec(&b).unwrap());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.to_vec()
    }
}

/// The stand-in as its own executable, `local-cloud-k3s` beside the `platform` binary (the
/// same code `platform` runs as `k3s` inside a host, where only the host's init path makes
/// it the stand-in): `cargo build --release -p local-cloud --features k3s`.
fn k3s_bin() -> PathBuf {
    let bin = support::platform_bin().with_file_name("local-cloud-k3s");
    assert!(
        bin.is_file(),
        "no {}: cargo build --release -p local-cloud --features k3s --bin local-cloud-k3s",
        bin.display()
    );
    bin
}

/// A stand-in process, killed when dropped.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(log: PathBuf, args: &[String], env: &[(&str, &str)]) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(k3s_bin())
            .arg(local_cloud::k3s::MARKER)
            .arg(VERSION)
            .args(args)
            .env("LOCAL_CLOUD_TIME_FACTOR", "0.01")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("K3S_TOKEN")
            .env_remove("K3S_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the k3s stand-in");
        Proc { child, log }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!(
                "{} exited with {st}:\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `k3s server` on 127.0.0.1 with a data dir of its own.
pub struct Server {
    proc: Proc,
    port: u16,
    dir: PathBuf,
}

impl Server {
    /// Starts a server in `dir` (with embedded etcd when `etcd`) and waits until it is up.
    pub fn start(dir: &Path, etcd: bool) -> Server {
        let port = free_port();
        let mut args: Vec<String> = [
            "server",
            "--data-dir",
            dir.join("server").to_str().unwrap(),
            "--https-listen-port",
            &port.to_string(),
            "--bind-address",
            "127.0.0.1",
            "--node-ip",
            "127.0.0.1",
            "--node-name",
            "bench-server",
            "--write-kubeconfig",
            dir.join("k3s.yaml").to_str().unwrap(),
            "--disable",
            "traefik,metrics-server",
        ]
        .map(str::to_owned)
        .into();
        if etcd {
            args.push("--cluster-init".into());
        }
        // Never etcd's default ports, which another run on this machine may hold.
        let ports = format!("{},{},{}", free_port(), free_port(), free_port());
        let log = dir.join("server.log");
        let mut proc = Proc::spawn(
            log.clone(),
            &args,
            &[("LOCAL_CLOUD_K3S_ETCD_PORTS", &ports)],
        );
        let t0 = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("k3s is up and running")
        {
            proc.assert_running();
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "server not up in 120 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            proc,
            port,
            dir: dir.to_owned(),
        }
    }

    /// A client with the admin kubeconfig.
    pub fn client(&self) -> Http {
        Http::kubeconfig(&self.dir.join("k3s.yaml"))
    }

    /// The server's join token.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("server/server/token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The server's etcd member (its child named `etcd`), if it runs one.
    pub fn etcd_pid(&self) -> Option<u32> {
        let parent = self.pid().to_string();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (comm, rest) = stat.split_once(") ")?;
            let ppid = rest.split_whitespace().nth(1)?;
            (comm.ends_with("(etcd") && ppid == parent)
                .then(|| e.file_name().to_str()?.parse().ok())?
        })
    }

    /// Starts agent `i` (node `agent-<i>` at 127.0.<1 + i/250>.<1 + i%250>) joining this
    /// server with `token`.
    pub fn agent(&self, dir: &Path, i: usize, token: &str) -> Proc {
        let args: Vec<String> = [
            "agent",
            "--data-dir",
            dir.join(format!("agent-{i}")).to_str().unwrap(),
            "--server",
            &format!("https://127.0.0.1:{}", self.port),
            "--token",
            token,
            "--node-name",
            &format!("agent-{i}"),
            "--node-ip",
            &format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250),
            "--lb-server-port",
            &free_port().to_string(),
        ]
        .map(str::to_owned)
        .into();
        Proc::spawn(dir.join(format!("agent-{i}.log")), &args, &[])
    }
}

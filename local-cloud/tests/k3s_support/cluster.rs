//! A cluster of k3s stand-in servers with embedded etcd for tests, on loopback addresses
//! 127.0.0.<10+n> with ports of their own: each server remembers how it was started, so it
//! can be stopped (SIGKILL or SIGTERM, its etcd member seen gone) and started again on its
//! data; plus the etcd gateway's and the supervisor's answers, and the leader the members
//! agree on.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{K3s, etcd_or_skip, eventually, free_port, kubectl, kubectl_run, wait_no_etcd_under};

/// One server of a test cluster: how it is started, so it can be started again.
pub struct Server {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub etcd_ports: String,
    pub client_port: u16,
    pub data: PathBuf,
    pub kubeconfig: PathBuf,
    pub extra: Vec<String>,
    pub proc: Option<K3s>,
}

impl Server {
    /// A server `n` (node `server-n` at 127.0.0.<10+n>) in `dir`; `extra` are more flags
    /// (`--cluster-init`, or `--server URL --token T`).
    pub fn new(dir: &Path, n: u8, extra: &[String]) -> Server {
        let (client_port, peer_port) = (free_port(), free_port());
        Server {
            name: format!("server-{n}"),
            ip: format!("127.0.0.{}", 10 + n),
            port: free_port(),
            etcd_ports: format!("{client_port},{peer_port}"),
            client_port,
            data: dir.join(format!("server-{n}")),
            kubeconfig: dir.join(format!("server-{n}.yaml")),
            extra: extra.to_vec(),
            proc: None,
        }
    }

    /// Starts the process (same flags and data every time) without waiting.
    pub fn spawn(&mut self, dir: &Path) -> &mut K3s {
        let port = self.port.to_string();
        let mut args: Vec<&str> = vec![
            "server",
            "--data-dir",
            self.data.to_str().unwrap(),
            "--https-listen-port",
            &port,
            "--node-ip",
            &self.ip,
            "--node-name",
            &self.name,
            "--write-kubeconfig",
            self.kubeconfig.to_str().unwrap(),
            "--disable",
            "traefik,metrics-server",
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let env = [("LOCAL_CLOUD_K3S_ETCD_PORTS", self.etcd_ports.as_str())];
        self.proc = Some(K3s::start_with_env(dir, &self.name, &args, &env));
        self.proc.as_mut().unwrap()
    }

    /// Starts it and waits for `READY=1`.
    pub fn start(&mut self, dir: &Path) {
        self.spawn(dir).wait_ready();
    }

    pub fn url(&self) -> String {
        format!("https://{}:{}", self.ip, self.port)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("server/token"))
            .unwrap_or_else(|e| panic!("{e}: {}", self.proc.as_ref().unwrap().logs()))
            .trim()
            .to_owned()
    }

    /// Flags that join this server.
    pub fn join_flags(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.url(),
            "--token".into(),
            self.token(),
        ]
    }

    /// Stops it (SIGKILL, or SIGTERM when `gently`) and waits until its etcd member is gone.
    pub fn stop(&mut self, gently: bool) {
        let mut p = self.proc.take().expect("running");
        if gently {
            assert_eq!(p.terminate(), 0, "{}", p.logs());
        } else {
            p.kill();
        }
        wait_no_etcd_under(&self.data);
    }

    /// An answer of its etcd member's gateway (`path` such as `/v3/maintenance/status`).
    pub fn etcd(&self, path: &str) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}{path}", self.client_port);
        let (status, body) = http(&url, Some("{}"), None, None)?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// A supervisor request to this server as `user:password`, trusting its CA.
    pub fn supervisor(&self, path: &str, user: &str, password: &str) -> (u16, String) {
        let ca = std::fs::read(self.data.join("server/tls/server-ca.crt")).unwrap();
        http(
            &format!("{}{path}", self.url()),
            None,
            Some((user, password)),
            Some(&ca),
        )
        .expect("the supervisor answers")
    }

    pub fn kubectl(&self, bin: &Path, args: &[&str]) -> (i32, String, String) {
        kubectl_run(bin, &self.kubeconfig, args)
    }

    /// `kubectl create -f` of a ConfigMap named `name` (from a file: kubectl 1.32+ sends
    /// protobuf for `create configmap`, which the API stand-in does not read).
    pub fn create_configmap(&self, bin: &Path, name: &str) -> (i32, String, String) {
        let file = self.data.with_file_name(format!("{name}.yaml"));
        std::fs::write(
            &file,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"),
        )
        .unwrap();
        self.kubectl(bin, &["create", "-f", file.to_str().unwrap()])
    }
}

/// One HTTP request from a synchronous test: a GET, or a POST of `body`; `(status, body)`,
/// or `None` when nothing answered within 5 s.
pub fn http(
    url: &str,
    body: Option<&str>,
    basic: Option<(&str, &str)>,
    ca: Option<&[u8]>,
) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5));
        if let Some(ca) = ca {
            client = client.tls_certs_only([reqwest::Certificate::from_pem(ca).unwrap()]);
        }
        let client = client.build().unwrap();
        let mut req = match body {
            Some(b) => client.post(url).body(b.to_owned()),
            None => client.get(url),
        };
        if let Some((u, p)) = basic {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

/// The member id of a status and the leader it names ("0" or absent: none).
pub fn ids(status: &Value) -> (String, Option<String>) {
    let id = status["header"]["member_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let leader = status["leader"]
        .as_str()
        .filter(|l| *l != "0")
        .map(str::to_owned);
    (id, leader)
}

/// Waits until the running servers' members all name the same leader, which is one of
/// them; returns that server's index.
pub fn wait_for_leader(servers: &[Server]) -> usize {
    eventually("the running members agree on a leader", || {
        let mut seen = Vec::new();
        for (i, s) in servers.iter().enumerate().filter(|(_, s)| s.proc.is_some()) {
            seen.push((i, ids(&s.etcd("/v3/maintenance/status")?)));
        }
        let leader = seen.first()?.1.1.clone()?;
        if seen
            .iter()
            .any(|(_, (_, l))| l.as_deref() != Some(leader.as_str()))
        {
            return None;
        }
        seen.iter()
            .find(|(_, (id, _))| *id == leader)
            .map(|(i, _)| *i)
    })
}

/// kubectl, once etcd is known to be there too; `None` after saying what is missing (a
/// failure under `CI`).
pub fn etcd_and_kubectl(test: &str) -> Option<PathBuf> {
    etcd_or_skip(test)?;
    let found = kubectl();
    if found.is_none() {
        super::skip(test, "no kubectl (Debian package kubectl)");
    }
    found
}

/// A first server and two joining it, all ready.
pub fn three_servers(dir: &Path) -> Vec<Server> {
    let mut first = Server::new(dir, 1, &["--cluster-init".to_owned()]);
    first.start(dir);
    let join = first.join_flags();
    let mut servers = vec![first];
    for n in [2, 3] {
        let mut s = Server::new(dir, n, &join);
        s.start(dir);
        servers.push(s);
    }
    servers
}

/// `(name, roles)` of every Node as `kubectl get nodes` shows them.
pub fn nodes(kubectl: &Path, s: &Server) -> Vec<(String, String)> {
    let (code, out, err) = s.kubectl(kubectl, &["get", "nodes", "--no-headers"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[2].to_owned())
        })
        .collect()
}

/// Starts a server that must fail: its exit code and log.
pub fn refused(dir: &Path, n: u8, extra: &[String]) -> (i32, String) {
    let mut s = Server::new(dir, n, extra);
    let code = s.spawn(dir).wait_exit();
    let p = s.proc.as_ref().unwrap();
    assert!(!p.notified(), "a refused server sent READY=1");
    (code, p.logs())
}

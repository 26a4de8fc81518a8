//! The agent's client-side load balancer (`pkg/agent/loadbalancer`): a TCP listener on
//! `127.0.0.1:6444` that forwards each connection to the first server that answers, from
//! the `--server` address and the servers the cluster reports (`/v1-k3s/apiservers`), and
//! remembers them in `agent/etc/k3s-agent-load-balancer.json`. So an agent keeps working when
//! the server it registered through goes away.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use super::log;

/// The balancer's server list (the `--server` address first).
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub port: u16,
    servers: Arc<Mutex<Vec<String>>>,
    default: String,
    state_file: std::path::PathBuf,
}

impl LoadBalancer {
    /// Starts listening on `127.0.0.1:port` in front of `server_url`'s host:port and the
    /// servers remembered from a previous run.
    pub async fn start(
        server_url: &str,
        port: u16,
        state_file: std::path::PathBuf,
    ) -> std::io::Result<Self> {
        let default = url::Url::parse(server_url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(6443))))
            .unwrap_or_else(|| server_url.to_owned());
        let mut servers = vec![default.clone()];
        if let Ok(text) = std::fs::read_to_string(&state_file)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            for s in v["ServerAddresses"].as_array().into_iter().flatten() {
                if let Some(s) = s.as_str().filter(|s| !servers.iter().any(|x| x == s)) {
                    servers.push(s.to_owned());
                }
            }
        }
        log::info(format!(
            "Adding server to load balancer k3s-agent-load-balancer: {default}"
        ));
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let lb = Self {
            port,
            servers: Arc::new(Mutex::new(servers)),
            default,
            state_file,
        };
        lb.persist();
        log::info(format!(
            "Running load balancer k3s-agent-load-balancer 127.0.0.1:{port} -> {:?} [default: {}]",
            lb.list(),
            lb.default
        ));
        let me = lb.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move { me.forward(conn).await });
            }
        });
        Ok(lb)
    }

    fn list(&self) -> Vec<String> {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn persist(&self) {
        let doc = json!({"ServerURL": format!("https://{}", self.default), "ServerAddresses": self.list()});
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        let _ = super::pki::write_private(&self.state_file, text.as_bytes());
    }

    /// Adds servers the cluster reports (kept in order, the default first).
    pub fn update(&self, addresses: &[String]) {
        let changed = {
            let mut s = self
                .servers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = s.len();
            for a in addresses {
                if !s.contains(a) {
                    s.push(a.clone());
                }
            }
            s.len() != before
        };
        if changed {
            self.persist();
        }
    }

    /// Connects `conn` to the first server that accepts within a second.
    async fn forward(&self, mut conn: TcpStream) {
        for server in self.list() {
            let dial = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&server));
            if let Ok(Ok(mut up)) = dial.await {
                let _ = up.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                return;
            }
        }
        // No backend: the connection is dropped, as k3s's balancer does (clients see EOF).
    }
}

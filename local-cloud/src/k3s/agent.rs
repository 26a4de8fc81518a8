//! `k3s agent`: behind its client-side load balancer, validates the token against the
//! server's `/cacerts` every few seconds until the CA hash matches, fetches the agent config
//! and its kubelet certificate (sending its node password), registers the Node, waits for its
//! pod CIDR, sends `READY=1` and keeps the node alive. Like k3s, it never gives up: a wrong
//! token or an unreachable server keeps it retrying (and a `systemctl start` waiting).

use std::time::Duration;

use serde_json::Value;

use super::files::node_password;
use super::lb::LoadBalancer;
use super::pki::write_private;
use super::settings::Settings;
use super::token::Token;
use super::{Version, access, kubelet, log, notify};

/// Runs the agent until SIGTERM; returns the exit code.
pub async fn run(s: Settings, version: &Version) -> i32 {
    log::info(format!(
        "Starting k3s agent {} (local-cloud stand-in)",
        version.tag
    ));
    let Some(raw) = s
        .token
        .clone()
        .or_else(|| s.parsed.str("cluster-secret").map(str::to_owned))
    else {
        log::fatal("Error: --token is required");
        return 1;
    };
    let Some(server) = s.server_url.clone() else {
        log::fatal("Error: --server is required");
        return 1;
    };
    let token = match Token::parse(&raw) {
        Ok(t) => t,
        Err(e) => {
            log::fatal(format!("Error: {e}"));
            return 1;
        }
    };
    tokio::select! {
        code = join(&s, version, &server, &token) => code,
        _ = super::terminated() => 0,
    }
}

/// The CA the token pins, fetched through the balancer; retried every 2 s (scaled) forever.
async fn validate(s: &Settings, server: &str, base: &str, token: &Token) -> Vec<u8> {
    loop {
        let err = match access::fetch_cacerts(base).await {
            Ok(ca) => match access::check_ca(token, &ca) {
                Ok(()) => return ca,
                Err(e) => e,
            },
            Err(e) => e,
        };
        log::error(format!(
            "Failed to validate connection to cluster at {server}: {err}"
        ));
        tokio::time::sleep(s.timing.retry()).await;
    }
}

/// GETs a supervisor path as the `node` user; the error is what k3s logs.
async fn get_as_node(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: &Token,
) -> Result<Value, String> {
    access::get_json(http, base, path, "node", &token.password).await
}

async fn join(s: &Settings, version: &Version, server: &str, token: &Token) -> i32 {
    let lb_port = s
        .parsed
        .str("lb-server-port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(6444);
    let lb = match LoadBalancer::start(
        server,
        lb_port,
        s.agent_dir().join("etc/k3s-agent-load-balancer.json"),
    )
    .await
    {
        Ok(lb) => lb,
        Err(e) => {
            log::fatal(format!(
                "Error: failed to start the agent load balancer: {e}"
            ));
            return 1;
        }
    };
    let base = format!("https://127.0.0.1:{}", lb.port);
    let ca = validate(s, server, &base, token).await;
    let ca_pem = String::from_utf8_lossy(&ca).into_owned();
    let http = access::pinned(&ca, Duration::from_secs(10));
    let password = match node_password(&s.node_password_file()) {
        Ok(p) => p,
        Err(e) => {
            log::fatal(format!("Error: {e}"));
            return 1;
        }
    };
    let agent = s.agent_dir();
    let cert = loop {
        let attempt = async {
            get_as_node(&http, &base, "/v1-k3s/config", token)
                .await
                .map_err(|e| format!("failed to retrieve configuration from server: {e}"))?;
            kubelet_cert(&http, &base, token, s, &password).await
        };
        match attempt.await {
            Ok(c) => break c,
            Err(e) => {
                log::info(format!(
                    "Waiting to retrieve agent configuration; server is not ready: {e}"
                ));
                tokio::time::sleep(s.timing.retry() * 2).await;
            }
        }
    };
    let _ = write_private(&agent.join("client-ca.crt"), ca.as_slice());
    let _ = write_private(&agent.join("server-ca.crt"), ca.as_slice());
    if let Ok(Value::Array(list)) = get_as_node(&http, &base, "/v1-k3s/apiservers", token).await {
        let addrs: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        lb.update(&addrs);
    }
    let client = loop {
        match super::kube_client(&base, &ca_pem, &cert).await {
            Ok(c) if c.apiserver_version().await.is_ok() => break c,
            _ => tokio::time::sleep(s.timing.retry()).await,
        }
    };
    tokio::time::sleep(s.timing.agent_join()).await;
    let node = kubelet::node_object(s, &version.tag, &[]);
    while let Err(e) = kubelet::register(&client, &node).await {
        log::error(format!("Unable to register node {}: {e}", s.node_name));
        tokio::time::sleep(s.timing.retry()).await;
    }
    log::info(format!(
        "Annotations and labels have been set successfully on node: {}",
        s.node_name
    ));
    tokio::spawn(kubelet::heartbeats(
        client.clone(),
        s.node_name.clone(),
        s.timing.heartbeat(),
    ));
    let cidr = pod_cidr(&client, s).await;
    log::info(format!(
        "Flannel found PodCIDR assigned for node {}",
        s.node_name
    ));
    let subnet = cidr
        .split('/')
        .next()
        .unwrap_or("")
        .rsplit_once('.')
        .map(|(a, _)| format!("{a}.1/24"))
        .unwrap_or_default();
    let env = format!(
        "FLANNEL_NETWORK={}\nFLANNEL_SUBNET={subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        s.cluster_cidr
    );
    let _ = write_flannel(&s.flannel_dir(), &env);
    log::info("k3s agent is up and running");
    notify::ready();
    std::future::pending::<i32>().await
}

/// `subnet.env` (mode 0644), as flannel writes it.
fn write_flannel(dir: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("subnet.env"), text)
}

/// Waits until the server's controller gave the node a pod CIDR.
async fn pod_cidr(client: &kube::Client, s: &Settings) -> String {
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    loop {
        if let Ok(Some(n)) = nodes.get_opt(&s.node_name).await
            && let Some(c) = n.spec.and_then(|sp| sp.pod_cidr)
        {
            return c;
        }
        tokio::time::sleep(s.timing.retry()).await;
    }
}

/// Asks the server for the kubelet's client certificate (a CSR, with the node's name and
/// password in k3s's headers) and writes it with its key.
async fn kubelet_cert(
    http: &reqwest::Client,
    base: &str,
    token: &Token,
    s: &Settings,
    password: &str,
) -> Result<kube_standin::pki::IssuedCert, String> {
    let path = s.agent_dir().join("client-kubelet.crt");
    let (key, csr) = kube_standin::pki::key_and_csr(&format!("system:node:{}", s.node_name))
        .map_err(|e| e.to_string())?;
    let ips: Vec<String> = s.node_ips.iter().map(ToString::to_string).collect();
    let r = http
        .post(format!("{base}/v1-k3s/client-kubelet.crt"))
        .basic_auth("node", Some(&token.password))
        .header("k3s-Node-Name", &s.node_name)
        .header("k3s-Node-Password", password)
        .header("k3s-Node-IP", ips.join(","))
        .body(csr)
        .send()
        .await
        .map_err(|e| format!("{}: {}", path.display(), access::cause(&e)))?;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if status.as_u16() == 403 {
        return Err(format!(
            "{}: Node password rejected, duplicate hostname or contents of '{}' may not match server node-passwd entry, try enabling a unique node name with the --with-node-id flag",
            path.display(),
            s.node_password_file().display()
        ));
    }
    if !status.is_success() {
        let msg = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        return Err(format!(
            "{}: {base}/v1-k3s/client-kubelet.crt: {msg}",
            path.display()
        ));
    }
    write_private(&path, body.as_bytes()).map_err(|e| e.to_string())?;
    write_private(&s.agent_dir().join("client-kubelet.key"), key.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(kube_standin::pki::IssuedCert {
        cert_pem: body,
        key_pem: key,
    })
}

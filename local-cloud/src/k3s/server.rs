//! `k3s server`: prepares the data dir (CAs, `cred/passwd`, the token files), serves the
//! supervisor and the Kubernetes API on 6443, writes the admin kubeconfig, and once the API
//! is up registers its own node, runs the controllers and packaged components, and sends
//! `READY=1`, in k3s's order (docs: `pkg/cli/server/server.go`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube_standin::store::memory::MemoryStore;
use kube_standin::{ServerConfig, VersionInfo};
use serde_json::json;

use super::nodepass::NodePasswords;
use super::pki::{ServerPki, write_private};
use super::settings::Settings;
use super::supervisor::{Passwd, Supervisor, bootstrap_document};
use super::token::{Token, random_password};
use super::{Version, components, controllers, kubelet, log, notify};

/// The first IP of the service CIDR (the `kubernetes` Service).
fn service_ip(s: &Settings) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(s.service_cidr.network()) + 1))
}

/// `cred/passwd`: `password,user,user,group` lines; made once, kept across restarts.
fn passwd(s: &Settings, token: Option<&Token>) -> Result<Passwd, String> {
    let path = s.server_dir().join("cred").join("passwd");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let find = |user: &str| {
            text.lines()
                .find(|l| l.split(',').nth(1) == Some(user))
                .and_then(|l| l.split(',').next())
                .map(str::to_owned)
        };
        if let (Some(server), Some(node)) = (find("server"), find("node")) {
            if let Some(t) = token
                && t.password != server
            {
                return Err(
                    "bootstrap data already found and encrypted with different token".into(),
                );
            }
            return Ok(Passwd { server, node });
        }
    }
    let server = token
        .map(|t| t.password.clone())
        .unwrap_or_else(random_password);
    let node = match &s.agent_token {
        Some(a) => Token::parse(a)
            .map(|t| t.password)
            .map_err(|e| e.to_string())?,
        None => server.clone(),
    };
    let text = format!("{server},server,server,k3s:server\n{node},node,node,k3s:agent\n");
    write_private(&path, text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Passwd { server, node })
}

/// Writes `server/token`, the `node-token` link and `agent-token` as k3s lays them out.
fn token_files(s: &Settings, cacerts: &[u8], pw: &Passwd) -> Result<(), String> {
    let dir = s.server_dir();
    let token = format!("{}\n", Token::secure(cacerts, "server", &pw.server));
    write_private(&dir.join("token"), token.as_bytes()).map_err(|e| e.to_string())?;
    for (link, target) in [("node-token", "token"), ("agent-token", "token")] {
        let p = dir.join(link);
        let _ = std::fs::remove_file(&p);
        if link == "agent-token" && s.agent_token.is_some() {
            let t = format!("{}\n", Token::secure(cacerts, "node", &pw.node));
            write_private(&p, t.as_bytes()).map_err(|e| e.to_string())?;
        } else {
            std::os::unix::fs::symlink(dir.join(target), &p).map_err(|e| e.to_string())?;
        }
    }
    let ip = s
        .node_ips
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "127.0.0.1".into());
    log::info(format!(
        "Server node token is available at {}",
        dir.join("token").display()
    ));
    log::info(format!(
        "To join server node to cluster: k3s server -s https://{ip}:{} -t ${{SERVER_NODE_TOKEN}}",
        s.https_port
    ));
    log::info(format!(
        "Agent node token is available at {}",
        dir.join("agent-token").display()
    ));
    log::info(format!(
        "To join agent node to cluster: k3s agent -s https://{ip}:{} -t ${{AGENT_NODE_TOKEN}}",
        s.https_port
    ));
    Ok(())
}

/// Writes the admin kubeconfig (`default` names, server on loopback) with its mode.
fn kubeconfig(s: &Settings, pki: &ServerPki) -> Result<(), String> {
    let host = match s.bind_address {
        Some(a) if !a.is_unspecified() => a.to_string(),
        _ => "127.0.0.1".into(),
    };
    let url = format!("https://{host}:{}", s.https_port);
    let text = kube_standin::pki::kubeconfig(&url, pki.server_ca.cert_pem(), &pki.admin);
    let path = &s.write_kubeconfig;
    write_private(path, text.as_bytes()).map_err(|e| e.to_string())?;
    if let Some(mode) = s.write_kubeconfig_mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
    }
    log::info(format!("Wrote kubeconfig {}", path.display()));
    log::info("Run: k3s kubectl");
    Ok(())
}

/// This node's password (`/etc/rancher/node/password`, made on first use).
pub fn node_password(path: &Path) -> Result<String, String> {
    if let Ok(p) = std::fs::read_to_string(path)
        && !p.trim().is_empty()
    {
        return Ok(p.trim().to_owned());
    }
    let pw = random_password();
    write_private(path, format!("{pw}\n").as_bytes()).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    }
    Ok(pw)
}

/// Runs the server until SIGTERM; returns the exit code.
pub async fn run(s: Settings, version: &Version) -> i32 {
    log::info(format!(
        "Starting k3s {} (local-cloud stand-in)",
        version.tag
    ));
    for w in &s.parsed.warnings {
        log::warn(w);
    }
    for d in s.unknown_disables() {
        log::warn(format!(
            "Unknown --disable item {d:?}; valid items: {}",
            super::flags::DISABLE_ITEMS.join(", ")
        ));
    }
    match start(&s, version).await {
        Ok(server) => {
            super::terminated().await;
            log::info("Shutting down k3s (stand-in)");
            server.shutdown().await;
            0
        }
        Err(e) => {
            log::fatal(format!("Error: {e}"));
            1
        }
    }
}

async fn start(s: &Settings, version: &Version) -> Result<kube_standin::RunningServer, String> {
    if let Some(ep) = &s.datastore_endpoint {
        let scheme = ep.split("://").next().unwrap_or(ep);
        return Err(format!(
            "preparing server: datastore-endpoint {scheme}://: not supported yet by the local cloud's k3s stand-in (objects are kept in memory until its PostgreSQL support lands); no other store is used in its place"
        ));
    }
    if s.server_url.is_some() {
        return Err("preparing server: joining an existing server needs the shared datastore (embedded etcd), which this build of the k3s stand-in does not have yet".into());
    }
    let token = match &s.token {
        Some(t) => Some(Token::parse(t).map_err(|_| {
            "failed to normalize server token; must be in format K10<CA-HASH>::<USERNAME>:<PASSWORD> or <PASSWORD>".to_owned()
        })?),
        None => None,
    };
    let server_dir = s.server_dir();
    for d in ["", "tls", "cred", "db", "manifests"] {
        let p = server_dir.join(d);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700));
    }
    let mut dns = vec![
        "kubernetes".to_owned(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{}", s.cluster_domain),
        "localhost".into(),
        s.node_name.clone(),
    ];
    let mut ips: Vec<IpAddr> = vec![IpAddr::V4(Ipv4Addr::LOCALHOST), service_ip(s)];
    ips.extend(s.node_ips.iter().chain(&s.node_external_ips));
    for san in &s.tls_san {
        match san.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(san.clone()),
        }
    }
    ips.dedup();
    let pki = ServerPki::load_or_create(&server_dir.join("tls"), &dns, &ips)
        .map_err(|e| e.to_string())?;
    let cacerts = pki.cacerts();
    if let Some(h) = token.as_ref().and_then(|t| t.ca_hash.as_ref()) {
        let ours = super::token::ca_hash(&cacerts);
        if *h != ours {
            return Err(format!(
                "preparing server: token CA hash does not match the Cluster CA certificate hash: {h} != {ours}"
            ));
        }
    }
    let pw = passwd(s, token.as_ref())?;
    let api_ready = Arc::new(AtomicBool::new(false));
    let client_cell = Arc::new(tokio::sync::OnceCell::new());
    let own_password_file = s.node_password_file();
    let node_ip = s
        .node_ips
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "127.0.0.1".into());
    let config_doc = json!({
        "ClusterIPRange": s.cluster_cidr.to_string(),
        "ServiceIPRange": s.service_cidr.to_string(),
        "ClusterDNS": s.cluster_dns.to_string(),
        "ClusterDomain": s.cluster_domain,
        "FlannelBackend": s.flannel_backend,
        "HTTPSPort": s.https_port,
        "SupervisorPort": s.https_port,
        "DisableKubeProxy": s.parsed.bool("disable-kube-proxy"),
        "EgressSelectorMode": s.parsed.str("egress-selector-mode").unwrap_or("agent"),
        "ServiceNodePortRange": s.parsed.str("service-node-port-range").unwrap_or("30000-32767"),
        "CriticalControlArgs": s.critical.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    });
    let supervisor = Supervisor {
        cacerts: cacerts.clone(),
        passwd: pw.clone(),
        config: config_doc,
        bootstrap: s
            .cluster_init
            .then(|| bootstrap_document(&server_dir.join("tls"), ServerPki::BOOTSTRAP)),
        client_ca: Arc::new(
            kube_standin::pki::CertificateAuthority::from_pem(
                pki.client_ca.cert_pem(),
                &pki.client_ca.key_pem(),
            )
            .map_err(|e| e.to_string())?,
        ),
        server_ca: Arc::new(
            kube_standin::pki::CertificateAuthority::from_pem(
                pki.server_ca.cert_pem(),
                &pki.server_ca.key_pem(),
            )
            .map_err(|e| e.to_string())?,
        ),
        own_node: s.node_name.clone(),
        apiservers: vec![format!("{node_ip}:{}", s.https_port)],
        api_ready: api_ready.clone(),
        passwords: NodePasswords {
            client: client_cell.clone(),
            own_password_file: own_password_file.clone(),
        },
    };
    let bind = s.bind_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let mut config = ServerConfig::new(
        SocketAddr::new(bind, s.https_port),
        pki.serving.cert_pem.clone(),
        pki.serving.key_pem.clone(),
    );
    config.client_ca_pem = Some(pki.client_ca.cert_pem().to_owned());
    config.service_cidr = s.service_cidr;
    config.workload_ready_delay = s.timing.scaled(5.0, 50);
    config.advertise_address = Some(format!("{node_ip}:{}", s.https_port));
    config.version = VersionInfo {
        minor: version.minor().to_string(),
        git_version: version.tag.clone(),
        ..VersionInfo::default()
    };
    config.front = Some(Arc::new(supervisor));
    let store = Arc::new(MemoryStore::new(1000));
    let server = kube_standin::start(config, store)
        .await
        .map_err(|e| format!("starting the API: {e}"))?;
    token_files(s, &cacerts, &pw)?;
    kubeconfig(s, &pki)?;
    // k3s's apiserver takes a while to come up; the supervisor answers meanwhile.
    tokio::time::sleep(s.timing.api_ready()).await;
    let url = format!("https://127.0.0.1:{}", server.addr().port());
    let admin = super::kube_client(&url, pki.server_ca.cert_pem(), &pki.admin).await?;
    let _ = client_cell.set(admin.clone());
    api_ready.store(true, Ordering::SeqCst);
    log::info("Kube API server is now running");
    if !s.parsed.bool("disable-agent") {
        own_node(s, version, &pki, &url, &own_password_file).await?;
    }
    tokio::spawn(controllers::run(
        admin.clone(),
        s.cluster_cidr,
        s.timing.grace(),
        s.timing.heartbeat(),
    ));
    let (admin2, settings) = (admin.clone(), s.clone());
    tokio::spawn(async move { components::deploy(&admin2, &settings).await });
    log::info("k3s is up and running");
    notify::ready();
    Ok(server)
}

/// The server's own agent: its node password, a kubelet certificate signed locally, the
/// Node with the server's roles, and its heartbeats.
async fn own_node(
    s: &Settings,
    version: &Version,
    pki: &ServerPki,
    url: &str,
    password_file: &Path,
) -> Result<(), String> {
    let _ = node_password(password_file)?;
    let cert = pki
        .client_ca
        .issue_client(
            &format!("system:node:{}", s.node_name),
            Some("system:nodes"),
        )
        .map_err(|e| e.to_string())?;
    let agent = s.agent_dir();
    write_private(&agent.join("client-kubelet.crt"), cert.cert_pem.as_bytes())
        .map_err(|e| e.to_string())?;
    write_private(&agent.join("client-kubelet.key"), cert.key_pem.as_bytes())
        .map_err(|e| e.to_string())?;
    let client = super::kube_client(url, pki.server_ca.cert_pem(), &cert).await?;
    let mut roles = vec!["control-plane"];
    if version.minor() <= 33 {
        roles.push("master");
    }
    if s.cluster_init {
        roles.push("etcd");
    }
    let node = kubelet::node_object(s, &version.tag, &roles);
    kubelet::register(&client, &node)
        .await
        .map_err(|e| format!("registering node {}: {e}", s.node_name))?;
    log::info(format!(
        "Labels and annotations have been set successfully on node: {}",
        s.node_name
    ));
    tokio::spawn(kubelet::heartbeats(
        client,
        s.node_name.clone(),
        s.timing.heartbeat(),
    ));
    Ok(())
}

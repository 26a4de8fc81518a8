//! `k3s server`: prepares the data dir (CAs, `cred/passwd`, the token files), with
//! `--datastore-endpoint` keeps its objects in PostgreSQL (`datastore.rs`), else with
//! `--cluster-init` or `--server` runs its embedded etcd member (a joining server first
//! bootstraps over HTTP from the server it joins), serves the supervisor and the Kubernetes
//! API on 6443, writes the admin kubeconfig, and once the API is up registers its own node,
//! runs the controllers and packaged components, and sends `READY=1`, in k3s's order (docs:
//! `pkg/cli/server/server.go`, `pkg/cluster/bootstrap.go`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube_standin::store::Store;
use kube_standin::store::memory::MemoryStore;
use kube_standin::{ServerConfig, VersionInfo};
use serde_json::json;

use super::controllers::{Controllers, ETCD_ADDRESS, ETCD_FINALIZER, ETCD_NAME};
use super::etcd::ManagedEtcd;
use super::etcd::process::MemberProcess;
use super::files::{ipsec_psk, kubeconfig, node_password, passwd, token_files};
use super::nodepass::NodePasswords;
use super::pki::{ServerPki, write_private};
use super::settings::Settings;
use super::supervisor::Supervisor;
use super::token::Token;
use super::{Version, bootstrap, components, controllers, kubelet, leader, log, notify};

/// How long a stopping server gives its etcd member to exit before killing it.
const ETCD_STOP_GRACE: Duration = Duration::from_secs(5);

/// The first IP of the service CIDR (the `kubernetes` Service).
fn service_ip(s: &Settings) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(s.service_cidr.network()) + 1))
}

/// A started server: its API, and its etcd member when it runs one.
struct Running {
    api: kube_standin::RunningServer,
    member: Option<MemberProcess>,
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
    let started = tokio::select! {
        r = start(&s, version) => r,
        // Stopped while still starting (e.g. waiting for an etcd quorum): the member, if
        // any, goes with the dropped future.
        () = super::terminated() => return 0,
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            log::fatal(format!("Error: {e}"));
            return 1;
        }
    };
    let code = match &running.member {
        Some(member) => tokio::select! {
            () = super::terminated() => 0,
            status = member.exited() => {
                log::fatal(format!("etcd exited: {status}"));
                1
            }
        },
        None => {
            super::terminated().await;
            0
        }
    };
    log::info("Shutting down k3s (stand-in)");
    running.api.shutdown().await;
    if let Some(member) = &running.member {
        member.stop(ETCD_STOP_GRACE).await;
    }
    code
}

/// The serving certificate's names: k3s's fixed ones, the node's, and every `tls-san`.
fn serving_names(s: &Settings) -> (Vec<String>, Vec<IpAddr>) {
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
    (dns, ips)
}

async fn start(s: &Settings, version: &Version) -> Result<Running, String> {
    for flag in ["cluster-reset", "disable-etcd"] {
        if s.parsed.bool(flag) {
            return Err(format!(
                "preparing server: --{flag} is not supported by the local cloud's k3s stand-in"
            ));
        }
    }
    let token = match &s.token {
        Some(t) => Some(Token::parse(t).map_err(|_| {
            "failed to normalize server token; must be in format K10<CA-HASH>::<USERNAME>:<PASSWORD> or <PASSWORD>".to_owned()
        })?),
        None => None,
    };
    let server_dir = s.server_dir();
    // k3s makes server/ and its secret directories 0700; manifests/ (inside the private
    // server/) keeps whatever mode it has, as the install made it.
    for d in ["", "tls", "cred", "db", "manifests"] {
        let p = server_dir.join(d);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if d != "manifests" {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700));
        }
    }
    // An external datastore (kine's PostgreSQL schema), else embedded etcd with
    // `--cluster-init`, and for every server joining another.
    let datastore = super::datastore::open(s, token.as_ref()).await?;
    let etcd = if datastore.is_none() && (s.cluster_init || s.server_url.is_some()) {
        Some(ManagedEtcd::new(s)?)
    } else {
        None
    };
    let join = match &etcd {
        Some(e) => super::etcd::start::bootstrap(s, e, token.as_ref()).await?,
        None => None,
    };
    let (dns, ips) = serving_names(s);
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
    ipsec_psk(s)?;
    let (member, etcd_store) = match &etcd {
        Some(e) => {
            let (m, store) = super::etcd::start::start(e, join.as_ref()).await?;
            (Some(m), Some(store))
        }
        None => (None, None),
    };
    let api_ready = Arc::new(AtomicBool::new(false));
    let client_cell = Arc::new(tokio::sync::OnceCell::new());
    let own_password_file = s.node_password_file();
    let node_ip = s
        .node_ips
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "127.0.0.1".into());
    let mut config_doc = serde_json::Map::new();
    s.critical.write_into(&mut config_doc);
    let (base, size) = port_range(s);
    config_doc.extend([
        ("HTTPSPort".to_owned(), json!(s.https_port)),
        ("SupervisorPort".to_owned(), json!(s.https_port)),
        (
            "DisableKubeProxy".to_owned(),
            json!(s.parsed.bool("disable-kube-proxy")),
        ),
        (
            "ServiceNodePortRange".to_owned(),
            json!({"Base": base, "Size": size}),
        ),
        ("ClusterInit".to_owned(), json!(s.cluster_init)),
        ("ServerNodeName".to_owned(), json!(s.node_name)),
    ]);
    let supervisor = Supervisor {
        cacerts: cacerts.clone(),
        passwd: pw.clone(),
        config: serde_json::Value::Object(config_doc),
        bootstrap: (etcd.is_some() || datastore.is_some())
            .then(|| bootstrap::document(&server_dir)),
        etcd: etcd_store.clone(),
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
    let store: Arc<dyn Store> = match (&etcd_store, datastore) {
        (Some(e), _) => Arc::new(e.clone()),
        (None, Some(pg)) => pg,
        (None, None) => Arc::new(MemoryStore::new(1000)),
    };
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
    if let Some(store) = &etcd_store {
        super::etcd::register_apiserver(store, &format!("{node_ip}:{}", s.https_port))
            .await
            .map_err(|e| format!("recording the API server address in etcd: {e}"))?;
    }
    if !s.parsed.bool("disable-agent") {
        own_node(s, version, &pki, &url, &own_password_file, etcd.as_ref()).await?;
    }
    let (duration, renew_deadline, retry) = s.timing.election();
    let identity = format!("{}_{}", s.node_name, uuid::Uuid::new_v4());
    let leads = leader::spawn(
        admin.clone(),
        identity,
        leader::Timings {
            duration,
            renew_deadline,
            retry,
        },
    );
    tokio::spawn(controllers::run(Controllers {
        client: admin.clone(),
        cluster_cidr: s.cluster_cidr,
        grace: s.timing.grace(),
        every: s.timing.heartbeat(),
        leads: leads.clone(),
        etcd: etcd_store,
    }));
    // Flux's objects, reconciled by the stand-in since no Flux controller can run here.
    tokio::spawn(super::flux::run(super::flux::Flux {
        client: admin.clone(),
        cache: s.data_dir.join("server").join("flux"),
        timing: s.timing,
        every: s.timing.retry(),
        leads,
    }));
    let (admin2, settings) = (admin.clone(), s.clone());
    tokio::spawn(async move { components::deploy(&admin2, &settings).await });
    log::info("k3s is up and running");
    notify::ready();
    Ok(Running {
        api: server,
        member,
    })
}

/// `--service-node-port-range` as Go's `utilnet.PortRange` (`Base`, `Size`).
fn port_range(s: &Settings) -> (u32, u32) {
    let text = s
        .parsed
        .str("service-node-port-range")
        .unwrap_or("30000-32767");
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let (lo, hi) = (
        lo.trim().parse::<u32>().unwrap_or(30000),
        hi.trim().parse::<u32>().unwrap_or(32767),
    );
    (lo, hi.saturating_sub(lo) + 1)
}

/// The server's own agent: its node password, a kubelet certificate signed locally, the
/// Node with the server's roles (and its etcd member's annotations), and its heartbeats.
async fn own_node(
    s: &Settings,
    version: &Version,
    pki: &ServerPki,
    url: &str,
    password_file: &Path,
    etcd: Option<&ManagedEtcd>,
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
    if etcd.is_some() {
        roles.push("etcd");
    }
    let mut node = kubelet::node_object(s, &version.tag, &roles);
    if let Some(e) = etcd {
        let meta = &mut node["metadata"];
        meta["annotations"][ETCD_NAME] = json!(e.name);
        meta["annotations"][ETCD_ADDRESS] = json!(e.address.to_string());
        if let Some(f) = meta["finalizers"].as_array_mut() {
            f.push(json!(ETCD_FINALIZER));
        }
    }
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

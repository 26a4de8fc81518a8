//! What the k3s install will do, decided on the controller before any host is touched: the
//! exact version (a channel resolved once and then kept), where the binary comes from, which
//! server initializes the cluster, and the addresses servers join by, agents register by and
//! the kubeconfig reaches the API by (decision 0008).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use super::release::{self, tag_order};
use crate::azure::resources::Secret;
use crate::config::{CloudKind, Config, Datastore, Install, SshAddress};
use crate::error::Error;
use crate::playbook::Target;

/// The k3s API port.
pub const API_PORT: u16 = 6443;

/// The version part of the `nodes` phase's outputs from the last successful run.
#[derive(Debug, Default, Deserialize)]
pub struct Previous {
    pub version: Option<String>,
    pub channel: Option<String>,
    pub init_server: Option<String>,
}

impl Previous {
    /// Reads what it needs of the recorded outputs (anything else, or nothing, is no history).
    pub fn from_outputs(outputs: &Json) -> Previous {
        serde_json::from_value(outputs.clone()).unwrap_or_default()
    }
}

/// The version to install: `k3s.version` when set; else the channel's tag recorded by the
/// last run when the channel is the same; else the channel resolved now. Older than what
/// the cluster runs is refused (k3s does not support downgrades).
pub async fn version(config: &Config, previous: &Previous) -> Result<String, Error> {
    let tag = match (&config.k3s.version, &previous.version, &previous.channel) {
        (Some(v), _, _) => v.clone(),
        (None, Some(v), Some(ch)) if *ch == config.k3s.channel => v.clone(),
        (None, _, _) => {
            let (_, channel_url) = release::urls(config);
            release::resolve_channel(&channel_url, &config.k3s.channel)
                .await
                .map_err(|e| Error::Failed(format!("k3s.channel {:?}: {e}", config.k3s.channel)))?
        }
    };
    if let Some(old) = &previous.version
        && tag_order(&tag) < tag_order(old)
    {
        return Err(Error::Usage(format!(
            "k3s.version: {tag} is older than {old}, which the cluster runs; k3s does not support downgrades (restore from an etcd snapshot instead)"
        )));
    }
    Ok(tag)
}

/// Where the nodes get the binary: `("", "")` to download on each node, else the files on
/// the controller to push (binary, images archive or "").
pub async fn sources(config: &Config, tag: &str) -> Result<(String, String), Error> {
    match config.k3s.install {
        Install::Download => Ok((String::new(), String::new())),
        Install::Upload => {
            let (release_url, _) = release::urls(config);
            let cache = crate::paths::user_cache_dir().join("k3s");
            let path = release::fetch_verified(&release_url, tag, &cache)
                .await
                .map_err(|e| Error::Failed(format!("k3s.install upload: {e}")))?;
            Ok((path.display().to_string(), String::new()))
        }
        Install::Airgap => {
            let a = config.k3s.airgap.as_ref().ok_or_else(|| {
                Error::Usage("k3s.install is airgap but k3s.airgap is not set".into())
            })?;
            let sums = crate::fsutil::read_capped(&a.checksums, crate::fsutil::caps::CONFIG)
                .map_err(|e| Error::Failed(format!("k3s.airgap.checksums: {e}")))?;
            let where_ = a.checksums.display().to_string();
            for (field, file) in [("binary", &a.binary), ("images", &a.images)] {
                let name = if field == "binary" {
                    release::BINARY_ASSET.to_owned()
                } else {
                    file.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                release::verify(file, &sums, &where_, &name)
                    .map_err(|e| Error::Failed(format!("k3s.airgap.{field}: {e}")))?;
            }
            let abs = |p: &PathBuf| {
                std::path::absolute(p)
                    .unwrap_or_else(|_| p.clone())
                    .display()
                    .to_string()
            };
            Ok((abs(&a.binary), abs(&a.images)))
        }
    }
}

/// Which host does what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// The server that initializes the cluster (`cluster-init`, or first on Postgres).
    pub init: String,
    /// The other servers, joined one at a time in this order.
    pub servers: Vec<String>,
    pub agents: Vec<String>,
}

fn var<'a>(t: &'a Target, key: &str) -> Option<&'a str> {
    t.vars
        .get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

/// The roles of `targets` (inventory groups `servers` and `agents`). The init server is the
/// one the last run used while it is still a server; else the inventory's `init_server`;
/// else the first server by name.
pub fn roles(targets: &[Target], previous: &Previous) -> Result<Roles, Error> {
    let in_group = |g: &str| -> Vec<String> {
        let mut v: Vec<String> = targets
            .iter()
            .filter(|t| t.groups.iter().any(|x| x == g))
            .map(|t| t.host.name().to_owned())
            .collect();
        v.sort();
        v
    };
    let servers = in_group("servers");
    let agents = in_group("agents");
    let flagged = targets
        .iter()
        .find(|t| t.vars.get("init_server") == Some(&json!(true)))
        .map(|t| t.host.name().to_owned());
    let init = previous
        .init_server
        .clone()
        .filter(|s| servers.contains(s))
        .or(flagged.filter(|s| servers.contains(s)))
        .or_else(|| servers.first().cloned())
        .ok_or_else(|| {
            Error::Usage(
                "the inventory has no host in group `servers`: k3s needs at least one server"
                    .into(),
            )
        })?;
    if let Some(both) = agents.iter().find(|a| servers.contains(a)) {
        return Err(Error::Usage(format!(
            "inventory host {both} is in both `servers` and `agents`; a node is one or the other"
        )));
    }
    Ok(Roles {
        servers: servers.into_iter().filter(|s| *s != init).collect(),
        init,
        agents,
    })
}

/// The addresses of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// `https://<init server private address>:6443`: what joining servers use.
    pub join_url: String,
    /// What agents register through: the internal API load balancer, else the init server.
    pub agent_url: String,
    /// What the kubeconfig uses.
    pub api_server: String,
    /// Names and addresses the servers' certificate must carry.
    pub tls_san: Vec<String>,
}

fn url(host: &str) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{API_PORT}")
    } else {
        format!("https://{host}:{API_PORT}")
    }
}

/// The addresses from the config, `infra`'s outputs (the API load balancers' frontends) and
/// the init server's inventory variables.
pub fn addresses(
    config: &Config,
    infra: &Json,
    targets: &[Target],
    roles: &Roles,
) -> Result<Addresses, Error> {
    let init = targets
        .iter()
        .find(|t| t.host.name() == roles.init)
        .ok_or_else(|| Error::Failed(format!("{} is not in the inventory", roles.init)))?;
    let private = var(init, "private_ip").or(var(init, "ansible_host"));
    let private = private.ok_or_else(|| {
        Error::Usage(format!(
            "inventory host {}: no private_ip or ansible_host to join the cluster by",
            roles.init
        ))
    })?;
    let public_lb = infra.pointer("/api_endpoint/ip").and_then(Json::as_str);
    let internal_lb = infra
        .pointer("/api_endpoint/private_ip")
        .and_then(Json::as_str);
    // The controller reaches the init server as SSH does when there is no load balancer.
    let reach = var(init, "ansible_host").unwrap_or(private);
    let api_host = match (&config.k3s.api_address, config.nodes.ssh_address) {
        (Some(a), _) => a.as_str(),
        (None, SshAddress::Public) => public_lb.unwrap_or(reach),
        (None, SshAddress::Private) => internal_lb.unwrap_or(reach),
    };
    let mut tls_san: Vec<String> = Vec::new();
    for s in config.k3s.tls_san.iter().map(String::as_str).chain(
        [Some(api_host), public_lb, internal_lb]
            .into_iter()
            .flatten(),
    ) {
        if !tls_san.iter().any(|x| x == s) {
            tls_san.push(s.to_owned());
        }
    }
    Ok(Addresses {
        join_url: url(private),
        agent_url: url(internal_lb.unwrap_or(private)),
        api_server: url(api_host),
        tls_san,
    })
}

/// Everything a stage passes to the playbooks, but the token and server URL.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tag: String,
    pub binary_src: String,
    pub images_src: String,
    pub addresses: Addresses,
    /// The PostgreSQL URL for `k3s.datastore: postgres` (holds the password).
    pub datastore_endpoint: Option<Secret>,
    /// The CA bundle that signs the server's certificate (PEM), for `sslmode=verify-full`.
    pub datastore_ca: Option<String>,
}

/// The variables `tasks/k3s-node.yml` documents, for one stage.
pub fn vars(
    config: &Config,
    install: &Plan,
    token: &Secret,
    server_url: &str,
) -> Map<String, Json> {
    let (release_url, _) = release::urls(config);
    let k = &config.k3s;
    let mut m = Map::new();
    let mut put = |key: &str, v: Json| {
        m.insert(key.to_owned(), v);
    };
    put("k3s_version", json!(install.tag));
    put("k3s_release_url", json!(release_url));
    put("k3s_binary_src", json!(install.binary_src));
    put("k3s_images_src", json!(install.images_src));
    put("k3s_token", json!(token.expose()));
    put("k3s_server_url", json!(server_url));
    put(
        "k3s_datastore_endpoint_set",
        json!(install.datastore_endpoint.is_some()),
    );
    put(
        "k3s_datastore_endpoint",
        json!(
            install
                .datastore_endpoint
                .as_ref()
                .map_or("", |s| s.expose())
        ),
    );
    put(
        "k3s_datastore_ca",
        json!(install.datastore_ca.as_deref().unwrap_or("")),
    );
    put("k3s_start_timeout", json!(k.start_timeout));
    put("k3s_flannel_backend", json!(k.flannel_backend));
    put("k3s_cluster_cidr", json!(k.cluster_cidr.to_string()));
    put("k3s_service_cidr", json!(k.service_cidr.to_string()));
    put("k3s_tls_san", json!(install.addresses.tls_san));
    put("k3s_disable", json!(k.disable));
    m
}

/// The PostgreSQL datastore URL for `k3s.datastore: postgres` from `infra`'s outputs and the
/// administrator password; `None` for etcd.
pub fn datastore_endpoint(
    config: &Config,
    infra: &Json,
    password: Option<&Secret>,
) -> Result<Option<Secret>, Error> {
    if config.k3s.datastore != Datastore::Postgres {
        return Ok(None);
    }
    let fqdn = infra
        .pointer("/postgres/fqdn")
        .and_then(Json::as_str)
        .filter(|_| config.cloud.kind != CloudKind::Static);
    let (Some(fqdn), Some(pw)) = (fqdn, password) else {
        return Err(Error::Usage(
            "k3s.datastore is postgres but infra has no PostgreSQL server with an address and password (postgres.enabled, cloud.kind azure or local)".into(),
        ));
    };
    let enc = url_encode(pw.expose());
    Ok(Some(Secret::new(format!(
        "postgres://{}:{enc}@{fqdn}:5432/k3s?sslmode=verify-full",
        config.postgres.admin_user
    ))))
}

/// The CA bundle `infra` recorded for the Postgres server (PEM), which k3s verifies the
/// datastore's certificate against (`--datastore-cafile`); `None` for etcd.
pub fn datastore_ca(config: &Config, infra: &Json) -> Result<Option<String>, Error> {
    if config.k3s.datastore != Datastore::Postgres {
        return Ok(None);
    }
    let pems: Vec<&str> = infra
        .pointer("/postgres/ca_bundle/certificates")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["pem"].as_str())
        .collect();
    if pems.is_empty() {
        return Err(Error::Usage(
            "k3s.datastore is postgres but infra recorded no CA bundle for the PostgreSQL server (run `platform up` from infra)".into(),
        ));
    }
    Ok(Some(pems.concat()))
}

/// `s` percent-encoded for a URL's user-info part (every byte but RFC 3986's unreserved).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

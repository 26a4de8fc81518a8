//! `--datastore-endpoint`: an external SQL datastore instead of embedded etcd, as k3s runs
//! kine. The stand-in takes PostgreSQL (`postgres://` and `postgresql://`) and keeps the
//! objects in kine's one-table schema through `kube_standin::store::postgres`, TLS as the
//! URL's `sslmode` says with `--datastore-cafile` as the CA. Other schemes (MySQL, an
//! `http(s)://` etcd, SQLite paths) and client certificates are refused by name, never
//! replaced by another store.
//!
//! k3s keeps its bootstrap data (the CAs and their keys) in the datastore, encrypted with
//! the token; the stand-in instead takes them from the server `--server` names, over the
//! same authenticated bootstrap call a joining etcd server uses, when this server has none
//! yet. Either way every server shares the cluster's CAs.

use std::sync::Arc;

use kube_standin::store::postgres::{PostgresStore, parse};

use super::bootstrap::Join;
use super::log;
use super::settings::Settings;
use super::token::Token;

/// How k3s words a datastore that cannot be used.
fn storage_error(e: impl std::fmt::Display) -> String {
    format!("preparing server: creating storage endpoint: building kine: {e}")
}

/// The PostgreSQL store of `--datastore-endpoint` (`None` without one), after the CAs were
/// taken from `--server` by a server that has none yet.
pub async fn open(
    s: &Settings,
    token: Option<&Token>,
) -> Result<Option<Arc<PostgresStore>>, String> {
    let Some(endpoint) = &s.datastore_endpoint else {
        return Ok(None);
    };
    let scheme = endpoint.split("://").next().unwrap_or(endpoint);
    if !matches!(scheme, "postgres" | "postgresql") || !endpoint.contains("://") {
        return Err(storage_error(format!(
            "datastore-endpoint {scheme}: only postgres:// is supported by the local cloud's k3s stand-in; no other store is used in its place"
        )));
    }
    for flag in ["datastore-certfile", "datastore-keyfile"] {
        if s.parsed.str(flag).is_some() {
            return Err(storage_error(format!(
                "--{flag} (client certificates) is not supported by the local cloud's k3s stand-in"
            )));
        }
    }
    let ca = match s.parsed.str("datastore-cafile") {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| storage_error(format!("--datastore-cafile {path}: {e}")))?,
        ),
        None => None,
    };
    let ep = parse(endpoint, ca).map_err(storage_error)?;
    log::info(
        "Configuring postgres database connection pooling: maxIdleConns=2, maxOpenConns=0, connMaxLifetime=0s",
    );
    let store = PostgresStore::connect(ep).await.map_err(storage_error)?;
    log::info("Database tables and indexes are up to date");
    if let Some(url) = &s.server_url
        && !s.server_dir().join("tls").join("server-ca.crt").is_file()
    {
        let token = token.ok_or_else(|| {
            "preparing server: failed to bootstrap cluster data: K3S_TOKEN is required to join a cluster".to_owned()
        })?;
        let fail = |e: String| format!("preparing server: failed to bootstrap cluster data: {e}");
        let join = Join::connect(url, token).await.map_err(fail)?;
        let agent_token = s.agent_token.as_deref().and_then(|t| Token::parse(t).ok());
        join.compare_config(&s.critical, agent_token.as_ref())
            .await
            .map_err(fail)?;
        join.server_bootstrap(&s.server_dir()).await.map_err(fail)?;
        log::info(format!("Cluster bootstrap data taken from {url}"));
    }
    Ok(Some(Arc::new(store)))
}

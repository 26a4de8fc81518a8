//! A joining server's HTTP bootstrap (`pkg/cluster/bootstrap.go`): validate the token
//! against the join server's `/cacerts`, compare the critical configuration
//! (`/v1-k3s/config` as `node`), fetch the cluster's CAs, keys and passwords
//! (`/v1-k3s/server-bootstrap` as `server`) and write them with their original mtimes, and
//! list the etcd members (`/db/info`). The same file table serves the other side: what a
//! server with embedded etcd answers to `/v1-k3s/server-bootstrap`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use kube_standin::store::etcd::Member;
use serde_json::{Value, json};

use super::critical::CriticalArgs;
use super::pki::write_private;
use super::token::Token;
use super::{access, log};

/// The bootstrap data by k3s's keys (`ControlRuntimeBootstrap`) and their files under
/// `<data-dir>/server`. Files a server does not have (secrets encryption off) are left out.
pub const FILES: &[(&str, &str)] = &[
    ("ETCDServerCA", "tls/etcd/server-ca.crt"),
    ("ETCDServerCAKey", "tls/etcd/server-ca.key"),
    ("ETCDPeerCA", "tls/etcd/peer-ca.crt"),
    ("ETCDPeerCAKey", "tls/etcd/peer-ca.key"),
    ("ServerCA", "tls/server-ca.crt"),
    ("ServerCAKey", "tls/server-ca.key"),
    ("ClientCA", "tls/client-ca.crt"),
    ("ClientCAKey", "tls/client-ca.key"),
    ("ServiceKey", "tls/service.key"),
    ("PasswdFile", "cred/passwd"),
    ("RequestHeaderCA", "tls/request-header-ca.crt"),
    ("RequestHeaderCAKey", "tls/request-header-ca.key"),
    ("IPSECKey", "cred/ipsec.psk"),
    ("EncryptionConfig", "cred/encryption-config.json"),
    ("EncryptionHash", "cred/encryption-state.json"),
];

const RFC3339: &time::format_description::well_known::Rfc3339 =
    &time::format_description::well_known::Rfc3339;

/// The files of `server_dir` as `/v1-k3s/server-bootstrap` sends them:
/// `{"<Key>": {"Timestamp": <RFC 3339 mtime>, "Content": <base64>}}`.
pub fn document(server_dir: &Path) -> Value {
    let mut out = BTreeMap::new();
    for (key, file) in FILES {
        let path = server_dir.join(file);
        let (Ok(bytes), Ok(meta)) = (std::fs::read(&path), std::fs::metadata(&path)) else {
            continue;
        };
        let stamp = meta
            .modified()
            .ok()
            .map(time::OffsetDateTime::from)
            .and_then(|t| t.format(RFC3339).ok())
            .unwrap_or_default();
        out.insert(
            (*key).to_owned(),
            json!({"Timestamp": stamp, "Content": base64::engine::general_purpose::STANDARD.encode(bytes)}),
        );
    }
    json!(out)
}

/// Writes a bootstrap document's files under `server_dir` (0600, with their mtimes).
fn write_document(server_dir: &Path, doc: &Value) -> Result<(), String> {
    for (key, file) in FILES {
        let Some(entry) = doc.get(*key) else {
            continue;
        };
        let content = base64::engine::general_purpose::STANDARD
            .decode(entry["Content"].as_str().unwrap_or_default())
            .map_err(|e| format!("bootstrap data {key}: {e}"))?;
        let path = server_dir.join(file);
        write_private(&path, &content).map_err(|e| e.to_string())?;
        if let Some(t) = entry["Timestamp"]
            .as_str()
            .and_then(|t| time::OffsetDateTime::parse(t, RFC3339).ok())
            && let Ok(f) = std::fs::File::options().write(true).open(&path)
        {
            let _ = f.set_modified(t.into());
        }
    }
    Ok(())
}

/// A validated connection to the server being joined.
#[derive(Debug)]
pub struct Join {
    base: String,
    http: reqwest::Client,
    /// The `server` user's password (the token's).
    password: String,
}

impl Join {
    /// `ParseAndValidateTokenForUser(url, token, "server")`: the CA at `url` must be the one
    /// the token pins. The error is k3s's (`failed to validate token: ...`).
    pub async fn connect(url: &str, token: &Token) -> Result<Join, String> {
        let base = url.trim_end_matches('/').to_owned();
        let fail = |e: String| format!("failed to validate token: {e}");
        let ca = access::fetch_cacerts(&base).await.map_err(fail)?;
        access::check_ca(token, &ca).map_err(fail)?;
        Ok(Join {
            http: access::pinned(&ca, Duration::from_secs(15)),
            base,
            password: token.password.clone(),
        })
    }

    /// The join server's base URL (`https://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `compareConfig`: this server's critical values against the join server's, as the
    /// `node` user with the agent token's password (else the token's). One warning per
    /// differing field, then k3s's error; a config that cannot be fetched is skipped with a
    /// warning.
    pub async fn compare_config(
        &self,
        ours: &CriticalArgs,
        agent_token: Option<&Token>,
    ) -> Result<(), String> {
        let password = agent_token.map_or(self.password.as_str(), |t| t.password.as_str());
        let remote = match access::get_json(
            &self.http,
            &self.base,
            "/v1-k3s/config",
            "node",
            password,
        )
        .await
        {
            Ok(v) => v,
            Err(e) => {
                log::warn(format!("Skipping cluster configuration validation: {e}"));
                return Ok(());
            }
        };
        let mismatched = ours.mismatches(&remote);
        for m in &mismatched {
            log::warn(format!("critical configuration mismatched: {m}"));
        }
        if mismatched.is_empty() {
            Ok(())
        } else {
            Err(
                "failed to validate server configuration: critical configuration value mismatch between servers"
                    .into(),
            )
        }
    }

    /// `httpBootstrap`: fetches the cluster's CAs, keys and passwords and writes them under
    /// `server_dir`.
    pub async fn server_bootstrap(&self, server_dir: &Path) -> Result<(), String> {
        let doc = access::get_json(
            &self.http,
            &self.base,
            "/v1-k3s/server-bootstrap",
            "server",
            &self.password,
        )
        .await?;
        write_document(server_dir, &doc)
    }

    /// The etcd members the join server reports (`/db/info`, as `server`).
    pub async fn members(&self) -> Result<Vec<Member>, String> {
        let v = access::get_json(&self.http, &self.base, "/db/info", "server", &self.password)
            .await
            .map_err(|e| format!("failed to get MemberList from server: {e}"))?;
        serde_json::from_value(v["members"].clone())
            .map_err(|e| format!("failed to get MemberList from server: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_writes_back_the_same_files_and_mtimes() {
        let from = tempfile::tempdir().unwrap();
        write_private(&from.path().join("tls/server-ca.crt"), b"CA").unwrap();
        write_private(
            &from.path().join("cred/passwd"),
            b"pw,server,server,k3s:server\n",
        )
        .unwrap();
        let doc = document(from.path());
        assert_eq!(doc.as_object().unwrap().len(), 2);
        assert_eq!(doc["ServerCA"]["Content"], "Q0E=");
        let to = tempfile::tempdir().unwrap();
        write_document(to.path(), &doc).unwrap();
        assert_eq!(
            std::fs::read(to.path().join("cred/passwd")).unwrap(),
            b"pw,server,server,k3s:server\n"
        );
        let mtime = |d: &Path| {
            std::fs::metadata(d.join("tls/server-ca.crt"))
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        assert_eq!(mtime(to.path()), mtime(from.path()));
    }
}

//! Node passwords (`pkg/nodepassword`): the first kubelet-certificate request of a node
//! creates the immutable Secret `kube-system/<node>.node-password.k3s` holding a salted hash
//! of the password the node sent; later requests must send the same password, so a host
//! reinstalled under an existing name is refused until its Node (and Secret) is deleted.
//! The hash is salted SHA-256 (`$sha256:<salt>:<hex>`), not k3s's scrypt: the stand-in says
//! so in its format, and nothing outside reads it.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The Secret's name for a node.
pub fn secret_name(node: &str) -> String {
    format!("{}.node-password.k3s", node.to_ascii_lowercase())
}

fn hash(salt: &str, password: &str) -> String {
    let digest = Sha256::digest(format!("{salt}:{password}").as_bytes());
    format!("$sha256:{salt}:{}", hex::encode(digest))
}

fn matches(stored: &str, password: &str) -> bool {
    stored
        .strip_prefix("$sha256:")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(salt, _)| hash(salt, password) == stored)
}

/// Checks nodes' passwords against their Secrets.
#[derive(Clone)]
pub struct NodePasswords {
    /// The API, once it is up.
    pub client: Arc<OnceCell<kube::Client>>,
    /// This server's own node password file (checked locally before the API is up).
    pub own_password_file: std::path::PathBuf,
}

impl std::fmt::Debug for NodePasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodePasswords")
            .field("api", &self.client.initialized())
            .finish_non_exhaustive()
    }
}

impl NodePasswords {
    /// Verifies (or, on first contact, records) `password` for `node`.
    pub async fn verify(&self, node: &str, password: &str, own: bool) -> Result<(), String> {
        let Some(client) = self.client.get() else {
            // Before the controllers run, only the server's own node is checked, locally.
            let local = std::fs::read_to_string(&self.own_password_file).unwrap_or_default();
            return if own && local.trim() == password {
                Ok(())
            } else {
                Err("runtime core not ready".into())
            };
        };
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
        let name = secret_name(node);
        match secrets.get_opt(&name).await {
            Ok(Some(s)) => {
                let stored = s
                    .data
                    .as_ref()
                    .and_then(|d| d.get("hash"))
                    .and_then(|b| String::from_utf8(b.0.clone()).ok())
                    .unwrap_or_default();
                if matches(&stored, password) {
                    Ok(())
                } else {
                    Err("hash does not match".into())
                }
            }
            Ok(None) => {
                let salt = hex::encode(rand::random::<[u8; 8]>());
                let secret: Secret = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "immutable": true,
                    "type": "k3s.cattle.io/node-password",
                    "stringData": {"hash": hash(&salt, password)},
                }))
                .map_err(|e| e.to_string())?;
                match secrets.create(&PostParams::default(), &secret).await {
                    Ok(_) => Ok(()),
                    // Another request of the same node won the race: check against it.
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        Box::pin(self.verify(node, password, own)).await
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_only_their_password() {
        let h = hash("00ff", "secret");
        assert!(matches(&h, "secret"));
        assert!(!matches(&h, "other"));
        assert!(!matches("garbage", "secret"));
        assert_eq!(secret_name("Agent-1"), "agent-1.node-password.k3s");
    }
}

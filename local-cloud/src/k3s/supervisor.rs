//! k3s's supervisor on port 6443, in front of the API (`pkg/server/handlers`): `/cacerts`
//! and `/ping` for anyone; `/v1-k3s/*` for the `node` and `server` users of `cred/passwd`
//! (HTTP basic auth) or a node's client certificate; kubelet certificates signed against
//! the node-password Secrets; and `503 apiserver not ready` on API paths until the API is up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use kube_standin::pki::CertificateAuthority;
use kube_standin::store::etcd::EtcdStore;
use kube_standin::{Front, FrontRequest, FrontResponse};
use serde_json::{Value, json};

use super::log;
use super::nodepass::NodePasswords;

/// The users of `cred/passwd` and their passwords.
#[derive(Debug, Clone)]
pub struct Passwd {
    pub server: String,
    pub node: String,
}

/// What the supervisor serves.
#[derive(Debug)]
pub struct Supervisor {
    pub cacerts: Vec<u8>,
    pub passwd: Passwd,
    /// `/v1-k3s/config`: the server's control config (critical values and the like).
    pub config: Value,
    /// `/v1-k3s/server-bootstrap` (embedded etcd only): the CAs a joining server needs.
    pub bootstrap: Option<Value>,
    /// The embedded etcd (`/db/info`, and the apiserver addresses it records).
    pub etcd: Option<EtcdStore>,
    pub client_ca: Arc<CertificateAuthority>,
    pub server_ca: Arc<CertificateAuthority>,
    pub own_node: String,
    pub apiservers: Vec<String>,
    pub api_ready: Arc<AtomicBool>,
    pub passwords: NodePasswords,
}

fn text(status: u16, body: impl Into<Vec<u8>>) -> Option<FrontResponse> {
    Some(FrontResponse {
        status,
        content_type: "text/plain".into(),
        body: body.into(),
    })
}

/// A `Status` error body, as k3s's supervisor sends its errors.
fn status(code: u16, reason: &str, message: &str) -> Option<FrontResponse> {
    let v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    Some(FrontResponse {
        status: code,
        content_type: "application/json".into(),
        body: v.to_string().into_bytes(),
    })
}

/// Who a supervisor request is from.
#[derive(Debug, PartialEq, Eq)]
enum Caller {
    Server,
    Node,
    /// A kubelet's client certificate (`system:node:<name>`).
    NodeCert(String),
}

impl Supervisor {
    /// The API servers of the cluster (`host:port`): those recorded in etcd, else this one.
    async fn apiserver_list(&self) -> Vec<String> {
        if let Some(etcd) = &self.etcd
            && let Ok(list) = super::etcd::apiservers(etcd).await
            && !list.is_empty()
        {
            return list;
        }
        self.apiservers.clone()
    }

    /// `/db/info` (loopback callers or the `server` user): the etcd members, as
    /// `etcdserverpb.Member`s (Go's JSON: numeric `ID`, empty fields left out).
    async fn db_info(&self, req: &FrontRequest, etcd: &EtcdStore) -> Option<FrontResponse> {
        let local = req.remote.ip().is_loopback();
        if !local && self.caller(req) != Some(Caller::Server) {
            return self.not_authorized(req);
        }
        if req.method.as_str() != "GET" {
            return status(405, "MethodNotAllowed", "method not allowed");
        }
        match etcd.member_list().await {
            Ok(members) => {
                let list: Vec<Value> = members.iter().map(super::etcd::member_json).collect();
                Some(FrontResponse {
                    status: 200,
                    content_type: "application/json".into(),
                    body: json!({"members": list}).to_string().into_bytes(),
                })
            }
            Err(e) => status(
                500,
                "InternalError",
                &format!("failed to get etcd MemberList: {e}"),
            ),
        }
    }

    fn caller(&self, req: &FrontRequest) -> Option<Caller> {
        if let Some(u) = &req.cert_user
            && let Some(name) = u.name.strip_prefix("system:node:")
            && u.groups.iter().any(|g| g == "system:nodes")
        {
            return Some(Caller::NodeCert(name.to_owned()));
        }
        let auth = req.headers.get("authorization")?.to_str().ok()?;
        let b64 = auth.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        match user {
            "server" if pass == self.passwd.server => Some(Caller::Server),
            "node" if pass == self.passwd.node || pass == self.passwd.server => Some(Caller::Node),
            _ => None,
        }
    }

    fn not_authorized(&self, req: &FrontRequest) -> Option<FrontResponse> {
        log::error(format!(
            "Failed to authenticate request from {}: invalid username/password combination",
            req.remote
        ));
        log::error(format!(
            "Sending HTTP/1.1 401 response to {}: not authorized",
            req.remote
        ));
        status(401, "Unauthorized", "not authorized")
    }

    async fn kubelet_cert(
        &self,
        req: &FrontRequest,
        caller: &Caller,
        serving: bool,
    ) -> Option<FrontResponse> {
        let header = |k: &str| {
            req.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (Some(node), Some(password)) = (header("k3s-node-name"), header("k3s-node-password"))
        else {
            return status(400, "BadRequest", "missing node name or password header");
        };
        if let Caller::NodeCert(n) = caller
            && *n != node
        {
            return status(
                400,
                "BadRequest",
                "header node name does not match auth node name",
            );
        }
        let own = node == self.own_node;
        if !self.api_ready.load(Ordering::SeqCst) && !own {
            return status(503, "ServiceUnavailable", "runtime core not ready");
        }
        if let Err(e) = self.passwords.verify(&node, &password, own).await {
            let msg = format!("unable to verify password for node {node}: {e}");
            log::error(format!(
                "Sending HTTP/1.1 403 response to {}: {msg}",
                req.remote
            ));
            return status(403, "Forbidden", &msg);
        }
        let signed = if serving {
            self.server_ca
                .sign_client_csr(&req.body, &node, None)
                .map(|c| format!("{c}{}", self.server_ca.cert_pem()))
        } else {
            self.client_ca
                .sign_client_csr(
                    &req.body,
                    &format!("system:node:{node}"),
                    Some("system:nodes"),
                )
                .map(|c| format!("{c}{}", self.client_ca.cert_pem()))
        };
        match signed {
            Ok(pem) => text(200, pem),
            Err(e) => status(
                400,
                "BadRequest",
                &format!("invalid certificate request: {e}"),
            ),
        }
    }

    fn bootstrap(&self, req: &FrontRequest, caller: &Caller) -> Option<FrontResponse> {
        if *caller != Caller::Server {
            return status(403, "Forbidden", "forbidden");
        }
        match &self.bootstrap {
            Some(b) => Some(FrontResponse {
                status: 200,
                content_type: "application/json".into(),
                body: b.to_string().into_bytes(),
            }),
            None => {
                log::info(format!(
                    "Received HTTP bootstrap request from {}, but embedded etcd is not enabled.",
                    req.remote
                ));
                status(400, "BadRequest", "etcd disabled")
            }
        }
    }
}

#[async_trait::async_trait]
impl Front for Supervisor {
    async fn handle(&self, req: &FrontRequest) -> Option<FrontResponse> {
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("GET", "/cacerts") => {
                return Some(FrontResponse {
                    status: 200,
                    content_type: "text/plain".into(),
                    body: self.cacerts.clone(),
                });
            }
            ("GET", "/ping") => return text(200, "pong"),
            _ => {}
        }
        if path == "/db/info"
            && let Some(etcd) = &self.etcd
        {
            return self.db_info(req, etcd).await;
        }
        if let Some(route) = path.strip_prefix("/v1-k3s/") {
            let Some(caller) = self.caller(req) else {
                return self.not_authorized(req);
            };
            return match (req.method.as_str(), route) {
                ("GET", "config") => Some(FrontResponse {
                    status: 200,
                    content_type: "application/json".into(),
                    body: self.config.to_string().into_bytes(),
                }),
                ("GET", "readyz") if self.api_ready.load(Ordering::SeqCst) => text(200, "ok"),
                ("GET", "readyz") => status(503, "ServiceUnavailable", "runtime core not ready"),
                ("GET", "apiservers") => Some(FrontResponse {
                    status: 200,
                    content_type: "application/json".into(),
                    body: json!(self.apiserver_list().await).to_string().into_bytes(),
                }),
                ("GET", "client-ca.crt") => text(200, self.client_ca.cert_pem()),
                ("GET", "server-ca.crt") => text(200, self.server_ca.cert_pem()),
                ("GET", "server-bootstrap") => self.bootstrap(req, &caller),
                ("POST", "client-kubelet.crt") => self.kubelet_cert(req, &caller, false).await,
                ("POST", "serving-kubelet.crt") => self.kubelet_cert(req, &caller, true).await,
                _ => status(404, "NotFound", "not found"),
            };
        }
        // Everything else is the Kubernetes API, which answers only once it is up.
        if !self.api_ready.load(Ordering::SeqCst) {
            return status(503, "ServiceUnavailable", "apiserver not ready");
        }
        None
    }
}

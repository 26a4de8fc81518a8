//! Which Azure credential signs ARM requests: an explicit choice or our own ordered chain.
//!
//! `azure_identity` 1.x has no `DefaultAzureCredential` and no chain, so this module builds
//! one. With `cloud.credential` set to anything but `auto`, exactly that credential is used.
//! With `auto` (the default) the first usable source wins, decided on the first token
//! request and then kept for the whole run:
//!
//! 1. **Service principal** (`ClientSecretCredential`) when `AZURE_TENANT_ID`,
//!    `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are all set.
//! 2. **Workload identity** (`WorkloadIdentityCredential`) when `AZURE_FEDERATED_TOKEN_FILE`
//!    is set (it also needs `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`, as Kubernetes injects).
//! 3. **Managed identity** (`ManagedIdentityCredential`) when running on Azure, detected
//!    cheaply: `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` in the environment (App Service,
//!    Functions, Cloud Shell, Arc), else a TCP connect to the IMDS address
//!    `169.254.169.254:80` that must succeed within 300 ms (VMs and scale sets). A TCP probe
//!    rather than a token request keeps the non-Azure case fast and side-effect free.
//!    `AZURE_CLIENT_ID`, when set, selects a user-assigned identity.
//! 4. **Azure CLI** (`az login`), then 5. **Azure Developer CLI** (`azd auth login`).
//!
//! A source that is configured through the environment (1, 2) but fails ends the chain with
//! its error, so a wrong secret is never silently replaced by another identity. A managed
//! identity that answers but has no identity assigned, or missing developer tools, lets the
//! chain go on. When nothing works, the one error lists every source on its own line: whether
//! it was tried, and why it was skipped or failed.
//!
//! There is one [`ChainCredential`] per choice in the process ([`azure_credential`]), and it
//! caches its token: the check before any resource work (`ArmClient::check_credential`) and
//! every later request share one token request (one `az` run for a CLI login).
//!
//! [`LocalCredential`] is for the local cloud only: it returns that cloud's API token.

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::{Error as CoreError, ErrorKind};
use azure_identity::{
    AzureCliCredential, AzureDeveloperCliCredential, ClientSecretCredential,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::OnceCell;

use crate::sync::LockExt;

/// The credential choice (config field `cloud.credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// The ordered chain described in the module documentation.
    #[default]
    Auto,
    /// `AZURE_TENANT_ID` / `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET`.
    ServicePrincipal,
    /// Federated token file (`AZURE_FEDERATED_TOKEN_FILE`), as on Kubernetes.
    WorkloadIdentity,
    /// The managed identity of the Azure host (`AZURE_CLIENT_ID` picks a user-assigned one).
    ManagedIdentity,
    /// The Azure CLI login (`az login`).
    AzureCli,
}

impl CredentialKind {
    /// The value as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Auto => "auto",
            CredentialKind::ServicePrincipal => "service-principal",
            CredentialKind::WorkloadIdentity => "workload-identity",
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::AzureCli => "azure-cli",
        }
    }
}

/// Reads an environment variable; tests substitute a map.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn process_env() -> EnvLookup {
    Arc::new(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

const IMDS_ADDR: &str = "169.254.169.254:80";
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// A cached token is handed out only while it has longer than this to live (the bearer
/// policy refreshes 5 minutes before expiry, so it never receives one it would refuse).
const TOKEN_MARGIN: time::Duration = time::Duration::minutes(6);
/// Longest reason kept on a line of the "tried" list.
const MAX_REASON: usize = 300;

/// The process-wide credential for `kind`, from the process environment. Resolving it (and
/// any failure) happens on the first token request.
pub fn azure_credential(kind: CredentialKind) -> Arc<ChainCredential> {
    static SHARED: OnceLock<Mutex<HashMap<CredentialKind, Arc<ChainCredential>>>> = OnceLock::new();
    let mut all = SHARED
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock_or_recover();
    Arc::clone(all.entry(kind).or_insert_with(|| {
        Arc::new(ChainCredential::new(
            kind,
            process_env(),
            IMDS_ADDR.parse().ok(),
        ))
    }))
}

/// An error and its sources on one line (azure_core errors keep the cause in `source`).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    // azure_identity messages span lines (one per inner credential); keep errors one line.
    let mut line = String::new();
    for l in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(l);
    }
    line
}

/// A reason fit for one line of the "tried" list: azure_identity's troubleshooting links
/// and the repeats around them dropped, and bounded in length.
fn tidy(reason: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for part in reason.split("; ").map(str::trim) {
        if !part.starts_with("To troubleshoot") && !part.is_empty() && !kept.contains(&part) {
            kept.push(part);
        }
    }
    let line = kept.join("; ");
    if line.chars().count() <= MAX_REASON {
        return line;
    }
    let cut: String = line.chars().take(MAX_REASON).collect();
    format!("{cut}...")
}

fn service_principal(env: &EnvLookup) -> Result<Arc<dyn TokenCredential>, String> {
    let (tenant, client, secret) = sp_env(env)?;
    ClientSecretCredential::new(&tenant, client, Secret::new(secret), None)
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| chain(&e))
}

/// The three service principal variables, or which are missing.
fn sp_env(env: &EnvLookup) -> Result<(String, String, String), String> {
    let get = |k: &str| env(k).ok_or_else(|| k.to_string());
    match (
        get("AZURE_TENANT_ID"),
        get("AZURE_CLIENT_ID"),
        get("AZURE_CLIENT_SECRET"),
    ) {
        (Ok(t), Ok(c), Ok(s)) => Ok((t, c, s)),
        (t, c, s) => {
            let missing: Vec<String> = [t, c, s].into_iter().filter_map(Result::err).collect();
            Err(format!("{} not set", missing.join(", ")))
        }
    }
}

fn workload_identity(env: &EnvLookup) -> Result<Arc<dyn TokenCredential>, String> {
    if env("AZURE_FEDERATED_TOKEN_FILE").is_none() {
        return Err("AZURE_FEDERATED_TOKEN_FILE not set".into());
    }
    WorkloadIdentityCredential::new(None)
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| chain(&e))
}

fn managed_identity(env: &EnvLookup) -> Result<Arc<dyn TokenCredential>, String> {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: env("AZURE_CLIENT_ID").map(UserAssignedId::ClientId),
        ..Default::default()
    };
    ManagedIdentityCredential::new(Some(options))
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| chain(&e))
}

fn azure_cli() -> Result<Arc<dyn TokenCredential>, String> {
    AzureCliCredential::new(None)
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| chain(&e))
}

fn azure_developer_cli() -> Result<Arc<dyn TokenCredential>, String> {
    AzureDeveloperCliCredential::new(None)
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| chain(&e))
}

/// Which environment variable shows a managed identity endpoint, if any.
fn managed_identity_env(env: &EnvLookup) -> Option<&'static str> {
    ["IDENTITY_ENDPOINT", "MSI_ENDPOINT"]
        .into_iter()
        .find(|k| env(k).is_some())
}

async fn imds_reachable(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(IMDS_PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// One candidate of the chain.
pub(crate) struct Source {
    /// Name used in messages.
    pub name: &'static str,
    /// Configured explicitly: a failure ends the chain.
    pub decisive: bool,
    /// The credential, or why it is not available.
    pub cred: Result<Arc<dyn TokenCredential>, String>,
}

/// Tries the sources in order; returns the first that yields a token, or one line per
/// source saying why it did not.
pub(crate) async fn first_working(
    sources: Vec<Source>,
    scopes: &[&str],
) -> Result<(&'static str, Arc<dyn TokenCredential>, AccessToken), Vec<String>> {
    let mut tried = Vec::new();
    for s in sources {
        let cred = match s.cred {
            Ok(c) => c,
            Err(why) => {
                // A source the user chose or configured is unusable; any other is skipped.
                let verb = if s.decisive {
                    "cannot be used"
                } else {
                    "skipped"
                };
                tried.push(format!("{}: {verb}: {}", s.name, tidy(&why)));
                if s.decisive {
                    break;
                }
                continue;
            }
        };
        match cred.get_token(scopes, None).await {
            Ok(token) => return Ok((s.name, cred, token)),
            Err(e) => {
                tried.push(format!("{}: failed: {}", s.name, tidy(&chain(&e))));
                if s.decisive {
                    break;
                }
            }
        }
    }
    Err(tried)
}

/// The one error of a chain that produced no token: a heading, then a line per source.
pub(crate) fn tried_message(kind: CredentialKind, tried: &[String]) -> String {
    let heading = match kind {
        CredentialKind::Auto => "no credential worked (cloud.credential: auto)".to_owned(),
        k => format!("cloud.credential: {} did not work", k.as_str()),
    };
    format!("{heading}; tried:\n  {}", tried.join("\n  "))
}

/// The credential for one `cloud.credential` choice: resolves on the first token request,
/// keeps the source that worked, and caches its token until shortly before expiry.
pub struct ChainCredential {
    kind: CredentialKind,
    env: EnvLookup,
    imds: Option<SocketAddr>,
    chosen: OnceCell<Arc<dyn TokenCredential>>,
    tokens: Mutex<HashMap<Vec<String>, AccessToken>>,
}

impl std::fmt::Debug for ChainCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainCredential")
            .field("kind", &self.kind)
            .field("resolved", &self.chosen.initialized())
            .finish()
    }
}

impl ChainCredential {
    /// A chain for `kind` reading `env`, probing IMDS at `imds` (`None` skips the probe).
    pub fn new(kind: CredentialKind, env: EnvLookup, imds: Option<SocketAddr>) -> Self {
        Self {
            kind,
            env,
            imds,
            chosen: OnceCell::new(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    async fn sources(&self) -> Vec<Source> {
        let env = &self.env;
        let one = |name, cred| {
            vec![Source {
                name,
                decisive: true,
                cred,
            }]
        };
        match self.kind {
            CredentialKind::Auto => {}
            CredentialKind::ServicePrincipal => {
                return one("service principal", service_principal(env));
            }
            CredentialKind::WorkloadIdentity => {
                return one("workload identity", workload_identity(env));
            }
            CredentialKind::ManagedIdentity => {
                return one("managed identity", managed_identity(env));
            }
            CredentialKind::AzureCli => return one("Azure CLI (az login)", azure_cli()),
        }
        let sp_configured = sp_env(env).is_ok();
        let wi_configured = env("AZURE_FEDERATED_TOKEN_FILE").is_some();
        let mi = if sp_configured || wi_configured {
            Err("not probed: a service principal or workload identity is configured".into())
        } else if let Some(var) = managed_identity_env(env) {
            tracing::debug!(var, "managed identity endpoint found in the environment");
            managed_identity(env)
        } else {
            match self.imds {
                Some(addr) if imds_reachable(addr).await => managed_identity(env),
                Some(addr) => Err(format!(
                    "not on Azure: no IDENTITY_ENDPOINT/MSI_ENDPOINT and IMDS {addr} unreachable"
                )),
                None => Err("IMDS probe disabled".to_string()),
            }
        };
        vec![
            Source {
                name: "service principal",
                decisive: sp_configured,
                cred: service_principal(env),
            },
            Source {
                name: "workload identity",
                decisive: wi_configured,
                cred: workload_identity(env),
            },
            Source {
                name: "managed identity",
                decisive: false,
                cred: mi,
            },
            Source {
                name: "Azure CLI (az login)",
                decisive: false,
                cred: azure_cli(),
            },
            Source {
                name: "Azure Developer CLI (azd auth login)",
                decisive: false,
                cred: azure_developer_cli(),
            },
        ]
    }

    fn cached(&self, scopes: &[&str]) -> Option<AccessToken> {
        let key: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let tokens = self.tokens.lock_or_recover();
        let t = tokens.get(&key)?;
        (t.expires_on - time::OffsetDateTime::now_utc() > TOKEN_MARGIN).then(|| t.clone())
    }

    fn remember(&self, scopes: &[&str], token: &AccessToken) {
        let key: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.tokens.lock_or_recover().insert(key, token.clone());
    }
}

#[async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if let Some(t) = self.cached(scopes) {
            return Ok(t);
        }
        let mut first = None;
        let cred = self
            .chosen
            .get_or_try_init(|| async {
                let (name, cred, token) = first_working(self.sources().await, scopes)
                    .await
                    .map_err(|tried| tried_message(self.kind, &tried))?;
                tracing::info!(credential = name, "using Azure credential");
                first = Some(token);
                Ok::<_, String>(cred)
            })
            .await
            .map_err(|msg| CoreError::with_message(ErrorKind::Credential, msg))?;
        let token = match first {
            Some(t) => t,
            None => cred.get_token(scopes, options).await?,
        };
        self.remember(scopes, &token);
        Ok(token)
    }
}

/// One source of a credential choice as `platform doctor` shows it, from local facts only:
/// no token is requested and no value of a variable is kept.
#[derive(Debug, Clone)]
pub struct SourcePreview {
    /// The source's name, as the chain's messages use it.
    pub name: &'static str,
    /// Configured explicitly (its variables, or `cloud.credential`): its failure would end
    /// the chain instead of moving on.
    pub configured: bool,
    /// Where it would come from (which variables are set, which tool is on `PATH`), or why
    /// the chain would skip it.
    pub available: Result<String, String>,
}

/// The sources `kind` would try, in the chain's order, without requesting a token. The
/// managed-identity check of `auto` is the chain's own bounded IMDS probe (300 ms).
pub async fn preview(kind: CredentialKind) -> Vec<SourcePreview> {
    preview_with(kind, &process_env(), IMDS_ADDR.parse().ok()).await
}

async fn preview_with(
    kind: CredentialKind,
    env: &EnvLookup,
    imds: Option<SocketAddr>,
) -> Vec<SourcePreview> {
    // (name, configured, constructible or why not), as the chain itself would see them.
    let sources: Vec<(&'static str, bool, Result<(), String>)> =
        ChainCredential::new(kind, env.clone(), imds)
            .sources()
            .await
            .into_iter()
            .map(|s| (s.name, s.decisive, s.cred.map(|_| ())))
            .collect();
    sources
        .into_iter()
        .map(|(name, configured, built)| SourcePreview {
            name,
            configured,
            available: built
                .map_err(|why| {
                    let prefix = format!("{name}: ");
                    why.strip_prefix(&prefix).unwrap_or(&why).to_owned()
                })
                .and_then(|()| origin(name, env)),
        })
        .collect()
}

/// Where an available source comes from, or (for the developer tools, whose constructor
/// always succeeds) why it cannot work here.
fn origin(name: &str, env: &EnvLookup) -> Result<String, String> {
    let set = |vars: &[&str]| {
        let present: Vec<&str> = vars.iter().copied().filter(|v| env(v).is_some()).collect();
        format!("{} set (values not shown)", present.join(", "))
    };
    if name.starts_with("service principal") {
        Ok(set(&[
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
        ]))
    } else if name.starts_with("workload identity") {
        Ok(set(&[
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
        ]))
    } else if name.starts_with("managed identity") {
        Ok(match managed_identity_env(env) {
            Some(var) => format!("{var} set"),
            None => format!("the instance metadata service at {IMDS_ADDR}"),
        })
    } else {
        // The developer tools: the Azure CLI, and (in the chain only) the Developer CLI.
        let wanted: &[&str] = if name.starts_with("Azure CLI") {
            &["az"]
        } else {
            &["az", "azd"]
        };
        let found: Vec<String> = wanted
            .iter()
            .filter_map(|t| {
                crate::fsutil::find_on_path(t).map(|p| format!("{t} at {}", p.display()))
            })
            .collect();
        if found.is_empty() {
            Err(format!("{} not on PATH", wanted.join(" or ")))
        } else {
            Ok(found.join(", "))
        }
    }
}

/// A credential for the local cloud: its API token (the random secret in its data
/// directory's `api-token`), handed out as a bearer token valid for a day.
#[derive(Debug, Clone)]
pub struct LocalCredential {
    token: Secret,
}

impl LocalCredential {
    /// The credential for a local cloud whose API token is `token`.
    pub fn new(token: Secret) -> Self {
        Self { token }
    }
}

#[async_trait]
impl TokenCredential for LocalCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let expires = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        Ok(AccessToken::new(self.token.clone(), expires))
    }
}

#[cfg(test)]
#[path = "credential_tests.rs"]
mod tests;

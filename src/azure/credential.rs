//! Which Azure credential signs ARM requests: an explicit choice or our own ordered chain.
//!
//! `azure_identity` 1.x has no `DefaultAzureCredential` and no chain, so this module builds
//! one. With `cloud.credential` set to anything but `auto`, exactly that credential is used
//! and its errors are reported as they are. With `auto` (the default) the first usable
//! source wins, decided on the first token request and then kept for the whole run:
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
//! 4. **Developer tools** (`DeveloperToolsCredential`: the Azure CLI login, then the Azure
//!    Developer CLI).
//!
//! A source that is configured through the environment (1, 2) but fails ends the chain with
//! its error, so a wrong secret is never silently replaced by another identity. A managed
//! identity that answers but has no identity assigned, or missing developer tools, lets the
//! chain go on. When nothing works, the error lists every source, whether it was tried, and
//! why it was skipped or failed.
//!
//! [`LocalCredential`] is for the local cloud only: it returns a fixed, non-secret token.

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::{Error as CoreError, ErrorKind};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, DeveloperToolsCredential,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential,
};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

use super::error::ArmError;

/// The credential choice (config field `cloud.credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// Reads an environment variable; tests substitute a map.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn process_env() -> EnvLookup {
    Arc::new(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

const IMDS_ADDR: &str = "169.254.169.254:80";
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// Builds the credential for `kind` from the process environment.
pub fn azure_credential(kind: CredentialKind) -> Result<Arc<dyn TokenCredential>, ArmError> {
    let env = process_env();
    let cred: Arc<dyn TokenCredential> = match kind {
        CredentialKind::Auto => Arc::new(AutoCredential::new(env, IMDS_ADDR.parse().ok())),
        CredentialKind::ServicePrincipal => {
            service_principal(&env).map_err(ArmError::Credential)?
        }
        CredentialKind::WorkloadIdentity => {
            workload_identity(&env).map_err(ArmError::Credential)?
        }
        CredentialKind::ManagedIdentity => managed_identity(&env).map_err(ArmError::Credential)?,
        CredentialKind::AzureCli => AzureCliCredential::new(None)
            .map_err(|e| ArmError::Credential(format!("Azure CLI: {}", chain(&e))))?,
    };
    Ok(cred)
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

fn service_principal(env: &EnvLookup) -> Result<Arc<dyn TokenCredential>, String> {
    let (tenant, client, secret) = sp_env(env)?;
    ClientSecretCredential::new(&tenant, client, Secret::new(secret), None)
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| format!("service principal: {}", chain(&e)))
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
            Err(format!("service principal: {} not set", missing.join(", ")))
        }
    }
}

fn workload_identity(env: &EnvLookup) -> Result<Arc<dyn TokenCredential>, String> {
    if env("AZURE_FEDERATED_TOKEN_FILE").is_none() {
        return Err("workload identity: AZURE_FEDERATED_TOKEN_FILE not set".into());
    }
    WorkloadIdentityCredential::new(None)
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| format!("workload identity: {}", chain(&e)))
}

fn managed_identity(env: &EnvLookup) -> Result<Arc<dyn TokenCredential>, String> {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: env("AZURE_CLIENT_ID").map(UserAssignedId::ClientId),
        ..Default::default()
    };
    ManagedIdentityCredential::new(Some(options))
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| format!("managed identity: {}", chain(&e)))
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

/// Tries the sources in order; returns the first that yields a token, or every reason.
pub(crate) async fn first_working(
    sources: Vec<Source>,
    scopes: &[&str],
) -> Result<(&'static str, Arc<dyn TokenCredential>), String> {
    let mut tried = Vec::new();
    for s in sources {
        let cred = match s.cred {
            Ok(c) => c,
            Err(why) => {
                let why = why.strip_prefix(&format!("{}: ", s.name)).unwrap_or(&why);
                tried.push(format!("{} skipped ({why})", s.name));
                continue;
            }
        };
        match cred.get_token(scopes, None).await {
            Ok(_) => return Ok((s.name, cred)),
            Err(e) => {
                tried.push(format!("{} failed ({})", s.name, chain(&e)));
                if s.decisive {
                    break;
                }
            }
        }
    }
    Err(format!("no credential worked; tried: {}", tried.join("; ")))
}

/// The `auto` chain; resolves on the first token request and keeps the winner.
pub struct AutoCredential {
    env: EnvLookup,
    imds: Option<SocketAddr>,
    chosen: OnceCell<Arc<dyn TokenCredential>>,
}

impl std::fmt::Debug for AutoCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoCredential")
            .field("resolved", &self.chosen.initialized())
            .finish()
    }
}

impl AutoCredential {
    /// A chain reading `env`, probing IMDS at `imds` (`None` skips the probe).
    pub fn new(env: EnvLookup, imds: Option<SocketAddr>) -> Self {
        Self {
            env,
            imds,
            chosen: OnceCell::new(),
        }
    }

    async fn sources(&self) -> Vec<Source> {
        let env = &self.env;
        let sp = sp_env(env).and_then(|_| service_principal(env));
        let sp_configured = sp_env(env).is_ok();
        let wi_configured = env("AZURE_FEDERATED_TOKEN_FILE").is_some();
        let wi = workload_identity(env);
        let mi = if sp_configured || wi_configured {
            Err("not probed".to_string())
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
        let dev = DeveloperToolsCredential::new(None)
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| chain(&e));
        vec![
            Source {
                name: "service principal",
                decisive: sp_configured,
                cred: sp,
            },
            Source {
                name: "workload identity",
                decisive: wi_configured,
                cred: wi,
            },
            Source {
                name: "managed identity",
                decisive: false,
                cred: mi,
            },
            Source {
                name: "developer tools (az login)",
                decisive: false,
                cred: dev,
            },
        ]
    }
}

#[async_trait]
impl TokenCredential for AutoCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let cred = self
            .chosen
            .get_or_try_init(|| async {
                let (name, cred) = first_working(self.sources().await, scopes).await?;
                tracing::info!(credential = name, "using Azure credential");
                Ok::<_, String>(cred)
            })
            .await
            .map_err(|msg| CoreError::with_message(ErrorKind::Credential, msg))?;
        cred.get_token(scopes, options).await
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
    let sources: Vec<(&'static str, bool, Result<(), String>)> = match kind {
        CredentialKind::Auto => AutoCredential::new(env.clone(), imds)
            .sources()
            .await
            .into_iter()
            .map(|s| (s.name, s.decisive, s.cred.map(|_| ())))
            .collect(),
        explicit => {
            let built = match explicit {
                CredentialKind::ServicePrincipal => service_principal(env).map(|_| ()),
                CredentialKind::WorkloadIdentity => workload_identity(env).map(|_| ()),
                CredentialKind::ManagedIdentity => managed_identity(env).map(|_| ()),
                _ => AzureCliCredential::new(None)
                    .map(|_| ())
                    .map_err(|e| chain(&e)),
            };
            vec![(kind_name(explicit), true, built)]
        }
    };
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

/// The chain's name for an explicit `cloud.credential`.
fn kind_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Auto => "auto",
        CredentialKind::ServicePrincipal => "service principal",
        CredentialKind::WorkloadIdentity => "workload identity",
        CredentialKind::ManagedIdentity => "managed identity",
        CredentialKind::AzureCli => "Azure CLI (az login)",
    }
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

/// The token the local cloud accepts (it requires a bearer token but checks no signature).
pub const LOCAL_TOKEN: &str = "local-cloud-token";

/// A credential for the local cloud: a fixed, non-secret token valid for a day.
#[derive(Debug, Default, Clone)]
pub struct LocalCredential;

#[async_trait]
impl TokenCredential for LocalCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let expires = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        Ok(AccessToken::new(LOCAL_TOKEN, expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(move |k| map.get(k).cloned())
    }

    #[derive(Debug)]
    struct Failing;
    #[async_trait]
    impl TokenCredential for Failing {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            Err(CoreError::with_message(
                ErrorKind::Credential,
                "invalid_client",
            ))
        }
    }

    fn src(
        name: &'static str,
        decisive: bool,
        cred: Result<Arc<dyn TokenCredential>, String>,
    ) -> Source {
        Source {
            name,
            decisive,
            cred,
        }
    }

    #[test]
    fn service_principal_env_reports_missing_variables() {
        let e = sp_env(&env(&[("AZURE_CLIENT_ID", "c")])).unwrap_err();
        assert_eq!(
            e,
            "service principal: AZURE_TENANT_ID, AZURE_CLIENT_SECRET not set"
        );
        assert!(
            sp_env(&env(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s")
            ]))
            .is_ok()
        );
        assert_eq!(
            managed_identity_env(&env(&[("MSI_ENDPOINT", "http://x")])),
            Some("MSI_ENDPOINT")
        );
        assert_eq!(managed_identity_env(&env(&[])), None);
    }

    #[test]
    fn kinds_use_kebab_case_names() {
        let k: CredentialKind = serde_json::from_str("\"managed-identity\"").unwrap();
        assert_eq!(k, CredentialKind::ManagedIdentity);
        assert_eq!(
            serde_json::to_string(&CredentialKind::AzureCli).unwrap(),
            "\"azure-cli\""
        );
    }

    #[tokio::test]
    async fn chain_skips_unavailable_and_lists_every_reason() {
        let sources = vec![
            src(
                "service principal",
                false,
                Err("AZURE_CLIENT_SECRET not set".into()),
            ),
            src("managed identity", false, Ok(Arc::new(Failing))),
            src("local", false, Ok(Arc::new(LocalCredential))),
        ];
        let (name, _) = first_working(sources, &["s/.default"]).await.unwrap();
        assert_eq!(name, "local");
        let sources = vec![
            src(
                "service principal",
                false,
                Err("AZURE_CLIENT_SECRET not set".into()),
            ),
            src("developer tools", false, Ok(Arc::new(Failing))),
        ];
        let err = first_working(sources, &["s/.default"]).await.unwrap_err();
        assert_eq!(
            err,
            "no credential worked; tried: service principal skipped (AZURE_CLIENT_SECRET not set); developer tools failed (invalid_client)"
        );
    }

    #[tokio::test]
    async fn configured_source_failure_ends_the_chain() {
        let sources = vec![
            src("service principal", true, Ok(Arc::new(Failing))),
            src("local", false, Ok(Arc::new(LocalCredential))),
        ];
        let err = first_working(sources, &["s/.default"]).await.unwrap_err();
        assert!(
            err.contains("service principal failed (invalid_client)"),
            "{err}"
        );
        assert!(!err.contains("local"));
    }

    #[tokio::test]
    async fn auto_without_any_source_explains_itself() {
        // Closed local port stands in for an unreachable IMDS.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let auto = AutoCredential::new(env(&[("AZURE_CLIENT_ID", "c")]), Some(closed));
        let sources = auto.sources().await;
        let names: Vec<_> = sources.iter().map(|s| (s.name, s.cred.is_ok())).collect();
        assert_eq!(names[0], ("service principal", false));
        assert_eq!(names[1], ("workload identity", false));
        assert_eq!(names[2], ("managed identity", false));
        let mi = sources[2].cred.as_ref().err().unwrap();
        assert!(mi.contains("IMDS"), "{mi}");
    }

    #[tokio::test]
    async fn preview_names_the_source_and_never_a_value() {
        let sp = env(&[
            ("AZURE_TENANT_ID", "tenant-value"),
            ("AZURE_CLIENT_ID", "client-value"),
            ("AZURE_CLIENT_SECRET", "secret-value"),
        ]);
        let p = preview_with(CredentialKind::Auto, &sp, None).await;
        assert_eq!(p[0].name, "service principal");
        assert!(p[0].configured);
        assert_eq!(
            p[0].available.as_deref(),
            Ok("AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET set (values not shown)")
        );
        // A configured service principal means no managed identity probe.
        assert!(p[2].available.as_ref().unwrap_err().contains("not probed"));
        let all = format!("{p:?}");
        assert!(!all.contains("-value"), "{all}");

        let explicit = preview_with(CredentialKind::ServicePrincipal, &env(&[]), None).await;
        assert_eq!(explicit.len(), 1);
        assert_eq!(
            explicit[0].available.as_ref().unwrap_err(),
            "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set"
        );
        let mi = env(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/x")]);
        let p = preview_with(CredentialKind::Auto, &mi, None).await;
        assert_eq!(p[2].available.as_deref(), Ok("IDENTITY_ENDPOINT set"));
    }

    #[tokio::test]
    async fn local_credential_gives_the_fixed_token() {
        let t = LocalCredential.get_token(&["x"], None).await.unwrap();
        assert_eq!(t.token.secret(), LOCAL_TOKEN);
        assert!(t.expires_on > time::OffsetDateTime::now_utc());
    }
}

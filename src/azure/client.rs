//! The ARM client: options, construction (credential, pipeline, transport), accessors.

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Pipeline, RetryOptions, Transport};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use url::Url;

use super::credential::{CredentialKind, LocalCredential, azure_credential, chain};
use super::error::ArmError;
use super::lro::PollConfig;
use super::retry::{RateLimitTracker, RetryConfig};
pub use super::send::ClientStats;
use super::send::Counters;

/// Public Azure's Resource Manager endpoint.
pub const AZURE_PUBLIC_ENDPOINT: &str = "https://management.azure.com";

/// How the client authenticates and which TLS roots it trusts.
#[derive(Debug, Clone, PartialEq)]
pub enum ArmAuth {
    /// Real Azure: a credential per [`CredentialKind`], the platform's TLS roots.
    Azure(CredentialKind),
    /// The local cloud: its API token, and only this CA (PEM) is trusted.
    Local {
        /// The local cloud's CA certificate(s), PEM.
        ca_pem: String,
        /// The local cloud's API token (`<data_dir>/api-token`); `Debug` never shows it.
        token: Secret,
    },
}

/// Everything [`ArmClient::new`] needs.
#[derive(Debug, Clone)]
pub struct ArmClientOptions {
    /// ARM base URL (`https://management.azure.com` or the local cloud's URL).
    pub endpoint: Url,
    /// Subscription the ids belong to.
    pub subscription_id: String,
    /// Credential and trust choice.
    pub auth: ArmAuth,
    /// Retry and throttling settings.
    pub retry: RetryConfig,
    /// Long-running operation polling settings.
    pub poll: PollConfig,
    /// How many write requests (PUT/PATCH/POST/DELETE submissions) may be in flight at once.
    pub max_concurrent_writes: usize,
    /// The region the resources live in (`cloud.location`); only named in error hints.
    pub region: Option<String>,
}

impl ArmClientOptions {
    /// Options for public Azure with ARM defaults (10 min retry budget, 10 s default poll).
    pub fn azure(subscription_id: impl Into<String>, credential: CredentialKind) -> Self {
        Self {
            endpoint: public_endpoint(),
            subscription_id: subscription_id.into(),
            auth: ArmAuth::Azure(credential),
            retry: RetryConfig::default(),
            poll: PollConfig::default(),
            max_concurrent_writes: 8,
            region: None,
        }
    }

    /// Options for the local cloud at `endpoint`, trusting only `ca_pem`, sending `token`.
    pub fn local(
        endpoint: Url,
        subscription_id: impl Into<String>,
        ca_pem: impl Into<String>,
        token: Secret,
    ) -> Self {
        Self {
            endpoint,
            auth: ArmAuth::Local {
                ca_pem: ca_pem.into(),
                token,
            },
            ..Self::azure(subscription_id, CredentialKind::Auto)
        }
    }
}

pub(crate) struct Inner {
    pub(crate) pipeline: Pipeline,
    pub(crate) endpoint: Url,
    pub(crate) subscription_id: String,
    pub(crate) retry: RetryConfig,
    pub(crate) poll: PollConfig,
    pub(crate) writes: Semaphore,
    pub(crate) counters: Counters,
    pub(crate) ratelimit: Mutex<RateLimitTracker>,
    pub(crate) region: Option<String>,
    pub(crate) credential: Arc<dyn TokenCredential>,
    pub(crate) scope: String,
}

/// The HTTP client for every ARM call. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ArmClient {
    pub(crate) inner: Arc<Inner>,
    /// Per-operation deadline override (see [`ArmClient::with_operation_deadline`]).
    pub(crate) deadline: Option<Duration>,
    /// Whether 409 `AnotherOperationInProgress` is retried (see [`ArmClient::without_busy_retry`]).
    pub(crate) busy_retry: bool,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("subscription_id", &self.inner.subscription_id)
            .finish_non_exhaustive()
    }
}

fn local_transport(ca_pem: &str) -> Result<Transport, ArmError> {
    let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
        .map_err(|e| ArmError::Config(format!("local cloud CA is not valid PEM: {}", chain(&e))))?;
    if certs.is_empty() {
        return Err(ArmError::Config(
            "local cloud CA PEM holds no certificate".into(),
        ));
    }
    // Same timeouts and no-redirect rule as azure_core's own reqwest client; trust exactly
    // the local CA so a local endpoint can never be impersonated by a public certificate.
    let client = reqwest::Client::builder()
        .tls_certs_only(certs)
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            ArmError::Config(format!(
                "building the local cloud HTTP client: {}",
                chain(&e)
            ))
        })?;
    Ok(Transport::new(Arc::new(client)))
}

/// The token scope for an ARM endpoint: `{scheme}://{host}/.default`.
fn scope_for(endpoint: &Url) -> String {
    format!("{}/.default", endpoint.origin().ascii_serialization())
}

impl ArmClient {
    /// Builds the client: credential, pipeline (with azure_core retries off, see
    /// [`super::retry`]), and for the local cloud a transport trusting only its CA.
    pub fn new(opts: ArmClientOptions) -> Result<Self, ArmError> {
        if opts.endpoint.scheme() != "https" {
            return Err(ArmError::Config(format!(
                "ARM endpoint must be https, got {}",
                opts.endpoint
            )));
        }
        if opts.subscription_id.trim().is_empty() {
            return Err(ArmError::Config("subscription id is empty".into()));
        }
        let mut client_options = ClientOptions {
            retry: RetryOptions::none(),
            ..Default::default()
        };
        let credential: Arc<dyn TokenCredential> = match &opts.auth {
            ArmAuth::Azure(kind) => azure_credential(*kind),
            ArmAuth::Local { ca_pem, token } => {
                client_options.transport = Some(local_transport(ca_pem)?);
                Arc::new(LocalCredential::new(token.clone()))
            }
        };
        let scope = scope_for(&opts.endpoint);
        let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
            Arc::clone(&credential),
            [scope.clone()],
        ));
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            client_options,
            Vec::new(),
            vec![auth],
            None,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pipeline,
                endpoint: opts.endpoint,
                subscription_id: opts.subscription_id,
                retry: opts.retry,
                poll: opts.poll,
                writes: Semaphore::new(opts.max_concurrent_writes.max(1)),
                counters: Counters::default(),
                ratelimit: Mutex::new(RateLimitTracker::default()),
                region: opts.region,
                credential,
                scope,
            }),
            deadline: None,
            busy_retry: true,
        })
    }

    /// Gets a token for the ARM endpoint once, before any resource work, so that a missing
    /// or broken credential is one error (every source tried, one line each) instead of the
    /// same failure on every request. The token is cached by the credential and reused by
    /// the requests that follow.
    pub async fn check_credential(&self) -> Result<(), ArmError> {
        self.inner
            .credential
            .get_token(&[self.inner.scope.as_str()], None)
            .await
            .map(|_| ())
            .map_err(|e| ArmError::Credential(e.to_string()))
    }

    /// The subscription this client works in.
    pub fn subscription_id(&self) -> &str {
        &self.inner.subscription_id
    }

    /// A client sharing this one's connection, counters and limits, whose long-running
    /// operations may take up to `deadline` (for example 45 min for PostgreSQL).
    pub fn with_operation_deadline(&self, deadline: Duration) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            deadline: Some(deadline),
            busy_retry: self.busy_retry,
        }
    }

    /// A client like this one that returns a 409 `AnotherOperationInProgress` at once instead
    /// of retrying it, for callers that wait for the resource's own operation themselves:
    /// after a crash, a retried PUT would start a second operation as soon as the first one
    /// ends (minutes for PostgreSQL), or run out of retry budget while it still runs.
    pub fn without_busy_retry(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            deadline: self.deadline,
            busy_retry: false,
        }
    }

    /// Counts of requests sent and retried so far.
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The absolute URL of an id or path (which may carry a query), with `api-version`.
    pub(crate) fn url_for(&self, path_and_query: &str, api_version: &str) -> Url {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut url = self.inner.endpoint.clone();
        url.set_path(path);
        url.set_query((!query.is_empty()).then_some(query));
        with_api_version(url, api_version)
    }

    /// Refuses a server-given URL (poll URL, nextLink) on another origin than the endpoint:
    /// the bearer token must only ever go to the ARM endpoint it was issued for.
    pub(crate) fn check_origin(&self, url: &Url, resource: &str) -> Result<(), ArmError> {
        if url.origin() == self.inner.endpoint.origin() {
            return Ok(());
        }
        Err(ArmError::InvalidResponse {
            resource: resource.to_string(),
            message: format!(
                "refusing to follow {}://{} outside the ARM endpoint",
                url.scheme(),
                url.host_str().unwrap_or("?")
            ),
        })
    }
}

/// `url` with `api-version` set, unless it already carries one (ARM's nextLinks do).
pub(crate) fn with_api_version(mut url: Url, api_version: &str) -> Url {
    if !url.query_pairs().any(|(k, _)| k == "api-version") {
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
    }
    url
}

#[allow(
    clippy::expect_used,
    reason = "a constant URL; the client tests build it on every run"
)]
fn public_endpoint() -> Url {
    Url::parse(AZURE_PUBLIC_ENDPOINT).expect("constant URL parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_queries_and_add_api_version_once() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let client = ArmClient::new(ArmClientOptions::local(
            Url::parse("https://127.0.0.1:8443").unwrap(),
            "s",
            ca.cert.pem(),
            Secret::new("t"),
        ))
        .unwrap();
        let u = client.url_for(
            "/subscriptions/s/resources?$filter=tagName eq 'a'",
            "2024-11-01",
        );
        assert_eq!(u.path(), "/subscriptions/s/resources");
        assert!(
            u.query().unwrap().ends_with("&api-version=2024-11-01"),
            "{u}"
        );
        let next = Url::parse("https://h/x?api-version=1&$skiptoken=abc").unwrap();
        assert_eq!(with_api_version(next.clone(), "2"), next);
    }

    #[test]
    fn rejects_plain_http_and_bad_ca() {
        let local = |url: &str, ca: &str| {
            ArmClientOptions::local(Url::parse(url).unwrap(), "s", ca, Secret::new("t"))
        };
        let http = local("http://127.0.0.1:1", "x");
        assert!(matches!(ArmClient::new(http), Err(ArmError::Config(_))));
        let bad = local("https://127.0.0.1:1", "not pem");
        assert!(matches!(ArmClient::new(bad), Err(ArmError::Config(_))));
    }

    #[test]
    fn scope_follows_the_endpoint() {
        assert_eq!(
            scope_for(&Url::parse(AZURE_PUBLIC_ENDPOINT).unwrap()),
            "https://management.azure.com/.default"
        );
        assert_eq!(
            scope_for(&Url::parse("https://127.0.0.1:8443/").unwrap()),
            "https://127.0.0.1:8443/.default"
        );
    }
}

//! The ARM client: construction (credential, pipeline, transport) and the one send loop
//! every request goes through (retries, throttling, accounting, logging).

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, RetryOptions, Transport,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use url::Url;

use super::credential::{CredentialKind, LocalCredential, azure_credential, chain};
use super::error::{ArmError, ArmErrorDetail, HttpError};
use super::lro::PollConfig;
use super::retry::{self, RateLimitTracker, RequestKind, RetryConfig};

/// Public Azure's Resource Manager endpoint.
pub const AZURE_PUBLIC_ENDPOINT: &str = "https://management.azure.com";

/// How the client authenticates and which TLS roots it trusts.
#[derive(Debug, Clone, PartialEq)]
pub enum ArmAuth {
    /// Real Azure: a credential per [`CredentialKind`], the platform's TLS roots.
    Azure(CredentialKind),
    /// The local cloud: a fixed token, and only this CA (PEM) is trusted.
    Local {
        /// The local cloud's CA certificate(s), PEM.
        ca_pem: String,
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
}

impl ArmClientOptions {
    /// Options for public Azure with ARM defaults (10 min retry budget, 10 s default poll).
    pub fn azure(subscription_id: impl Into<String>, credential: CredentialKind) -> Self {
        Self {
            endpoint: Url::parse(AZURE_PUBLIC_ENDPOINT).expect("constant URL parses"),
            subscription_id: subscription_id.into(),
            auth: ArmAuth::Azure(credential),
            retry: RetryConfig::default(),
            poll: PollConfig::default(),
            max_concurrent_writes: 8,
        }
    }

    /// Options for the local cloud at `endpoint`, trusting only `ca_pem`.
    pub fn local(
        endpoint: Url,
        subscription_id: impl Into<String>,
        ca_pem: impl Into<String>,
    ) -> Self {
        Self {
            endpoint,
            auth: ArmAuth::Local {
                ca_pem: ca_pem.into(),
            },
            ..Self::azure(subscription_id, CredentialKind::Auto)
        }
    }
}

/// Requests sent and retried so far, for the run summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientStats {
    /// GET requests sent (including polls and retries).
    pub get: u64,
    /// PUT requests sent.
    pub put: u64,
    /// PATCH requests sent.
    pub patch: u64,
    /// POST requests sent.
    pub post: u64,
    /// DELETE requests sent.
    pub delete: u64,
    /// Attempts that were retries of an earlier attempt.
    pub retries: u64,
    /// Responses with status 429.
    pub throttled: u64,
    /// Requests delayed because the remaining rate-limit headers ran low.
    pub slowed_down: u64,
}

impl ClientStats {
    /// All requests sent.
    pub fn requests(&self) -> u64 {
        self.get + self.put + self.patch + self.post + self.delete
    }
}

#[derive(Debug, Default)]
struct Counters {
    by_method: [AtomicU64; 5],
    retries: AtomicU64,
    throttled: AtomicU64,
    slowed_down: AtomicU64,
}

fn method_index(m: Method) -> usize {
    match m {
        Method::Get | Method::Head => 0,
        Method::Put => 1,
        Method::Patch => 2,
        Method::Post => 3,
        _ => 4,
    }
}

pub(crate) struct Inner {
    pipeline: Pipeline,
    pub(crate) endpoint: Url,
    pub(crate) subscription_id: String,
    retry: RetryConfig,
    pub(crate) poll: PollConfig,
    pub(crate) writes: Semaphore,
    counters: Counters,
    ratelimit: Mutex<RateLimitTracker>,
}

/// The HTTP client for every ARM call. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ArmClient {
    pub(crate) inner: Arc<Inner>,
    /// Per-operation deadline override (see [`ArmClient::with_operation_deadline`]).
    pub(crate) deadline: Option<Duration>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("subscription_id", &self.inner.subscription_id)
            .finish_non_exhaustive()
    }
}

/// A response with its body collected.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

const X_MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
const X_MS_ERROR_CODE: HeaderName = HeaderName::from_static("x-ms-error-code");

impl Resp {
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// ARM error code from the body, else from `x-ms-error-code`.
    fn error_code(&self) -> Option<String> {
        ArmErrorDetail::parse(&self.body)
            .map(|d| d.code)
            .filter(|c| !c.is_empty())
            .or_else(|| self.headers.get_optional_string(&X_MS_ERROR_CODE))
    }

    /// This response as an [`ArmError::Http`] about `resource`.
    pub(crate) fn into_error(self, method: Method, resource: &str) -> ArmError {
        let detail = ArmErrorDetail::parse(&self.body);
        let code = self.error_code();
        let message = match &detail {
            Some(d) if !d.message.is_empty() => d.message.clone(),
            _ => {
                let text = String::from_utf8_lossy(&self.body);
                let text = text.trim();
                if text.is_empty() || text.len() > 300 {
                    azure_core::http::StatusCode::from(self.status)
                        .canonical_reason()
                        .into_owned()
                } else {
                    text.to_string()
                }
            }
        };
        ArmError::Http(Box::new(HttpError {
            method: method.as_str(),
            resource: resource.to_string(),
            status: self.status,
            code,
            message,
            details: detail.map(|d| d.details).unwrap_or_default(),
            request_id: self.headers.get_optional_string(&X_MS_REQUEST_ID),
        }))
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
            ArmAuth::Azure(kind) => azure_credential(*kind)?,
            ArmAuth::Local { ca_pem } => {
                client_options.transport = Some(local_transport(ca_pem)?);
                Arc::new(LocalCredential)
            }
        };
        let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
            credential,
            [scope_for(&opts.endpoint)],
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
            }),
            deadline: None,
        })
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
        }
    }

    /// Counts of requests sent and retried so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        let m = |i: usize| c.by_method[i].load(Ordering::Relaxed);
        ClientStats {
            get: m(0),
            put: m(1),
            patch: m(2),
            post: m(3),
            delete: m(4),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            slowed_down: c.slowed_down.load(Ordering::Relaxed),
        }
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

    /// Sends one request, retrying per [`super::retry`], and returns the final response
    /// whatever its status. `Err` only for transport and credential failures.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
        resource: &str,
    ) -> Result<Resp, ArmError> {
        let cfg = &self.inner.retry;
        let counters = &self.inner.counters;
        let kind = RequestKind::of_method(method.as_str());
        let start = Instant::now();
        let mut retries = 0u32;
        loop {
            let wait = self
                .inner
                .ratelimit
                .lock()
                .expect("ratelimit lock")
                .before_send(kind, cfg.ratelimit_low_watermark, Instant::now());
            if !wait.is_zero() {
                counters.slowed_down.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    ?kind,
                    wait_ms = wait.as_millis() as u64,
                    "ARM rate limit running low, slowing down"
                );
                tokio::time::sleep(wait).await;
            }
            let mut req = Request::new(url.clone(), method);
            req.insert_header("accept", "application/json");
            if let Some(b) = body {
                req.insert_header("content-type", "application/json");
                req.set_body(b.to_vec());
            }
            counters.by_method[method_index(method)].fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let options = PipelineSendOptions {
                skip_checks: true,
                ..Default::default()
            };
            let result = self
                .inner
                .pipeline
                .send(&Context::new(), &mut req, Some(options))
                .await;
            let (retry_after, why) = match result {
                Ok(raw) => {
                    let (status, headers, body) = raw.deconstruct();
                    let resp = Resp {
                        status: u16::from(status),
                        headers,
                        body: body.to_vec(),
                    };
                    let remaining = retry::parse_ratelimit_remaining(&resp.headers);
                    self.inner
                        .ratelimit
                        .lock()
                        .expect("ratelimit lock")
                        .observe(remaining, Instant::now());
                    tracing::debug!(
                        method = method.as_str(),
                        path = url.path(),
                        status = resp.status,
                        request_id = resp
                            .headers
                            .get_optional_str(&X_MS_REQUEST_ID)
                            .unwrap_or("-"),
                        elapsed_ms = sent.elapsed().as_millis() as u64,
                        "ARM request"
                    );
                    if resp.status == 429 {
                        counters.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let code = (resp.status >= 400).then(|| resp.error_code()).flatten();
                    if !retry::is_retryable_status(resp.status, code.as_deref()) {
                        return Ok(resp);
                    }
                    let delay = retry::retry_delay(
                        cfg,
                        retries,
                        retry::parse_retry_after(&resp.headers),
                        rand::random(),
                    );
                    if !retry::may_retry(cfg, retries, start.elapsed(), delay) {
                        return Ok(resp);
                    }
                    (
                        delay,
                        format!(
                            "HTTP {}{}",
                            resp.status,
                            code.map(|c| format!(" {c}")).unwrap_or_default()
                        ),
                    )
                }
                Err(e) => {
                    let message = chain(&e);
                    tracing::debug!(method = method.as_str(), path = url.path(), error = %message, "ARM request failed");
                    match e.kind() {
                        // With status checks skipped, an HTTP error here can only come from
                        // the token request inside the bearer policy.
                        ErrorKind::Credential | ErrorKind::HttpResponse { .. } => {
                            return Err(ArmError::Credential(message));
                        }
                        ErrorKind::Connection | ErrorKind::Io => {}
                        _ => return Err(transport(method, resource, message)),
                    }
                    let delay = retry::retry_delay(cfg, retries, None, rand::random());
                    if !retry::may_retry(cfg, retries, start.elapsed(), delay) {
                        return Err(transport(method, resource, message));
                    }
                    (delay, message)
                }
            };
            retries += 1;
            counters.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                method = method.as_str(),
                path = url.path(),
                retry = retries,
                delay_ms = retry_after.as_millis() as u64,
                reason = %why,
                "retrying ARM request"
            );
            tokio::time::sleep(retry_after).await;
        }
    }
}

fn transport(method: Method, resource: &str, message: String) -> ArmError {
    ArmError::Transport {
        method: method.as_str(),
        resource: resource.to_string(),
        message,
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
        let http = ArmClientOptions::local(Url::parse("http://127.0.0.1:1").unwrap(), "s", "x");
        assert!(matches!(ArmClient::new(http), Err(ArmError::Config(_))));
        let bad =
            ArmClientOptions::local(Url::parse("https://127.0.0.1:1").unwrap(), "s", "not pem");
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

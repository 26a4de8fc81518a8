//! The one send loop every ARM request goes through: retries, throttling, accounting, logging.

use crate::sync::LockExt;
use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{Context, Method, PipelineSendOptions, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use url::Url;

use super::client::ArmClient;
use super::credential::chain;
use super::error::{ArmError, ArmErrorDetail, HttpError};
use super::retry::{self, RequestKind};

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

/// The live counters behind [`ClientStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    by_method: [AtomicU64; 5],
    retries: AtomicU64,
    throttled: AtomicU64,
    slowed_down: AtomicU64,
}

impl Counters {
    /// A copy of the counters now.
    pub(crate) fn snapshot(&self) -> ClientStats {
        let m = |i: usize| self.by_method[i].load(Ordering::Relaxed);
        ClientStats {
            get: m(0),
            put: m(1),
            patch: m(2),
            post: m(3),
            delete: m(4),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            slowed_down: self.slowed_down.load(Ordering::Relaxed),
        }
    }
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

/// A response with its body collected.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The `api-version` of the request this answers (named in errors).
    pub api_version: Option<String>,
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

    /// This response as an [`ArmError::Http`] about `resource`; `region` is the client's.
    fn into_error(self, method: Method, resource: &str, region: Option<&str>) -> ArmError {
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
            api_version: self.api_version,
            region: region.map(str::to_owned),
        }))
    }
}

impl ArmClient {
    /// An error response as an [`ArmError::Http`] about `resource`, naming the region.
    pub(crate) fn http_error(&self, resp: Resp, method: Method, resource: &str) -> ArmError {
        resp.into_error(method, resource, self.inner.region.as_deref())
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
            let wait = self.inner.ratelimit.lock_or_recover().before_send(
                kind,
                cfg.ratelimit_low_watermark,
                Instant::now(),
            );
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
                        api_version: url
                            .query_pairs()
                            .find(|(k, _)| k == "api-version")
                            .map(|(_, v)| v.into_owned()),
                    };
                    let remaining = retry::parse_ratelimit_remaining(&resp.headers);
                    self.inner
                        .ratelimit
                        .lock_or_recover()
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
                    let busy = code.as_deref() == Some("AnotherOperationInProgress");
                    if !retry::is_retryable_status(resp.status, code.as_deref())
                        || (busy && !self.busy_retry)
                    {
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

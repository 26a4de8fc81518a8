//! Retry and throttling decisions for ARM requests, as pure functions the client loops over.
//!
//! Why our own loop instead of azure_core's retry policy: the pipeline is built with
//! `RetryOptions::none()` and [`super::ArmClient`] retries around `Pipeline::send`, because
//! azure_core 1.1's policy (a) honours `Retry-After` only on 429 and 503, while ARM sends it
//! on other 5xx too, (b) cannot see ARM error codes in the body, so it would neither retry a
//! 409 `AnotherOperationInProgress` / `RetryableErrorDueToAnotherOperation` nor stop early on
//! a non-retryable code, (c) has a 60 s default budget (too short for ARM, whose Retry-After
//! values of 30-60 s would end it after one wait) and (d) gives us no count of retries for
//! the run's request accounting. Our loop still uses the pipeline for everything else
//! (bearer token policy, client request id, user agent, transport).
//!
//! Rules:
//! - Retried: connection and I/O errors, 408, 429, 500, 502, 503, 504, and any 409/429
//!   whose ARM code is `AnotherOperationInProgress` or `RetryableErrorDueToAnotherOperation`.
//! - Wait: the server's `x-ms-retry-after-ms`, `retry-after-ms` or `Retry-After` (seconds)
//!   if present (capped by [`RetryConfig::max_retry_after`]), else exponential backoff from
//!   [`RetryConfig::initial_delay`] doubling up to [`RetryConfig::max_backoff`], with
//!   "equal jitter" (half fixed, half random) so parallel callers spread out.
//! - Stop: when the next wait would pass [`RetryConfig::budget`] (default 10 min) measured
//!   from the first attempt, or after [`RetryConfig::max_retries`]; the last answer is then
//!   returned as the error.
//! - Slow down before ARM throttles: every response's
//!   `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` is remembered per kind;
//!   when the estimate (last value, minus requests sent since, plus the documented token
//!   bucket refill: 25/s reads, 10/s writes and deletes) is below
//!   [`RetryConfig::ratelimit_low_watermark`], the next request of that kind first waits
//!   until the bucket should be back at the watermark.

use azure_core::http::headers::{HeaderName, Headers};
use std::time::{Duration, Instant};

/// Retry settings for every ARM request (one request = its first attempt and its retries).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// First backoff delay when the server gives no Retry-After.
    pub initial_delay: Duration,
    /// Upper bound of the exponential backoff.
    pub max_backoff: Duration,
    /// Upper bound applied to a server-sent Retry-After (tests set it tiny).
    pub max_retry_after: Duration,
    /// Total time one request may spend retrying, from its first attempt.
    pub budget: Duration,
    /// Maximum number of retries of one request.
    pub max_retries: u32,
    /// Remaining-requests level below which requests of that kind are slowed down.
    pub ratelimit_low_watermark: u32,
}

impl Default for RetryConfig {
    /// ARM-suited defaults: 4 s initial backoff up to 60 s, Retry-After honoured up to 5 min,
    /// a 10 min budget, 20 retries, slow down under 20 remaining requests.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(4),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            budget: Duration::from_secs(600),
            max_retries: 20,
            ratelimit_low_watermark: 20,
        }
    }
}

const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");

/// The server-requested wait, from `x-ms-retry-after-ms`, `retry-after-ms` or `Retry-After`
/// (integer seconds, as ARM sends; an HTTP date is also understood), in that order.
pub fn parse_retry_after(headers: &Headers) -> Option<Duration> {
    for name in [X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS] {
        if let Some(ms) = headers
            .get_optional_str(&name)
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = headers.get_optional_str(&RETRY_AFTER)?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// ARM error codes that mean "the resource is busy with another operation, try again".
pub fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "AnotherOperationInProgress" | "RetryableErrorDueToAnotherOperation"
    )
}

/// Whether a response with this status and ARM error code should be retried.
pub fn is_retryable_status(status: u16, code: Option<&str>) -> bool {
    match status {
        408 | 429 | 500 | 502 | 503 | 504 => true,
        409 => code.is_some_and(is_retryable_code),
        _ => false,
    }
}

/// Exponential backoff with equal jitter for retry number `attempt` (0 = first retry).
/// `jitter` is a random value in `[0, 1)`.
pub fn backoff(cfg: &RetryConfig, attempt: u32, jitter: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(20));
    let base = cfg
        .initial_delay
        .saturating_mul(factor)
        .min(cfg.max_backoff);
    base / 2 + base.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// The wait before retry number `attempt`: the server's Retry-After (capped) or backoff.
pub fn retry_delay(
    cfg: &RetryConfig,
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    match retry_after {
        Some(d) => d.min(cfg.max_retry_after),
        None => backoff(cfg, attempt, jitter),
    }
}

/// Whether another retry fits: under the retry count and the wait ends inside the budget.
pub fn may_retry(cfg: &RetryConfig, retries_done: u32, elapsed: Duration, delay: Duration) -> bool {
    retries_done < cfg.max_retries && elapsed + delay <= cfg.budget
}

/// The three ARM subscription rate-limit buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// GET and HEAD.
    Read,
    /// PUT, PATCH and POST.
    Write,
    /// DELETE.
    Delete,
}

impl RequestKind {
    /// The bucket a method draws from.
    pub fn of_method(method: &str) -> Self {
        match method {
            "GET" | "HEAD" => RequestKind::Read,
            "DELETE" => RequestKind::Delete,
            _ => RequestKind::Write,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Documented token-bucket refill per second for this kind (per principal).
    pub fn refill_per_sec(self) -> f64 {
        match self {
            RequestKind::Read => 25.0,
            RequestKind::Write | RequestKind::Delete => 10.0,
        }
    }

    fn header(self) -> HeaderName {
        HeaderName::from_static(match self {
            RequestKind::Read => "x-ms-ratelimit-remaining-subscription-reads",
            RequestKind::Write => "x-ms-ratelimit-remaining-subscription-writes",
            RequestKind::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        })
    }
}

const KINDS: [RequestKind; 3] = [RequestKind::Read, RequestKind::Write, RequestKind::Delete];

/// The remaining-request counts a response reports, per kind.
pub fn parse_ratelimit_remaining(headers: &Headers) -> [Option<u32>; 3] {
    KINDS.map(|k| {
        headers
            .get_optional_str(&k.header())
            .and_then(|v| v.trim().parse::<u32>().ok())
    })
}

/// How long to wait before a request when `remaining` requests were left `elapsed` ago
/// and the bucket refills at `refill_per_sec`: zero at or above the watermark, else the
/// time until the refill brings the estimate back up to it.
pub fn throttle_delay(
    remaining: f64,
    low_watermark: u32,
    refill_per_sec: f64,
    elapsed: Duration,
) -> Duration {
    let estimate = remaining + elapsed.as_secs_f64() * refill_per_sec;
    let low = f64::from(low_watermark);
    if estimate >= low || refill_per_sec <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64((low - estimate) / refill_per_sec)
}

/// Remembers the last reported remaining counts and spaces out requests when they run low.
#[derive(Debug, Default)]
pub struct RateLimitTracker {
    /// Per kind: estimated remaining requests and when that estimate was made.
    last: [Option<(f64, Instant)>; 3],
}

impl RateLimitTracker {
    /// Records the counts reported by a response.
    pub fn observe(&mut self, remaining: [Option<u32>; 3], now: Instant) {
        for (slot, r) in self.last.iter_mut().zip(remaining) {
            if let Some(r) = r {
                *slot = Some((f64::from(r), now));
            }
        }
    }

    /// Reserves one request of `kind` and returns how long to wait before sending it.
    pub fn before_send(&mut self, kind: RequestKind, low_watermark: u32, now: Instant) -> Duration {
        let Some((remaining, at)) = self.last[kind.index()] else {
            return Duration::ZERO;
        };
        let refill = kind.refill_per_sec();
        // When the bucket should be back at the watermark; earlier reservations may have
        // pushed `at` into the future, so later callers queue behind them.
        let ready = at + throttle_delay(remaining, low_watermark, refill, Duration::ZERO);
        let send_at = ready.max(now);
        // The request is charged when it is sent: the refilled estimate minus this one.
        let at_send = remaining + send_at.saturating_duration_since(at).as_secs_f64() * refill;
        self.last[kind.index()] = Some((at_send - 1.0, send_at));
        send_at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.insert(*k, *v);
        }
        h
    }

    #[test]
    fn retry_after_variants_and_precedence() {
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", " 0 ")])),
            Some(Duration::ZERO)
        );
        let both = headers(&[("retry-after", "7"), ("retry-after-ms", "250")]);
        assert_eq!(parse_retry_after(&both), Some(Duration::from_millis(250)));
        let ms = headers(&[("x-ms-retry-after-ms", "40"), ("retry-after-ms", "250")]);
        assert_eq!(parse_retry_after(&ms), Some(Duration::from_millis(40)));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "soon")])),
            None
        );
        assert_eq!(parse_retry_after(&Headers::new()), None);
        let past = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
    }

    #[test]
    fn retryable_statuses_and_codes() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s, None), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 501] {
            assert!(!is_retryable_status(s, None), "{s}");
        }
        assert!(is_retryable_status(409, Some("AnotherOperationInProgress")));
        assert!(is_retryable_status(
            409,
            Some("RetryableErrorDueToAnotherOperation")
        ));
        assert!(!is_retryable_status(409, Some("Conflict")));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let cfg = RetryConfig::default();
        assert_eq!(backoff(&cfg, 0, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(&cfg, 0, 0.999_999).as_secs(), 3);
        assert_eq!(backoff(&cfg, 1, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(&cfg, 10, 0.0), Duration::from_secs(30));
        assert_eq!(backoff(&cfg, 40, 1.0), Duration::from_secs(60));
        let ra = Some(Duration::from_secs(900));
        assert_eq!(retry_delay(&cfg, 0, ra, 0.5), Duration::from_secs(300));
    }

    #[test]
    fn budget_and_count_bound_retries() {
        let cfg = RetryConfig {
            budget: Duration::from_secs(10),
            max_retries: 2,
            ..Default::default()
        };
        assert!(may_retry(
            &cfg,
            0,
            Duration::from_secs(5),
            Duration::from_secs(5)
        ));
        assert!(!may_retry(
            &cfg,
            0,
            Duration::from_secs(5),
            Duration::from_secs(6)
        ));
        assert!(!may_retry(&cfg, 2, Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn ratelimit_headers_parse_per_kind() {
        let h = headers(&[
            ("x-ms-ratelimit-remaining-subscription-reads", "249"),
            ("x-ms-ratelimit-remaining-subscription-deletes", "3"),
        ]);
        assert_eq!(parse_ratelimit_remaining(&h), [Some(249), None, Some(3)]);
        assert_eq!(RequestKind::of_method("PATCH"), RequestKind::Write);
        assert_eq!(RequestKind::of_method("HEAD"), RequestKind::Read);
    }

    #[test]
    fn throttle_waits_for_refill_below_watermark() {
        assert_eq!(
            throttle_delay(50.0, 20, 10.0, Duration::ZERO),
            Duration::ZERO
        );
        assert_eq!(
            throttle_delay(0.0, 20, 10.0, Duration::ZERO),
            Duration::from_secs(2)
        );
        assert_eq!(
            throttle_delay(0.0, 20, 10.0, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            throttle_delay(0.0, 20, 10.0, Duration::from_secs(3)),
            Duration::ZERO
        );
    }

    #[test]
    fn tracker_spaces_out_consecutive_low_requests() {
        let mut t = RateLimitTracker::default();
        let now = Instant::now();
        assert_eq!(t.before_send(RequestKind::Write, 20, now), Duration::ZERO);
        t.observe([None, Some(19), None], now);
        // 19 left, watermark 20, refill 10/s: wait 0.1 s, then the next one 0.1 s later.
        let first = t.before_send(RequestKind::Write, 20, now);
        let second = t.before_send(RequestKind::Write, 20, now);
        assert_eq!(first.as_millis(), 100);
        assert_eq!(second.as_millis(), 200);
        assert_eq!(t.before_send(RequestKind::Read, 20, now), Duration::ZERO);
    }
}

//! Talking to a k3s supervisor as a joining node does (`pkg/clientaccess`): fetch
//! `/cacerts` without trusting it yet, check it against the token's CA hash, then call
//! `/v1-k3s/*` with HTTP basic auth over a client that trusts only that CA. Errors are
//! worded as k3s prints them (`failed to get CA certs: Get "...": ...`, a `Status`
//! body's message such as `not authorized`).

use std::time::Duration;

use serde_json::Value;

use super::token::{Token, ca_hash};

/// A client that accepts any certificate: only for fetching `/cacerts`, which the token's
/// hash then checks (10 s timeout, as k3s's).
pub fn insecure() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// A client that trusts only `ca_pem` (falls back to [`insecure`] if it does not parse,
/// which the hash check has already ruled out for a pinned token).
pub fn pinned(ca_pem: &[u8], timeout: Duration) -> reqwest::Client {
    match reqwest::Certificate::from_pem(ca_pem) {
        Ok(cert) => reqwest::Client::builder()
            .tls_certs_only([cert])
            .timeout(timeout)
            .build()
            .unwrap_or_default(),
        Err(_) => insecure(),
    }
}

/// The innermost cause of a request error, as Go prints a dial error when it is one
/// (`dial tcp 10.0.0.1:6443: connect: connection refused`).
pub fn cause(e: &reqwest::Error) -> String {
    let mut last = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
            && let Some(url) = e.url()
        {
            let host = url.host_str().unwrap_or_default();
            let port = url.port_or_known_default().unwrap_or(443);
            return format!("dial tcp {host}:{port}: connect: connection refused");
        }
        last = s.to_string();
        src = s.source();
    }
    last
}

/// `GET <base>/cacerts` (untrusted); the error is k3s's `failed to get CA certs: ...`.
pub async fn fetch_cacerts(base: &str) -> Result<Vec<u8>, String> {
    let url = format!("{base}/cacerts");
    match insecure().get(&url).send().await {
        Ok(r) if r.status().is_success() => r
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("failed to get CA certs: {}", cause(&e))),
        Ok(r) => Err(format!("failed to get CA certs: {url}: {}", r.status())),
        Err(e) => Err(format!(
            "failed to get CA certs: Get \"{url}\": {}",
            cause(&e)
        )),
    }
}

/// Whether the fetched CA is the one the token pins (a token without a hash pins none).
pub fn check_ca(token: &Token, ca: &[u8]) -> Result<(), String> {
    match &token.ca_hash {
        Some(h) if *h != ca_hash(ca) => Err(format!(
            "token CA hash does not match the Cluster CA certificate hash: {h} != {}",
            ca_hash(ca)
        )),
        _ => Ok(()),
    }
}

/// `GET <base><path>` as `user:password`; the body, or the error k3s prints (the
/// `Status` message, else the URL and HTTP status).
pub async fn get(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    user: &str,
    password: &str,
) -> Result<Vec<u8>, String> {
    let url = format!("{base}{path}");
    let r = http
        .get(&url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_err(|e| cause(&e))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| cause(&e))?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned));
    Err(message.unwrap_or_else(|| format!("{url}: {status}")))
}

/// Like [`get`], the body as JSON.
pub async fn get_json(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    user: &str,
    password: &str,
) -> Result<Value, String> {
    let body = get(http, base, path, user, password).await?;
    serde_json::from_slice(&body).map_err(|e| format!("{base}{path}: {e}"))
}

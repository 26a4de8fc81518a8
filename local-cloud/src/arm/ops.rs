//! Long-running operations: creating them, their poll URLs and what polling them answers.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use url::Url;

use super::store::{Operation, Store};
use crate::config::OpKind;
use crate::error::{ArmError, ErrorDetail};

/// Milliseconds since the Unix epoch: operation deadlines survive restarts.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 text of a millisecond timestamp.
pub fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A new operation record; the caller stores it.
pub fn new_op(
    kind: OpKind,
    target: &str,
    rtype: &str,
    now: u64,
    dur: std::time::Duration,
    failure: Option<ErrorDetail>,
) -> Operation {
    Operation {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        target: target.to_ascii_lowercase(),
        rtype: rtype.to_string(),
        also: Vec::new(),
        removes: Vec::new(),
        action: None,
        started_ms: now,
        done_at_ms: now + dur.as_millis() as u64,
        failure,
        settled: false,
    }
}

/// The two poll URLs of an operation: (Azure-AsyncOperation, Location).
pub fn poll_urls(endpoint: &Url, sub: &str, op: &Operation, location: &str) -> (String, String) {
    let ns = op.rtype.split('/').next().unwrap_or("Microsoft.Resources");
    // These URLs take any version of the namespace; the newest of the type is written
    // (operations only exist for served types, which all have a row).
    let version = super::api_versions::latest(&op.rtype).unwrap_or_default();
    let base = format!(
        "{}subscriptions/{sub}/providers/{ns}/locations/{location}",
        endpoint.as_str()
    );
    (
        format!("{base}/azureAsyncOperation/{}?api-version={version}", op.id),
        format!("{base}/operationResults/{}?api-version={version}", op.id),
    )
}

/// Adds poll headers for `op` to a response.
pub fn add_poll_headers(
    h: &mut HeaderMap,
    urls: &(String, String),
    async_op: bool,
    location: bool,
    retry_after: u64,
) {
    if async_op && let Ok(v) = HeaderValue::from_str(&urls.0) {
        h.insert("azure-asyncoperation", v);
    }
    if location && let Ok(v) = HeaderValue::from_str(&urls.1) {
        h.insert("location", v);
    }
    h.insert("retry-after", HeaderValue::from(retry_after));
}

/// Status word of an operation at `now`.
pub fn status(op: &Operation, now: u64) -> &'static str {
    if now < op.done_at_ms {
        "InProgress"
    } else if op.failure.is_some() {
        "Failed"
    } else {
        "Succeeded"
    }
}

/// Body of the Azure-AsyncOperation URL: always 200 with the status.
pub fn async_status_body(op: &Operation, now: u64) -> Value {
    let st = status(op, now);
    let mut body =
        json!({"id": op.id, "name": op.id, "status": st, "startTime": rfc3339(op.started_ms)});
    if st != "InProgress" {
        body["endTime"] = rfc3339(op.done_at_ms).into();
        body["percentComplete"] = 100.into();
    } else {
        let span = op.done_at_ms.saturating_sub(op.started_ms).max(1);
        body["percentComplete"] = ((now.saturating_sub(op.started_ms)) * 100 / span).into();
    }
    if let (Some(f), "Failed") = (&op.failure, st) {
        body["error"] = json!(f);
    }
    body
}

/// What the Location URL answers once the operation is over: (status, body). A finished
/// delete is 204; a finished create/update returns the resource as a GET would.
pub fn location_result(
    store: &Store,
    op: &Operation,
) -> Result<(StatusCode, Option<Value>), ArmError> {
    if let Some(f) = &op.failure {
        return Err(ArmError::bad_request(&f.code, f.message.clone()));
    }
    match op.kind {
        OpKind::Delete | OpKind::Action => Ok((StatusCode::NO_CONTENT, None)),
        OpKind::Create | OpKind::Update => match store.visible(&op.target) {
            Some(r) => Ok((StatusCode::OK, Some(r.body.clone()))),
            None => Ok((StatusCode::NO_CONTENT, None)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_clock() {
        let op = new_op(
            OpKind::Create,
            "/x",
            "Microsoft.Network/virtualNetworks",
            1000,
            std::time::Duration::from_millis(500),
            None,
        );
        assert_eq!(status(&op, 1200), "InProgress");
        assert_eq!(async_status_body(&op, 1250)["percentComplete"], 50);
        assert_eq!(status(&op, 1500), "Succeeded");
        let failed = Operation {
            failure: Some(ErrorDetail {
                code: "X".into(),
                message: "m".into(),
            }),
            ..op
        };
        let body = async_status_body(&failed, 2000);
        assert_eq!(body["status"], "Failed");
        assert_eq!(body["error"]["code"], "X");
        assert!(rfc3339(0).starts_with("1970-01-01T00:00:00"));
    }
}

//! Errors: `LocalCloudError` for starting the server, `ArmError` for answers in ARM's shape.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Why the local cloud could not start or persist.
#[derive(Debug, thiserror::Error)]
pub enum LocalCloudError {
    #[error("local cloud I/O on {path}: {source}")]
    /// Reading or writing a file in the data dir failed.
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("local cloud certificate: {0}")]
    /// Generating or loading the CA or server certificate failed.
    Cert(#[from] rcgen::Error),
    #[error("local cloud TLS setup: {0}")]
    /// Building the TLS server configuration failed.
    Tls(String),
    #[error("local cloud state file {path} is unreadable: {source}")]
    /// `cloud.json` is not a store this version can read.
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
    #[error("hosts: {0}")]
    /// VMs cannot be realized as hosts (root or a tool missing, cleanup failed).
    Hosts(#[from] super::hosts::HostError),
    #[error("local cloud cannot listen on {addr}: {source}")]
    /// The listening socket could not be opened.
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl LocalCloudError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The `error` object of an ARM error body and of a failed operation status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Invariant PascalCase ARM error code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// An ARM error answer: HTTP status plus `{"error":{"code","message"}}`.
#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
    /// `Retry-After` seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ArmError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
            },
            retry_after: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500 for a broken invariant of the local cloud itself (ARM's `InternalServerError`).
    pub fn internal(detail: String) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("The local cloud failed: {detail}."),
        )
    }

    /// Network-style "field missing or malformed" error naming the field path.
    pub fn invalid(path: &str, what: &str) -> Self {
        Self::bad_request(
            "InvalidRequestFormat",
            format!("Cannot parse the request: {path} {what}."),
        )
    }

    /// 404 for a resource that does not exist.
    pub fn resource_not_found(rtype: &str, name: &str, group: &str) -> Self {
        Self::not_found(
            "ResourceNotFound",
            format!("The Resource '{rtype}/{name}' under resource group '{group}' was not found."),
        )
    }

    /// Body of the answer, as ARM writes it.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.detail })
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.detail.code) {
            h.insert("x-ms-error-code", v);
        }
        if let Some(secs) = self.retry_after {
            h.insert("retry-after", HeaderValue::from(secs));
        }
        resp
    }
}

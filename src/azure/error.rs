//! ARM errors: the typed `{"error":{...}}` body and the client's error enum (hints: [`super::hint`]).

use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// One ARM error object, as in `{"error":{"code","message","target","details"}}`.
///
/// The same shape appears in failed Azure-AsyncOperation status bodies and, nested, in
/// `details`. Missing or `null` fields read as empty so a sloppy RP body still parses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmErrorDetail {
    /// Invariant PascalCase code such as `SkuNotAvailable`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub code: String,
    /// Human-readable (localized) message.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
    /// The property or resource the error is about, when the RP says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested errors (for example one per invalid property).
    #[serde(default, deserialize_with = "null_as_default")]
    pub details: Vec<ArmErrorDetail>,
    /// `additionalInfo` entries (policy violations and the like), kept as raw JSON.
    #[serde(default, deserialize_with = "null_as_default")]
    pub additional_info: Vec<serde_json::Value>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl ArmErrorDetail {
    /// Parses an ARM error body: `{"error":{...}}`, or a bare `{"code":..,"message":..}`
    /// that some RPs return. `None` when the body carries no error code or message.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        Self::from_value(&v)
    }

    /// Like [`ArmErrorDetail::parse`], from an already parsed JSON value.
    pub fn from_value(v: &serde_json::Value) -> Option<Self> {
        let obj = match v.get("error") {
            Some(e) if e.is_object() => e,
            _ => v,
        };
        let detail: Self = serde_json::from_value(obj.clone()).ok()?;
        (!detail.code.is_empty() || !detail.message.is_empty()).then_some(detail)
    }

    /// This code and every nested code, depth first.
    pub(crate) fn codes(&self) -> Vec<&str> {
        let mut out = vec![self.code.as_str()];
        for d in &self.details {
            out.extend(d.codes());
        }
        out
    }
}

/// Everything the ARM client can fail with. Every variant names the resource it is about.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with an error status (after retries, when the status was retryable).
    /// Boxed: it is the largest variant and errors travel through every `Result`.
    #[error("{0}")]
    Http(Box<HttpError>),
    /// A long-running operation finished as `Failed` or `Canceled`.
    #[error(
        "operation on {resource} ended {state}: {code}: {message}{}",
        details_suffix(details)
    )]
    OperationFailed {
        /// Resource id the operation was about.
        resource: String,
        /// Terminal state reported (`Failed`, `Canceled`).
        state: String,
        /// ARM error code.
        code: String,
        /// ARM error message.
        message: String,
        /// Nested ARM error details.
        details: Vec<ArmErrorDetail>,
    },
    /// The per-operation deadline passed before the operation reached a terminal state.
    #[error("timed out after {}s waiting for {what} of {resource}", waited.as_secs())]
    Timeout {
        /// Resource id the operation was about.
        resource: String,
        /// What was being waited for (for example `the PUT operation`).
        what: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// No credential could produce a token; the message lists what was tried and why.
    #[error("Azure credentials: {0}")]
    Credential(String),
    /// The request could not be sent or its response not read (after retries).
    #[error("{method} {resource}: {message}")]
    Transport {
        /// HTTP method of the failed request.
        method: &'static str,
        /// Resource id (or URL path) the request was about.
        resource: String,
        /// Cause, with its source chain.
        message: String,
    },
    /// ARM answered something the client cannot interpret (bad JSON, missing poll URL).
    #[error("{resource}: unexpected response: {message}")]
    InvalidResponse {
        /// Resource id the response was about.
        resource: String,
        /// What was wrong with it.
        message: String,
    },
    /// The client options are unusable (bad endpoint, bad CA, bad credential choice).
    #[error("ARM client configuration: {0}")]
    Config(String),
}

/// An ARM error response: what was asked, what ARM said.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{method} {resource}: HTTP {status}{}: {message}{}",
    code_suffix(code),
    details_suffix(details)
)]
pub struct HttpError {
    /// HTTP method of the failed request.
    pub method: &'static str,
    /// Resource id (or collection path) the request was about.
    pub resource: String,
    /// HTTP status code.
    pub status: u16,
    /// ARM error code from the body, or the `x-ms-error-code` header.
    pub code: Option<String>,
    /// ARM error message, or the status reason when the body had none.
    pub message: String,
    /// Nested ARM error details.
    pub details: Vec<ArmErrorDetail>,
    /// `x-ms-request-id` of the failed response, for support cases.
    pub request_id: Option<String>,
    /// The `api-version` the request carried (ARM refuses some per region).
    pub api_version: Option<String>,
    /// The region the client works in (`cloud.location`), when it was told, for hints.
    pub region: Option<String>,
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

fn details_suffix(details: &[ArmErrorDetail]) -> String {
    if details.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = details
        .iter()
        .take(3)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    format!(" ({})", parts.join("; "))
}

impl ArmError {
    /// The ARM error code, when the error carries one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Http(e) => e.code.as_deref(),
            ArmError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, for [`ArmError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Http(e) => Some(e.status),
            _ => None,
        }
    }

    /// True when ARM said the resource (or its group or parent) does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            ArmError::Http(e) => {
                e.status == 404
                    || matches!(
                        e.code.as_deref(),
                        Some(
                            "ResourceNotFound"
                                | "ResourceGroupNotFound"
                                | "NotFound"
                                | "ParentResourceNotFound"
                        )
                    )
            }
            _ => false,
        }
    }
}

/// A 409 from a PUT of a resource group with `code` and `details`, for tests of errors and
/// their hints.
#[cfg(test)]
pub(crate) fn sample_http_error(code: &str, details: Vec<ArmErrorDetail>) -> ArmError {
    ArmError::Http(Box::new(HttpError {
        method: "PUT",
        resource: "/subscriptions/s/resourceGroups/rg".into(),
        status: 409,
        code: Some(code.into()),
        message: "msg".into(),
        details,
        request_id: None,
        api_version: None,
        region: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrapped_error_with_details() {
        let body = br#"{"error":{"code":"InvalidTemplateDeployment","message":"bad","target":"x",
            "details":[{"code":"SkuNotAvailable","message":"no size","details":null}],
            "additionalInfo":[{"type":"PolicyViolation","info":{}}]}}"#;
        let e = ArmErrorDetail::parse(body).unwrap();
        assert_eq!(e.code, "InvalidTemplateDeployment");
        assert_eq!(e.target.as_deref(), Some("x"));
        assert_eq!(e.details[0].code, "SkuNotAvailable");
        assert!(e.details[0].details.is_empty());
        assert_eq!(e.additional_info.len(), 1);
    }

    #[test]
    fn parses_bare_error_and_rejects_non_errors() {
        let e = ArmErrorDetail::parse(br#"{"code":"NotFound","message":"gone"}"#).unwrap();
        assert_eq!(e.code, "NotFound");
        assert!(ArmErrorDetail::parse(br#"{"id":"/x","name":"x"}"#).is_none());
        assert!(ArmErrorDetail::parse(b"<html>bad gateway</html>").is_none());
        assert!(ArmErrorDetail::parse(br#"{"error":null,"message":"m"}"#).is_some());
    }

    use super::sample_http_error as http;

    #[test]
    fn display_names_resource_code_and_details() {
        let d = ArmErrorDetail {
            code: "Inner".into(),
            message: "why".into(),
            ..Default::default()
        };
        let s = http("Conflict", vec![d]).to_string();
        assert_eq!(
            s,
            "PUT /subscriptions/s/resourceGroups/rg: HTTP 409 Conflict: msg (Inner: why)"
        );
    }

    #[test]
    fn not_found_by_status_or_code() {
        let mut e = http("ResourceGroupNotFound", vec![]);
        assert!(e.is_not_found());
        if let ArmError::Http(h) = &mut e {
            h.code = None;
            h.status = 404;
        }
        assert!(e.is_not_found());
        assert!(!http("Conflict", vec![]).is_not_found());
    }
}

//! Kubernetes `Status` errors, shaped as kube-apiserver writes them (reason, code, details).

use serde_json::{Map, Value, json};

mod field;

pub use field::{FieldError, FieldErrorKind};

/// One entry of `details.causes`, i.e. a field error of an `Invalid` answer.
#[derive(Debug, Clone)]
pub struct Cause {
    /// The cause type (`FieldValueRequired`, `FieldManagerConflict`, ...), `reason` in JSON.
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// Renders a string the way Go's `%q` does for the plain ASCII values we quote.
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// An API error answered as a `kind: Status` body with its HTTP code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<Map<String, Value>>>,
    pub retry_after: Option<u64>,
}

/// `group`/`resource` naming as used in messages: `deployments.apps`, `configmaps`.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(name: &str, group: &str, kind: &str) -> Map<String, Value> {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    d
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, d: Map<String, Value>) -> Self {
        self.details = Some(Box::new(d));
        self
    }

    /// 404 `<resource>[.<group>] "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!(
                "{} {} not found",
                qualified(resource, group),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, resource))
    }

    /// 404 for a path the server does not serve.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(Map::new())
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!(
                "{} {} already exists",
                qualified(resource, group),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, resource))
    }

    /// 409 Conflict with the optimistic-lock message (stale resourceVersion).
    pub fn conflict_modified(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict: `Operation cannot be fulfilled on <res> "<name>": <why>`.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: {why}",
                qualified(resource, group),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, resource))
    }

    /// 409 Conflict of server-side apply: only `causes` in the details.
    pub fn apply_conflict(message: String, causes: Vec<Cause>) -> Self {
        let mut d = Map::new();
        d.insert("causes".into(), causes_json(&causes));
        Self::new(409, "Conflict", message).with_details(d)
    }

    /// 422 Invalid: `<Kind>[.<group>] "<name>" is invalid: <errors>`.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let rendered: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        let joined = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let causes: Vec<Cause> = errors
            .iter()
            .map(|e| Cause {
                reason: e.cause_type().into(),
                message: e.body(),
                field: e.field.clone(),
            })
            .collect();
        let mut d = details(name, group, kind);
        d.insert("causes".into(), causes_json(&causes));
        Self::new(
            422,
            "Invalid",
            format!(
                "{} {} is invalid: {joined}",
                qualified(kind, group),
                go_quote(name)
            ),
        )
        .with_details(d)
    }

    /// 400 BadRequest with free text.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 Forbidden with a message and optional causes.
    pub fn forbidden(
        group: &str,
        resource: &str,
        name: &str,
        message: String,
        causes: Vec<Cause>,
    ) -> Self {
        let mut d = details(name, group, resource);
        if !causes.is_empty() {
            d.insert("causes".into(), causes_json(&causes));
        }
        Self::new(403, "Forbidden", message).with_details(d)
    }

    /// 403 for new content in a namespace being deleted.
    pub fn namespace_terminating(group: &str, resource: &str, name: &str, namespace: &str) -> Self {
        let msg = format!(
            "{} {} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            qualified(resource, group),
            go_quote(name)
        );
        Self::forbidden(
            group,
            resource,
            name,
            msg,
            vec![Cause {
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {namespace} is being terminated"),
                field: "metadata.namespace".into(),
            }],
        )
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(verb: &str, resource: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind {}",
                go_quote(resource)
            ),
        )
        .with_details(Map::new())
    }

    /// 415 UnsupportedMediaType for an unknown patch or body type.
    pub fn unsupported_media_type(got: &str, accepted: &[&str]) -> Self {
        let _ = got;
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
        .with_details(Map::new())
    }

    /// 410 Expired: a resource version older than the compaction window.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 410 Expired for a too old resource version, with the oldest still available.
    pub fn too_old(requested: i64, oldest: i64) -> Self {
        Self::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// 504 Timeout for a resource version newer than the store's.
    pub fn too_large_resource_version(requested: i64, current: i64) -> Self {
        let mut d = Map::new();
        d.insert(
            "causes".into(),
            causes_json(&[Cause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                field: String::new(),
            }]),
        );
        d.insert("retryAfterSeconds".into(), json!(1));
        let mut e = Self::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        )
        .with_details(d);
        e.retry_after = Some(1);
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        let mut d = Map::new();
        d.insert(
            "causes".into(),
            causes_json(&[Cause {
                reason: String::new(),
                message: message.to_string(),
                field: String::new(),
            }]),
        );
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(d)
    }

    /// 500 with no reason: what the real server answers for a plain (non-Status) error.
    pub fn internal_plain(message: impl Into<String>) -> Self {
        Self::new(500, "", message)
    }

    /// 504 Timeout: a request whose deadline passed before the store answered, worded as
    /// apiserver's `FinishRequest` does (`apierrors.NewTimeoutError`, no retry hint).
    pub fn request_timeout() -> Self {
        Self::new(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        )
        .with_details(Map::new())
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// The `Status` object as JSON.
    pub fn status(&self) -> Value {
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        if !self.reason.is_empty() {
            s.insert("reason".into(), json!(self.reason));
        }
        if let Some(d) = &self.details {
            s.insert("details".into(), Value::Object((**d).clone()));
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }
}

fn causes_json(causes: &[Cause]) -> Value {
    Value::Array(
        causes
            .iter()
            .map(|c| {
                let mut m = Map::new();
                if !c.reason.is_empty() {
                    m.insert("reason".into(), json!(c.reason));
                }
                m.insert("message".into(), json!(c.message));
                if !c.field.is_empty() {
                    m.insert("field".into(), json!(c.field));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Compacted {
                requested,
                compacted,
            } => ApiError::too_old(requested, compacted),
            StoreError::FutureRevision { requested, current } => {
                ApiError::too_large_resource_version(requested, current)
            }
            // kube-apiserver hands etcd's errors to clients unconverted: 500, no reason.
            StoreError::Unavailable(m) => ApiError::internal_plain(m),
            StoreError::Timeout(_) => ApiError::request_timeout(),
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_the_real_server() {
        let s = ApiError::not_found("apps", "deployments", "web").status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(
            s["details"],
            json!({"name":"web","group":"apps","kind":"deployments"})
        );
        let core = ApiError::not_found("", "namespaces", "foo").status();
        assert_eq!(core["details"], json!({"name":"foo","kind":"namespaces"}));
        assert_eq!(core["code"], 404);
    }

    #[test]
    fn invalid_lists_several_errors_in_brackets() {
        let e = ApiError::invalid(
            "apps",
            "Deployment",
            "web",
            &[
                FieldError::required("spec.selector", ""),
                FieldError::invalid("spec.replicas", "-1", "must be greater than or equal to 0"),
            ],
        );
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
        );
        assert_eq!(
            e.status()["details"]["causes"][0]["reason"],
            "FieldValueRequired"
        );
    }
}

//! The HTTP front: request ids, auth, api-version checks, throttling and injected faults,
//! then ARM handling or the `/_local/` control API.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::api_versions;
use super::faults::{Budget, Injected};
use super::handlers::{self, Req};
use super::listing::Query;
use super::path::{self, ArmPath, PathError};
use crate::Cloud;
use crate::error::ArmError;

/// The axum app serving everything.
pub fn router(cloud: Arc<Cloud>) -> Router {
    Router::new().fallback(entry).with_state(cloud)
}

async fn entry(
    State(cloud): State<Arc<Cloud>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let correlation = headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // Every route, ARM and control alike: the token is what keeps other local users from
    // creating VMs with their own keys on hosts that share this kernel.
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    let auth = crate::auth::bearer_matches(given, &cloud.token);
    let mut resp = if uri.path().starts_with("/_local/") {
        match auth {
            Ok(()) => crate::control::handle(&cloud, &method, uri.path(), &body),
            Err(refusal) => unauthorized(&cloud, refusal),
        }
    } else {
        arm(&cloud, &method, &uri, &body, auth).await
    };
    // New, stopped or started VMs get their hosts at once, not at the next tick.
    cloud.sync_hosts(false);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-ms-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        h.insert("x-ms-correlation-request-id", v);
    }
    if let Some(v) = headers.get("x-ms-client-request-id") {
        h.insert("x-ms-client-request-id", v.clone());
    }
    resp
}

fn query_of(uri: &Uri) -> Query {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// ARM's 401 for a request without this cloud's token, with its `WWW-Authenticate`.
fn unauthorized(cloud: &Cloud, refusal: crate::auth::Refusal) -> Response {
    cloud.stats().unauthorized += 1;
    let e = match refusal {
        crate::auth::Refusal::Missing => ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ),
        crate::auth::Refusal::Invalid => ArmError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ),
    };
    let mut r = e.into_response();
    r.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static(
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", \
             error=\"invalid_token\"",
        ),
    );
    r
}

/// Checks `api-version` against the versions ARM serves for what the path addresses, and
/// refuses others as ARM does: `InvalidApiVersionParameter` for ARM's own
/// `Microsoft.Resources` URLs, `NoRegisteredProviderFound` for a provider's resource type.
/// Operation-status URLs take any version of their provider namespace.
fn check_api_version(cloud: &Cloud, path: &ArmPath, q: &Query) -> Result<(), ArmError> {
    let Some(given) = super::listing::param(q, "api-version") else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let (allowed, provider) = match path {
        ArmPath::Operation { namespace, .. } => (api_versions::of_namespace(namespace), None),
        ArmPath::ResourceGroups { .. }
        | ArmPath::ResourceGroup { .. }
        | ArmPath::GroupResources { .. } => (api_versions::RESOURCES.to_vec(), None),
        ArmPath::Collection {
            sub, group, spec, ..
        }
        | ArmPath::Resource {
            sub, group, spec, ..
        }
        | ArmPath::Action {
            sub, group, spec, ..
        } => (
            api_versions::versions(spec.rtype)
                .unwrap_or_default()
                .to_vec(),
            Some((spec.rtype, sub, group)),
        ),
    };
    if allowed.contains(&given) {
        return Ok(());
    }
    Err(match provider {
        None => ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{given}' is invalid. The supported versions are '{}'.",
                allowed.join(",")
            ),
        ),
        Some((rtype, sub, group)) => {
            let type_name = rtype.split_once('/').map_or(rtype, |(_, t)| t);
            let location = {
                let store = cloud.store.lock().unwrap_or_else(|p| p.into_inner());
                store
                    .visible(&super::ids::resource_group(sub, group))
                    .and_then(|g| g.location().map(str::to_string))
                    .unwrap_or_else(|| "*".into())
            };
            ArmError::bad_request(
                "NoRegisteredProviderFound",
                format!(
                    "No registered resource provider found for location '{location}' and API \
                     version '{given}' for type '{type_name}'. The supported api-versions are \
                     '{}'.",
                    allowed.join(", ")
                ),
            )
        }
    })
}

/// Every ARM answer reports the remaining budget, also those refused before taking from it.
async fn arm(
    cloud: &Cloud,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    auth: Result<(), crate::auth::Refusal>,
) -> Response {
    let mut resp = match auth {
        Ok(()) => arm_checked(cloud, method, uri, body).await,
        Err(refusal) => unauthorized(cloud, refusal),
    };
    let budget = Budget::of_method(method);
    if !resp.headers().contains_key(budget.header()) {
        let sub = uri
            .path()
            .trim_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or_default();
        let faults = cloud.faults.lock().unwrap_or_else(|p| p.into_inner());
        let left = faults.peek(sub, budget, super::ops::now_ms());
        resp.headers_mut()
            .insert(budget.header(), HeaderValue::from(left));
    }
    resp
}

async fn arm_checked(cloud: &Cloud, method: &Method, uri: &Uri, body: &[u8]) -> Response {
    let parsed = path::parse(uri.path());
    let rtype = parsed.as_ref().map(ArmPath::rtype).unwrap_or("unknown");
    cloud.stats().record(method.as_str(), rtype);
    let parsed = match parsed {
        Ok(p) => p,
        Err(PathError::NotFound) => {
            return ArmError::not_found(
                "NotFound",
                format!(
                    "The path '{}' is not served by the local cloud.",
                    uri.path()
                ),
            )
            .into_response();
        }
        Err(PathError::UnknownType { namespace, rtype }) => {
            return ArmError::bad_request(
                "InvalidResourceType",
                format!(
                    "The resource type '{rtype}' could not be found in the namespace '{namespace}'."
                ),
            )
            .into_response();
        }
    };
    let query = query_of(uri);
    let version = super::listing::param(&query, "api-version");
    // Recorded before the check, so a test sees what a client sent even when refused.
    cloud
        .stats()
        .record_api_version(method.as_str(), parsed.rtype(), version.unwrap_or("-"));
    if let Err(e) = check_api_version(cloud, &parsed, &query) {
        return e.into_response();
    }
    let sub = uri
        .path()
        .trim_matches('/')
        .split('/')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let budget = Budget::of_method(method);
    let now = super::ops::now_ms();
    let (remaining, injected) = {
        let mut f = cloud.faults.lock().unwrap_or_else(|p| p.into_inner());
        (f.take(&sub, budget, now), f.draw())
    };
    let mut resp = match (remaining, injected) {
        (Err(wait), _) => throttled(cloud, wait),
        (Ok(_), Some(Injected::Throttle)) => {
            let secs = cloud
                .faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .config
                .retry_after_secs;
            throttled(cloud, secs)
        }
        (Ok(_), Some(Injected::ServerError)) => {
            cloud.stats().server_errors += 1;
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Encountered internal server error (injected by the local cloud).",
            )
            .into_response()
        }
        (Ok(_), None) => {
            let delay = cloud.latency.request_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let req = Req {
                method,
                path: &parsed,
                raw_path: uri.path(),
                query: &query,
                body,
            };
            handlers::handle(cloud, &req)
        }
    };
    let left = remaining.unwrap_or(0);
    resp.headers_mut()
        .insert(budget.header(), HeaderValue::from(left));
    resp
}

fn throttled(cloud: &Cloud, secs: u64) -> Response {
    cloud.stats().throttled += 1;
    let mut e = ArmError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        format!(
            "The request is being throttled as the limit has been reached for operation type. Please try again after {secs} seconds."
        ),
    );
    e.retry_after = Some(secs);
    e.into_response()
}

//! ARM request handling after auth and faults: GET/PUT/DELETE on resources and groups,
//! VM actions and operation polling. Everything runs under the store lock.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::listing::{self, Query};
use super::ops::{self, now_ms};
use super::path::ArmPath;
use super::store::{Res, Store};
use super::types::{self, TypeSpec};
use crate::Cloud;
use crate::error::ArmError;

/// One parsed ARM request.
pub struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a ArmPath,
    pub raw_path: &'a str,
    pub query: &'a Query,
    pub body: &'a [u8],
}

/// Settles due operations, handles the request, persists if anything changed.
pub fn handle(cloud: &Cloud, req: &Req) -> Response {
    let now = now_ms();
    let mut store = cloud.store.lock().unwrap_or_else(|p| p.into_inner());
    let mut dirty = store.settle(now);
    let result = route(cloud, &mut store, req, now, &mut dirty);
    if dirty && let Err(e) = store.save(&cloud.data_dir) {
        tracing::error!(error = %e, "local cloud could not persist its store");
        return ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The store could not be saved.",
        )
        .into_response();
    }
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(super) fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(super) fn rg_id(sub: &str, group: &str) -> String {
    super::ids::resource_group(sub, group)
}

/// The resource group, or ARM's 404.
pub(super) fn group<'a>(store: &'a Store, sub: &str, name: &str) -> Result<&'a Res, ArmError> {
    store.visible(&rg_id(sub, name)).ok_or_else(|| {
        ArmError::not_found(
            "ResourceGroupNotFound",
            format!("Resource group '{name}' could not be found."),
        )
    })
}

pub(super) fn writable_group<'a>(
    store: &'a Store,
    sub: &str,
    name: &str,
) -> Result<&'a Res, ArmError> {
    let rg = group(store, sub, name)?;
    if rg.provisioning_state() == Some("Deleting") {
        return Err(ArmError::conflict(
            "ResourceGroupBeingDeleted",
            format!(
                "The resource group '{name}' is in deprovisioning state and cannot perform this operation."
            ),
        ));
    }
    Ok(rg)
}

fn route(
    cloud: &Cloud,
    store: &mut Store,
    req: &Req,
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let m = req.method;
    match req.path {
        ArmPath::ResourceGroups { sub } if m == Method::GET => Ok(json(
            StatusCode::OK,
            listing::resource_groups(cloud, store, sub, req.raw_path, req.query)?,
        )),
        ArmPath::ResourceGroup { sub, group: name } => match *m {
            Method::GET => Ok(json(StatusCode::OK, group(store, sub, name)?.body.clone())),
            Method::HEAD => Ok(if store.visible(&rg_id(sub, name)).is_some() {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::NOT_FOUND
            }
            .into_response()),
            Method::PUT => super::put::put_group(store, sub, name, req.body, dirty),
            Method::DELETE => {
                super::delete::delete(cloud, store, sub, name, &rg_id(sub, name), now, dirty)
            }
            _ => Err(not_allowed(m)),
        },
        ArmPath::GroupResources { sub, group: name } if m == Method::GET => {
            let rg = group(store, sub, name)?;
            Ok(json(
                StatusCode::OK,
                listing::group_resources(cloud, store, rg, req.raw_path, req.query)?,
            ))
        }
        ArmPath::Operation { status, id, .. } if m == Method::GET => {
            poll(cloud, store, *status, id, req, now)
        }
        ArmPath::Collection {
            sub,
            group: name,
            spec,
            parent,
        } if m == Method::GET => {
            let rg = group(store, sub, name)?;
            let parent = match parent {
                Some(pid) => Some(store.visible(pid).ok_or_else(|| parent_missing(pid))?),
                None => None,
            };
            Ok(json(
                StatusCode::OK,
                listing::collection(cloud, store, rg, spec, parent, req.raw_path, req.query)?,
            ))
        }
        ArmPath::Resource {
            sub,
            group: name,
            spec,
            id,
            name: rname,
            parent,
        } => match *m {
            Method::GET => get(store, sub, name, spec, id, rname, req.query),
            Method::PUT => {
                let target = super::put::Target {
                    sub,
                    group: name,
                    spec,
                    id,
                    name: rname,
                    parent: parent.as_deref(),
                };
                super::put::put(cloud, store, &target, req.body, now, dirty)
            }
            Method::DELETE => super::delete::delete(cloud, store, sub, name, id, now, dirty),
            _ => Err(not_allowed(m)),
        },
        ArmPath::Action {
            sub,
            group: name,
            spec,
            id,
            action,
        } => super::delete::vm_action(cloud, store, sub, name, spec, id, action, m, now, dirty),
        _ => Err(not_allowed(m)),
    }
}

pub(super) fn not_allowed(m: &Method) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The method {m} is not supported on this path by the local cloud."),
    )
}

pub(super) fn parent_missing(pid: &str) -> ArmError {
    ArmError::not_found(
        "ParentResourceNotFound",
        format!(
            "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
            super::ids::name_of(pid)
        ),
    )
}

pub(super) fn parse_body(body: &[u8]) -> Result<Value, ArmError> {
    serde_json::from_slice(body).map_err(|e| {
        ArmError::bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}."),
        )
    })
}

fn get(
    store: &Store,
    sub: &str,
    gname: &str,
    spec: &TypeSpec,
    id: &str,
    name: &str,
    q: &Query,
) -> Result<Response, ArmError> {
    group(store, sub, gname)?;
    if let Some(res) = store.visible(id) {
        let mut body = res.body.clone();
        let expand =
            listing::param(q, "$expand").is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
        if expand && res.rtype == "Microsoft.Compute/virtualMachines" {
            body["properties"]["instanceView"] = types::instance_view(res);
        }
        return Ok(json(StatusCode::OK, body));
    }
    if let Some(child) = store.inline_child(id) {
        return Ok(json(StatusCode::OK, child.clone()));
    }
    Err(ArmError::resource_not_found(spec.rtype, name, gname))
}

fn poll(
    cloud: &Cloud,
    store: &Store,
    status: bool,
    id: &str,
    req: &Req,
    now: u64,
) -> Result<Response, ArmError> {
    let op = store.ops.get(id).ok_or_else(|| {
        ArmError::not_found(
            "OperationNotFound",
            format!("The operation '{id}' was not found."),
        )
    })?;
    if status {
        return Ok(json(StatusCode::OK, ops::async_status_body(op, now)));
    }
    if ops::status(op, now) == "InProgress" {
        let mut resp = StatusCode::ACCEPTED.into_response();
        let h: &mut HeaderMap = resp.headers_mut();
        h.insert("retry-after", cloud.latency.retry_after().into());
        // ARM repeats the Location to poll next: the same URL.
        let mut again = cloud.endpoint.clone();
        again.set_path(req.raw_path);
        again.query_pairs_mut().extend_pairs(req.query.iter());
        if let Ok(v) = HeaderValue::from_str(again.as_str()) {
            h.insert("location", v);
        }
        return Ok(resp);
    }
    let (code, body) = ops::location_result(store, op)?;
    Ok(match body {
        Some(b) => json(code, b),
        None => code.into_response(),
    })
}

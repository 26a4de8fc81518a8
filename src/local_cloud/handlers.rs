//! ARM request handling after auth and faults: GET/PUT/DELETE on resources and groups,
//! VM actions and operation polling. Everything runs under the store lock.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Cloud;
use super::config::OpKind;
use super::error::ArmError;
use super::listing::{self, Query};
use super::ops::{self, now_ms};
use super::path::ArmPath;
use super::store::{Phase, Res, Store, set_state};
use super::types::{self, PutCtx, PutStyle, RESOURCE_GROUP, TypeSpec};

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

fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn rg_id(sub: &str, group: &str) -> String {
    crate::azure::ids::resource_group(sub, group)
}

/// The resource group, or ARM's 404.
fn group<'a>(store: &'a Store, sub: &str, name: &str) -> Result<&'a Res, ArmError> {
    store.visible(&rg_id(sub, name)).ok_or_else(|| {
        ArmError::not_found(
            "ResourceGroupNotFound",
            format!("Resource group '{name}' could not be found."),
        )
    })
}

fn writable_group<'a>(store: &'a Store, sub: &str, name: &str) -> Result<&'a Res, ArmError> {
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
            Method::PUT => put_group(store, sub, name, req.body, dirty),
            Method::DELETE => delete(cloud, store, sub, name, &rg_id(sub, name), now, dirty),
            _ => Err(not_allowed(m)),
        },
        ArmPath::GroupResources { sub, group: name } if m == Method::GET => {
            let rg = group(store, sub, name)?;
            Ok(json(
                StatusCode::OK,
                listing::group_resources(cloud, store, rg, req.raw_path, req.query)?,
            ))
        }
        ArmPath::Operation { status, id } if m == Method::GET => {
            poll(cloud, store, *status, id, now)
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
            Method::PUT => put(
                cloud,
                store,
                sub,
                name,
                spec,
                id,
                rname,
                parent.as_deref(),
                req.body,
                now,
                dirty,
            ),
            Method::DELETE => delete(cloud, store, sub, name, id, now, dirty),
            _ => Err(not_allowed(m)),
        },
        ArmPath::Action {
            sub,
            group: name,
            spec,
            id,
            action,
        } => vm_action(cloud, store, sub, name, spec, id, action, m, now, dirty),
        _ => Err(not_allowed(m)),
    }
}

fn not_allowed(m: &Method) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The method {m} is not supported on this path by the local cloud."),
    )
}

fn parent_missing(pid: &str) -> ArmError {
    ArmError::not_found(
        "ParentResourceNotFound",
        format!(
            "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
            crate::azure::ids::name_of(pid)
        ),
    )
}

fn parse_body(body: &[u8]) -> Result<Value, ArmError> {
    serde_json::from_slice(body).map_err(|e| {
        ArmError::bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}."),
        )
    })
}

fn put_group(
    store: &mut Store,
    sub: &str,
    name: &str,
    body: &[u8],
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let name_ok = !name.is_empty()
        && name.len() <= 90
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
        && !name.ends_with('.');
    if !name_ok {
        return Err(ArmError::bad_request(
            "InvalidResourceGroupName",
            format!("Resource group name '{name}' is invalid."),
        ));
    }
    let input = parse_body(body)?;
    let id = rg_id(sub, name);
    let existing = store.get(&id).cloned();
    if existing
        .as_ref()
        .is_some_and(|e| e.provisioning_state() == Some("Deleting"))
    {
        return Err(ArmError::conflict(
            "ResourceGroupBeingDeleted",
            format!(
                "The resource group '{name}' is in deprovisioning state and cannot perform this operation."
            ),
        ));
    }
    let id = existing.as_ref().map(|e| e.id.clone()).unwrap_or(id);
    let gname = crate::azure::ids::name_of(&id).to_string();
    let body = types::resource_group(&id, &gname, &input, existing.as_ref())?;
    let res = Res {
        id,
        rtype: RESOURCE_GROUP.into(),
        sub: sub.to_string(),
        group: name.to_ascii_lowercase(),
        body: body.clone(),
        hidden: false,
        pending_op: None,
        power_state: None,
        owner: None,
        seq: existing.as_ref().map_or(0, |e| e.seq),
    };
    store.insert(res);
    *dirty = true;
    Ok(json(
        if existing.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        body,
    ))
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

#[allow(clippy::too_many_arguments)] // one call site; the parts come from the parsed path
fn put(
    cloud: &Cloud,
    store: &mut Store,
    sub: &str,
    gname: &str,
    spec: &'static TypeSpec,
    id: &str,
    name: &str,
    parent: Option<&str>,
    body: &[u8],
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let rg = writable_group(store, sub, gname)?.clone();
    if spec.put == PutStyle::NotAllowed {
        return Err(ArmError::bad_request(
            "OperationNotAllowed",
            format!(
                "The local cloud creates {} only through scale sets.",
                spec.rtype
            ),
        ));
    }
    let input = parse_body(body)?;
    let parent_res = match parent {
        Some(pid) => Some(
            store
                .visible(pid)
                .cloned()
                .ok_or_else(|| parent_missing(pid))?,
        ),
        None => None,
    };
    if parent_res
        .as_ref()
        .is_some_and(|p| p.provisioning_state() == Some("Deleting"))
    {
        return Err(ArmError::conflict(
            "AnotherOperationInProgress",
            "The parent resource is being deleted.",
        ));
    }
    let existing = store.get(id).cloned();
    if let Some(e) = &existing {
        let busy = e.hidden
            || e.provisioning_state() == Some("Deleting")
            || (spec.put == PutStyle::Accepted && e.pending_op.is_some());
        if busy {
            return Err(ArmError::conflict(
                "AnotherOperationInProgress",
                format!("Another operation is in progress on {}.", e.name()),
            ));
        }
    }
    // Resources keep the id casing they were created with.
    let id = existing
        .as_ref()
        .map(|e| e.id.clone())
        .unwrap_or_else(|| id.to_string());
    let ctx = PutCtx {
        store,
        spec,
        id: &id,
        name,
        existing: existing.as_ref(),
        parent: parent_res.as_ref(),
    };
    let inline = parent_res.as_ref().filter(|p| {
        super::store::inline_key(&p.rtype, spec.rtype.rsplit('/').next().unwrap_or("")).is_some()
    });
    let kind = if inline.is_some() {
        let key = super::store::inline_key(
            &parent_res.as_ref().unwrap().rtype,
            spec.rtype.rsplit('/').next().unwrap_or(""),
        )
        .unwrap_or("");
        let exists = parent_res.as_ref().unwrap().body["properties"][key]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
        if exists {
            OpKind::Update
        } else {
            OpKind::Create
        }
    } else if existing.is_some() {
        OpKind::Update
    } else {
        OpKind::Create
    };
    let prepared = match inline {
        Some(p) => types::prepare_inline(&ctx, p, &input)?.0,
        None => types::prepare(&ctx, &input)?,
    };
    let failure = cloud
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .failure_for(spec.rtype, name, kind);
    let mut op = ops::new_op(
        kind,
        &id,
        spec.rtype,
        now,
        cloud.latency.duration(&spec.lower(), false),
        failure,
    );
    let transient = spec.transient(kind == OpKind::Create);
    let location = prepared["location"]
        .as_str()
        .or(parent_res.as_ref().and_then(Res::location))
        .or(rg.location())
        .unwrap_or("global")
        .to_string();

    let response_body = if let Some(p) = inline {
        let mut parent = p.clone();
        parent.body = prepared;
        store.insert(parent);
        let child = store.inline_child_mut(&id).map(|c| {
            set_state(c, Phase::Updating);
            c.clone()
        });
        child.unwrap_or(Value::Null)
    } else {
        let mut body = prepared;
        set_state(
            &mut body,
            if transient == "Updating" {
                Phase::Updating
            } else {
                Phase::Creating
            },
        );
        let hidden = spec.put == PutStyle::Accepted && existing.is_none();
        let res = Res {
            id: id.clone(),
            rtype: spec.rtype.to_string(),
            sub: sub.to_string(),
            group: gname.to_ascii_lowercase(),
            body: body.clone(),
            hidden,
            pending_op: Some(op.id.clone()),
            power_state: existing.as_ref().and_then(|e| e.power_state.clone()),
            owner: existing.as_ref().and_then(|e| e.owner.clone()),
            seq: existing.as_ref().map_or(0, |e| e.seq),
        };
        store.insert(res);
        if spec.rtype == "Microsoft.Compute/virtualMachineScaleSets" {
            let (also, removes) = types::reconcile_scale_set(store, &id, &op.id)?;
            op.also = also;
            op.removes = removes;
        }
        body
    };
    let urls = ops::poll_urls(&cloud.endpoint, sub, &op, &location);
    store.ops.insert(op.id.clone(), op);
    *dirty = true;
    let retry = cloud.latency.retry_after();
    let mut resp = match spec.put {
        PutStyle::Accepted => StatusCode::ACCEPTED.into_response(),
        _ => json(
            if kind == OpKind::Create {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            response_body,
        ),
    };
    let (async_op, loc) = match spec.put {
        PutStyle::Created { async_op, location } => (async_op, location),
        _ => (true, true),
    };
    ops::add_poll_headers(resp.headers_mut(), &urls, async_op, loc, retry);
    Ok(resp)
}

fn in_use_code(rtype: &str) -> &'static str {
    match rtype {
        "Microsoft.Network/virtualNetworks" | "Microsoft.Network/virtualNetworks/subnets" => {
            "InUseSubnetCannotBeDeleted"
        }
        "Microsoft.Network/networkSecurityGroups" => "InUseNetworkSecurityGroupCannotBeDeleted",
        "Microsoft.Network/publicIPAddresses" => "PublicIPAddressCannotBeDeleted",
        "Microsoft.Network/networkInterfaces" => "NicInUse",
        "Microsoft.Network/loadBalancers" => "LoadBalancerInUseByVirtualMachineScaleSet",
        "Microsoft.Network/natGateways" => "InUseNatGatewayCannotBeDeleted",
        _ => "ResourceInUse",
    }
}

fn delete(
    cloud: &Cloud,
    store: &mut Store,
    sub: &str,
    gname: &str,
    id: &str,
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let is_group = id.eq_ignore_ascii_case(&rg_id(sub, gname));
    group(store, sub, gname)?;
    let rtype = match store.get(id) {
        Some(r) => r.rtype.clone(),
        None => {
            // Inline child or nothing at all: a delete of something absent is a 204.
            let exists = store.inline_child_mut(id).is_some();
            if !exists {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            crate::azure::ids::type_of(id)
                .and_then(|t| types::spec_for(&t))
                .map(|s| s.rtype.to_string())
                .unwrap_or_default()
        }
    };
    let spec = types::spec_for(&rtype).expect("stored types are known");
    let location = store.get(id).and_then(Res::location).map(str::to_string);
    let location = location
        .or_else(|| {
            store
                .get(&rg_id(sub, gname))
                .and_then(Res::location)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "global".into());
    if let Some(r) = store.get(id) {
        if r.hidden {
            return Err(ArmError::conflict(
                "AnotherOperationInProgress",
                format!("Another operation is in progress on {}.", r.name()),
            ));
        }
        // A delete already running answers like the first one did.
        if let Some(op) = r
            .pending_op
            .as_ref()
            .and_then(|o| store.ops.get(o))
            .filter(|o| o.kind == OpKind::Delete)
        {
            return Ok(delete_accepted(cloud, sub, op, &location, spec));
        }
    }
    if !is_group {
        let cascade = store.cascade_set(id);
        let users = store.referrers(id, &cascade);
        if let Some(u) = users.first() {
            return Err(ArmError::bad_request(
                in_use_code(spec.rtype),
                format!(
                    "{} is in use by {u} and cannot be deleted.",
                    crate::azure::ids::name_of(id)
                ),
            ));
        }
    }
    let failure = cloud
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .failure_for(spec.rtype, crate::azure::ids::name_of(id), OpKind::Delete);
    let op = ops::new_op(
        OpKind::Delete,
        id,
        spec.rtype,
        now,
        cloud.latency.duration(&spec.lower(), true),
        failure,
    );
    if let Some(r) = store.get_mut(id) {
        set_state(&mut r.body, Phase::Deleting);
        types::on_settled(r, Phase::Deleting);
        r.pending_op = Some(op.id.clone());
        // Deleting one VM of a Flexible scale set lowers the set's capacity.
        if let Some(owner) = r
            .owner
            .clone()
            .filter(|_| r.rtype == "Microsoft.Compute/virtualMachines")
            && let Some(vmss) = store.get_mut(&owner)
            && let Some(c) = vmss.body.pointer("/sku/capacity").and_then(Value::as_u64)
        {
            vmss.body["sku"]["capacity"] = c.saturating_sub(1).into();
        }
    } else if let Some(c) = store.inline_child_mut(id) {
        set_state(c, Phase::Deleting);
    }
    let resp = delete_accepted(cloud, sub, &op, &location, spec);
    store.ops.insert(op.id.clone(), op);
    *dirty = true;
    Ok(resp)
}

fn delete_accepted(
    cloud: &Cloud,
    sub: &str,
    op: &super::store::Operation,
    location: &str,
    spec: &TypeSpec,
) -> Response {
    let mut resp = StatusCode::ACCEPTED.into_response();
    let urls = ops::poll_urls(&cloud.endpoint, sub, op, location);
    let async_op = matches!(
        spec.namespace(),
        "Microsoft.Network" | "Microsoft.DBforPostgreSQL"
    );
    ops::add_poll_headers(
        resp.headers_mut(),
        &urls,
        async_op,
        true,
        cloud.latency.retry_after(),
    );
    resp
}

fn poll(
    cloud: &Cloud,
    store: &Store,
    status: bool,
    id: &str,
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
        return Ok(resp);
    }
    let (code, body) = ops::location_result(store, op)?;
    Ok(match body {
        Some(b) => json(code, b),
        None => code.into_response(),
    })
}

#[allow(clippy::too_many_arguments)] // one call site; the parts come from the parsed path
fn vm_action(
    cloud: &Cloud,
    store: &mut Store,
    sub: &str,
    gname: &str,
    spec: &TypeSpec,
    id: &str,
    action: &str,
    m: &Method,
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    group(store, sub, gname)?;
    let unknown = || {
        ArmError::not_found(
            "InvalidResourceType",
            format!(
                "The resource type '{}/{action}' could not be found.",
                spec.rtype
            ),
        )
    };
    if spec.rtype != "Microsoft.Compute/virtualMachines" {
        return Err(unknown());
    }
    let vm = store.visible(id).ok_or_else(|| {
        ArmError::resource_not_found(spec.rtype, crate::azure::ids::name_of(id), gname)
    })?;
    if action.eq_ignore_ascii_case("instanceView") && *m == Method::GET {
        return Ok(json(StatusCode::OK, types::instance_view(vm)));
    }
    if *m != Method::POST {
        return Err(unknown());
    }
    let (during, after) = match action.to_ascii_lowercase().as_str() {
        "start" => ("starting", "running"),
        "restart" => ("starting", "running"),
        "poweroff" => ("stopping", "stopped"),
        "deallocate" => ("deallocating", "deallocated"),
        _ => return Err(unknown()),
    };
    let location = vm.location().unwrap_or("global").to_string();
    let mut op = ops::new_op(
        OpKind::Action,
        id,
        spec.rtype,
        now,
        cloud
            .latency
            .duration("microsoft.compute/virtualmachines/power", false),
        None,
    );
    op.action = Some(after.to_string());
    if let Some(r) = store.get_mut(id) {
        r.power_state = Some(during.to_string());
        r.pending_op = Some(op.id.clone());
    }
    let urls = ops::poll_urls(&cloud.endpoint, sub, &op, &location);
    store.ops.insert(op.id.clone(), op);
    *dirty = true;
    let mut resp = StatusCode::ACCEPTED.into_response();
    ops::add_poll_headers(
        resp.headers_mut(),
        &urls,
        true,
        true,
        cloud.latency.retry_after(),
    );
    Ok(resp)
}

/// Sets a VM's power state at once (control API). Returns the VM id.
pub fn set_power(store: &mut Store, name: &str, state: &str) -> Result<String, ArmError> {
    let found: Vec<&Res> = store
        .of_type("Microsoft.Compute/virtualMachines")
        .filter(|r| r.name().eq_ignore_ascii_case(name))
        .collect();
    match found.as_slice() {
        [one] => {
            let key = one.key();
            let id = one.id.clone();
            if let Some(r) = store.resources.get_mut(&key) {
                r.power_state = Some(state.to_string());
            }
            Ok(id)
        }
        [] => Err(ArmError::not_found(
            "ResourceNotFound",
            format!("No VM named '{name}'."),
        )),
        _ => Err(ArmError::conflict(
            "Ambiguous",
            format!("Several VMs are named '{name}'."),
        )),
    }
}
